"""Upload validation: the examples pass; every feature outside the deterministic subset is refused."""

from __future__ import annotations

import pytest

from abci_app.modules.wasm import validation
from abci_app.modules.wasm.validation import InvalidModule, validate
from benchmarks.wasm_shapes import SHAPES
from tests.unit.wasm.wasm_sandbox import MAX_BYTES, example, imp, module, wat


def with_body(body: bytes, locals_: bytes = b"\x00") -> bytes:
    """A module with one memory whose ``execute`` has the raw instruction bytes ``body`` (ending in end)."""
    base = module("(i32.const 0)")
    code = b"\x0a\x06\x01\x04\x00\x41\x00\x0b"  # the code section of ``base``: its last section
    assert base.endswith(code)
    func = locals_ + body
    section = b"\x01" + leb(len(func)) + func
    return base[: -len(code)] + b"\x0a" + leb(len(section)) + section


def leb(n: int) -> bytes:
    """``n`` as unsigned LEB128."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def refused(wasm: bytes) -> str:
    with pytest.raises(InvalidModule) as info:
        validate(wasm, MAX_BYTES)
    return str(info.value)


@pytest.mark.parametrize("name", ["counter", "limit_order", "recurring_buy", "infinite_loop"])
def test_every_example_module_is_accepted(name: str) -> None:
    summary = validate(example(name), MAX_BYTES)
    assert summary.functions >= 1 and summary.stack_cost <= validation.MAX_STACK_COST


def test_the_summary_lists_the_host_imports_in_order() -> None:
    summary = validate(example("counter"), MAX_BYTES)
    assert summary.imports == ("kv_get", "kv_set", "set_return")
    assert summary.memory_pages == 1


def test_a_module_over_the_size_cap_is_refused() -> None:
    wasm = example("counter")
    with pytest.raises(InvalidModule, match="at most 100"):
        validate(wasm, 100)


def test_garbage_and_other_binaries_are_refused() -> None:
    assert "magic" in refused(b"not wasm at all")
    assert "magic" in refused(b"\x00asm\x0d\x00\x01\x00")  # a component, not a core module


def test_a_truncated_module_is_refused_naming_the_position() -> None:
    wasm = example("counter")
    for cut in (9, 20, len(wasm) - 1):
        assert refused(wasm[:cut])


@pytest.mark.parametrize(
    "body",
    [
        "(drop (f32.const 1.5)) (i32.const 0)",
        "(drop (f64.const 1.5)) (i32.const 0)",
        "(i32.trunc_f32_s (f32.const 2))",
        "(i32.reinterpret_f32 (f32.const 2))",
        "(drop (f64.add (f64.const 1) (f64.const 2))) (i32.const 0)",
        "(i32.trunc_sat_f64_s (f64.const 2))",
        "(drop (f32.load (i32.const 0))) (i32.const 0)",
    ],
)
def test_floating_point_instructions_are_refused(body: str) -> None:
    assert "floating-point" in refused(module(body)) or "f32" in refused(module(body))


def test_float_value_types_are_refused_in_signatures_locals_and_globals() -> None:
    assert "f64" in refused(
        wat('(module (func (param f64)) (func (export "execute") (result i32) (i32.const 0)))')
    )
    assert "f32" in refused(module("(local f32) (i32.const 0)"))
    assert "f64" in refused(module("(i32.const 0)", extra="(global f64 (f64.const 0))"))


def test_simd_is_refused() -> None:
    message = refused(module("(drop (v128.const i64x2 0 0)) (i32.const 0)"))
    assert "SIMD" in message or "v128" in message


def test_atomics_and_shared_memory_are_refused() -> None:
    wasm = wat(
        '(module (memory (export "memory") 1 1 shared) (func (export "execute") (result i32) (i32.const 0)))'
    )
    assert "shared" in refused(wasm)
    assert "atomic" in refused(module("(i32.atomic.load (i32.const 0))"))


def test_bulk_memory_instructions_and_passive_segments_are_refused() -> None:
    assert "bulk-memory" in refused(
        module("(memory.fill (i32.const 0) (i32.const 0) (i32.const 9)) (i32.const 0)")
    )
    assert "passive" in refused(module("(i32.const 0)", extra='(data "abc")'))


def test_tables_and_indirect_calls_are_refused() -> None:
    wasm = wat(
        "(module (type $t (func (result i32))) (table 1 funcref) (elem (i32.const 0) $f)"
        " (func $f (result i32) (i32.const 0))"
        ' (func (export "execute") (result i32) (call_indirect (type $t) (i32.const 0))))'
    )
    assert "tables" in refused(wasm) or "call_indirect" in refused(wasm)


def test_a_start_function_is_refused() -> None:
    assert "start" in refused(module("(i32.const 0)", extra="(func $s) (start $s)"))


def test_an_import_that_is_not_a_host_function_is_refused() -> None:
    bad = '(import "env" "print" (func (param i32)))'
    assert "not a host function" in refused(module("(i32.const 0)", imports=bad))
    unknown = '(import "taskmaster" "wall_clock" (func (result i64)))'
    assert "not a host function" in refused(module("(i32.const 0)", imports=unknown))


def test_a_host_import_with_the_wrong_type_is_refused() -> None:
    wrong = '(import "taskmaster" "block_height" (func (result i32)))'
    assert "must have type () -> (i64)" in refused(module("(i32.const 0)", imports=wrong))


def test_imported_memory_and_globals_are_refused() -> None:
    entry = '(func (export "execute") (result i32) (i32.const 0))'
    mem = wat(f'(module (import "taskmaster" "memory" (memory 1)) {entry})')
    assert "not a function" in refused(mem)
    glob = wat(
        '(module (import "taskmaster" "g" (global i32)) (func (export "execute") (result i32) (i32.const 0)))'
    )
    assert "not a function" in refused(glob)


def test_execute_must_be_exported_with_its_type() -> None:
    assert "must export" in refused(wat('(module (func (export "run") (result i32) (i32.const 0)))'))
    assert "() -> (i32)" in refused(wat('(module (func (export "execute")))'))


def test_a_memory_must_be_exported_as_memory() -> None:
    assert "exported as 'memory'" in refused(
        wat('(module (memory 1) (func (export "execute") (result i32) (i32.const 0)))')
    )


def test_a_host_function_that_needs_memory_requires_one() -> None:
    assert "define and export a memory" in refused(
        module("(i32.const 0)", imports=imp("kv_set"), memory=False)
    )


def test_more_initial_memory_than_the_limit_is_refused() -> None:
    too_big = wat(
        '(module (memory (export "memory") 17) (func (export "execute") (result i32) (i32.const 0)))'
    )
    assert "at most 16" in refused(too_big)
    assert validate(
        wat(
            '(module (memory (export "memory") 16 100) (func (export "execute") (result i32) (i32.const 0)))'
        ),
        MAX_BYTES,
    )


def test_direct_and_mutual_recursion_are_refused() -> None:
    direct = module("(call $f)", extra="(func $f (result i32) (call $f))")
    assert "recursive" in refused(direct)
    mutual = module("(call $a)", extra="(func $a (result i32) (call $b)) (func $b (result i32) (call $a))")
    assert "recursive" in refused(mutual)


def test_recursion_in_code_unreachable_from_execute_is_allowed() -> None:
    assert validate(module("(i32.const 0)", extra="(func $f (call $f))"), MAX_BYTES)


def test_a_call_chain_deeper_than_the_stack_budget_is_refused() -> None:
    # 60 functions each with 600 locals calling the next: ~60 x 620 stack units
    funcs = " ".join(
        f"(func $f{i} (local {' '.join(['i64'] * 600)}) {f'(call $f{i + 1})' if i < 59 else ''})"
        for i in range(60)
    )
    message = refused(module("(call $f0) (i32.const 0)", extra=funcs))
    assert "stack units" in message


def test_too_many_locals_in_one_function_are_refused() -> None:
    locals_ = " ".join(["i32"] * 1025)
    assert "locals" in refused(module(f"(local {locals_}) (i32.const 0)"))


def test_multi_value_blocks_and_sign_extension_are_allowed() -> None:
    body = "(block (result i32 i32) (i32.const 1) (i32.const 2)) (drop) (i32.extend8_s)"
    assert validate(module(body), MAX_BYTES)


def test_natural_memory_alignments_are_accepted() -> None:
    # i32.load align 2**2, i64.store8 align 2**0: the natural alignments
    validate(with_body(bytes.fromhex("4100 280200 1a 4100 420a 3c0000 4100 0b")), MAX_BYTES)


@pytest.mark.parametrize(
    "memarg",
    [
        "2803 00",  # i32.load with alignment 2**3, beyond its natural 2**2
        "2d01 00",  # i32.load8_u with alignment 2**1
        "2842 00 41",  # bit 6: the multi-memory form (memory 0, offset 0x41), which wasmtime refuses
    ],
)
def test_an_alignment_beyond_the_natural_one_is_refused(memarg: str) -> None:
    message = refused(with_body(bytes.fromhex(f"4100 {memarg} 1a 4100 0b")))
    assert "function 0" in message and ("alignment" in message or "multi-memory" in message)


# Compile-time caps: each keeps wasmtime's compile time linear in the bytes paid for at upload.


def nested_loops(locals_: int, depth: int) -> str:
    """A function whose ``locals_`` locals (the loop condition included) all change inside ``depth``
    nested loops (each local gets a block parameter at every loop header)."""
    changed = locals_ - 1
    inner = "".join(
        f"(local.set {i} (i64.add (local.get {(i + 1) % changed}) (i64.const 1)))" for i in range(changed)
    )
    for _ in range(depth):
        inner = f"(loop {inner} (br_if 0 (local.get $c)))"
    return f"(func (local {'i64 ' * changed}) (local $c i32) {inner})"


def test_a_function_body_over_32_kib_is_refused_naming_the_function() -> None:
    body = "(drop (i64.const 1))" * 3300  # 3 bytes each: 9,900 bytes
    assert validate(module("(i32.const 0)", extra=f"(func {body})"), MAX_BYTES)
    message = refused(module("(i32.const 0)", extra=f"(func {body * 4})"))
    assert "function 0 has a body of" in message and "at most 32768" in message


def test_more_than_256_block_loop_and_if_in_one_function_are_refused() -> None:
    assert validate(module("(i32.const 0)", extra=f"(func {'(loop)' * 256})"), MAX_BYTES)
    # the attack: 43,000 loops in one function compiled for 39.7 s at the first execution
    message = refused(module("(i32.const 0)", extra=f"(func {'(block)' * 128}{'(loop)' * 129})"))
    assert "function 0 has more than 256 block, loop and if" in message


def test_block_loop_and_if_nested_deeper_than_32_are_refused() -> None:
    assert validate(module("(i32.const 0)", extra=nested_loops(2, 32)), MAX_BYTES)
    assert "deeper than 32" in refused(module("(i32.const 0)", extra=nested_loops(2, 33)))


def test_locals_times_nesting_depth_over_512_is_refused() -> None:
    # 256 locals changed inside blocks nested 255 deep compiled for 2.5 s from 5 KB
    assert validate(module("(i32.const 0)", extra=nested_loops(16, 32)), MAX_BYTES)
    assert validate(module("(i32.const 0)", extra=nested_loops(512, 1)), MAX_BYTES)
    message = refused(module("(i32.const 0)", extra=nested_loops(17, 32)))
    assert "31 deep with 17 locals" in message and "at most 512" in message  # 17 x 31 > 512
    assert "2 deep with 512 locals" in refused(module("(i32.const 0)", extra=nested_loops(512, 2)))


def test_more_than_128_values_on_the_operand_stack_are_refused() -> None:
    fits = "(func (result i64) " + "(i64.const 1)" * 128 + "(i64.add)" * 127 + ")"
    assert validate(module("(i32.const 0)", extra=fits), MAX_BYTES)
    over = "(func (result i64) " + "(i64.const 1)" * 129 + "(i64.add)" * 128 + ")"
    assert "more than 128 values on its operand stack" in refused(module("(i32.const 0)", extra=over))


def test_the_operand_stack_counts_call_results_and_block_values() -> None:
    four = "(func $f (result i64 i64 i64 i64) (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4))"
    calls = "(func " + "(call $f)" * 33 + "(drop)" * 132 + ")"  # 33 x 4 = 132 values
    assert "operand stack" in refused(module("(i32.const 0)", extra=four + calls))
    in_block = "(func (block (result i64) " + "(i64.const 1)" * 129 + "(i64.add)" * 128 + ") (drop))"
    assert "operand stack" in refused(module("(i32.const 0)", extra=in_block))
    after_br = "(func (block (br 0) " + "(i64.const 1)" * 100 + "(drop)" * 100 + ") " + "(i64.const 1)" * 100
    assert validate(module("(i32.const 0)", extra=after_br + "(drop)" * 100 + ")"), MAX_BYTES)


def test_a_type_with_more_than_four_results_is_refused() -> None:
    four = "(type (func (result i64 i64 i64 i64)))"
    assert validate(module("(i32.const 0)", extra=four), MAX_BYTES)
    # calls returning 16 values compiled at ~30 us a byte
    assert "5 results; at most 4" in refused(
        module("(i32.const 0)", extra="(type (func (result i64 i64 i64 i64 i64)))")
    )


def test_the_costliest_shapes_the_benchmark_compiles_are_accepted_and_fill_a_module() -> None:
    # benchmarks/wasm.py calibrates the upload gas on them: they must be what an upload may contain
    for name, make in SHAPES.items():
        wasm = make()
        summary = validate(wasm, MAX_BYTES)
        assert len(wasm) > 100_000 or summary.functions > 1_000, name
