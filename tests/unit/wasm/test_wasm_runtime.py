"""The runtime: metering, limits, failure codes and the compiled-module cache."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from wasmtime import Engine, Func, InstancePre, Linker, Module, Store, WasmtimeError

from abci_app.errors import NodeFault
from abci_app.modules.kv import keeper as kv
from abci_app.modules.wasm import abi, runtime, validation
from abci_app.modules.wasm.meter import Execution
from tests.unit.wasm.wasm_sandbox import Sandbox, example, imp, module, sandbox


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox(tmp_path) as s:
        yield s


def loop(n: int) -> bytes:
    """A module that counts to ``n`` in a loop and returns 0."""
    return module(
        f"(local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))"
        f" (br_if $l (i32.lt_u (local.get $i) (i32.const {n})))) (i32.const 0)"
    )


def test_the_engine_runs_with_fuel_and_without_nondeterministic_features() -> None:
    config = runtime.deterministic_config()
    assert config is not None
    assert runtime.MAX_MEMORY_BYTES == 16 * 65_536 and runtime.MAX_WASM_STACK == 1 << 20


def test_a_module_that_returns_zero_succeeds_and_is_charged_instantiation_and_fuel(box: Sandbox) -> None:
    wasm = module("(i32.const 0)")
    outcome = box.run(wasm)
    assert outcome.ok and outcome.data == b""
    assert outcome.gas == abi.instantiate_gas(len(wasm)) + abi.gas_for_fuel(1)


def test_a_non_zero_return_fails_the_execution(box: Sandbox) -> None:
    outcome = box.run(module("(i32.const 7)"))
    assert outcome.code == "wasm/8" and "returned 7" in outcome.error.message  # type: ignore[union-attr]


def test_an_infinite_loop_runs_out_of_fuel_and_spends_the_whole_budget(box: Sandbox) -> None:
    outcome = box.run(example("infinite_loop"), gas=50_000)
    assert outcome.code == "wasm/5" and outcome.gas == 50_000


def test_a_loop_is_charged_by_its_length_and_the_same_every_time(box: Sandbox) -> None:
    short, long = box.run(loop(100)), box.run(loop(10_000))
    assert short.ok and long.ok and short.gas < long.gas
    assert box.run(loop(10_000)).gas == long.gas


def test_a_loop_that_needs_more_than_the_budget_runs_out_of_fuel(box: Sandbox) -> None:
    needed = box.run(loop(10_000), gas=1_000_000).gas
    assert box.run(loop(10_000), gas=needed).ok
    # wasmtime checks fuel at loop headers and calls: the last straight-line stretch after the final
    # check may finish on fuel that was already counted down to 0 (never more than that stretch)
    for gas in (needed - 10, needed // 2):
        short = box.run(loop(10_000), gas=gas)
        assert short.code == "wasm/5" and short.gas == gas


@pytest.mark.parametrize(
    ("body", "trap"),
    [
        ("(unreachable)", "unreachable"),
        ("(i32.div_u (i32.const 1) (i32.const 0))", "integer_division_by_zero"),
        ("(i32.div_s (i32.const -2147483648) (i32.const -1))", "integer_overflow"),
        ("(i32.load (i32.const 70000))", "memory_out_of_bounds"),
    ],
)
def test_a_trap_fails_with_its_name(box: Sandbox, body: str, trap: str) -> None:
    outcome = box.run(module(body))
    assert outcome.code == "wasm/4" and outcome.error is not None and trap in outcome.error.message


def test_memory_cannot_grow_past_the_limit(box: Sandbox) -> None:
    # memory.grow returns -1 past 16 pages; the module returns what grow gave
    assert box.run(
        module("(i32.add (memory.grow (i32.const 15)) (i32.const -1))")
    ).ok  # 1 -> 16 pages: old size 1
    assert box.run(module("(i32.add (memory.grow (i32.const 16)) (i32.const 1))")).ok  # -1 + 1 = 0


def test_a_host_call_with_a_pointer_outside_memory_fails_with_bad_pointer(box: Sandbox) -> None:
    wasm = module(
        "(call $kv_set (i32.const 65530) (i32.const 10) (i32.const 0) (i32.const 1)) (i32.const 0)",
        imp("kv_set"),
    )
    assert box.run(wasm).code == "wasm/6"
    negative = module(
        "(call $kv_set (i32.const -1) (i32.const 4) (i32.const 0) (i32.const 1)) (i32.const 0)", imp("kv_set")
    )
    assert box.run(negative).code == "wasm/6"


def test_a_failed_execution_leaves_no_write(box: Sandbox) -> None:
    from abci_app.modules.kv import keeper as kv
    from tests.unit.wasm.wasm_sandbox import OWNER

    body = "(call $kv_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)) (unreachable)"
    assert box.run(module(body, imp("kv_set"))).code == "wasm/4"
    assert kv.get(box.ctx, OWNER, b"\x00") is None


def test_host_calls_and_instructions_draw_on_one_budget(box: Sandbox) -> None:
    one = box.run(module("(drop (call $block_height)) (i32.const 0)", imp("block_height")))
    two = box.run(
        module("(drop (call $block_height)) (drop (call $block_height)) (i32.const 0)", imp("block_height"))
    )
    assert one.ok and two.ok
    assert two.gas - one.gas == abi.HOST_CALL_GAS + abi.gas_for_fuel(2)


def test_running_out_of_gas_inside_a_host_call_fails_the_execution(box: Sandbox) -> None:
    wasm = module(
        "(call $kv_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1000)) (i32.const 0)",
        imp("kv_set"),
    )
    outcome = box.run(wasm, gas=5_000)
    assert outcome.code == "sdk/11" and outcome.gas > 5_000


def test_a_cold_and_a_warm_cache_give_the_same_result_and_gas(box: Sandbox) -> None:
    wasm = example("counter")
    code_id = hashlib.sha256(wasm).digest()
    assert box.run(wasm).ok  # count = 1 from here on, for both runs
    runtime.clear_cache()
    cold = box.run(wasm, keep=False)
    assert runtime.cached(code_id)
    warm = box.run(wasm, keep=False)
    assert cold.key() == warm.key() and cold.ok and cold.data == (2).to_bytes(8, "little")


def test_a_cached_module_is_not_compiled_again() -> None:
    wasm = module("(i32.const 0)")
    code_id = hashlib.sha256(wasm).digest()
    runtime.clear_cache()
    loads: list[int] = []

    def load() -> bytes:
        loads.append(1)
        return wasm

    first = runtime.compiled(code_id, load)
    assert runtime.compiled(code_id, load) is first and len(loads) == 1


def test_stored_bytes_that_do_not_match_the_code_id_are_never_run() -> None:
    runtime.clear_cache()
    with pytest.raises(RuntimeError, match="does not hash"):
        runtime.compiled(b"\x00" * 32, lambda: module("(i32.const 0)"))


def test_wasmtime_refusals_become_invalid_module() -> None:
    from abci_app.errors import AppError

    # passes the subset scan (a type error only full validation finds)
    wasm = bytes.fromhex(
        "0061736d01000000010501600001 7f 03020100 070b0107657865637574650000 0a0401020000".replace(" ", "")
    )
    with pytest.raises(AppError) as info:
        runtime.compile_upload(hashlib.sha256(wasm).digest(), wasm)
    assert info.value.codespace == "wasm" and info.value.code == 2
    assert not runtime.cached(hashlib.sha256(wasm).digest())


def test_the_memory_is_bounds_checked_exactly_at_its_end(box: Sandbox) -> None:
    # 16 pages = 1 MiB: the last 4-byte word is writable, one byte further traps
    grow = "(drop (memory.grow (i32.const 15)))"
    assert box.run(module(f"{grow} (i32.store (i32.const 1048572) (i32.const 1)) (i32.const 0)")).ok
    outcome = box.run(module(f"{grow} (i32.store (i32.const 1048573) (i32.const 1)) (i32.const 0)"))
    assert outcome.code == "wasm/4" and "memory_out_of_bounds" in outcome.error.log  # type: ignore[union-attr]


def test_the_engine_reserves_only_the_memory_a_module_may_have() -> None:
    # wasmtime's default reserves ~4 GiB of address space per memory: under `ulimit -v` that failed
    # on one node only (tests/app/test_wasm_tasks.py runs a block under such a limit)
    settings = dict(runtime.ENGINE_SETTINGS)
    assert settings["memory_reservation"] == runtime.MAX_MEMORY_BYTES == 16 * 65_536
    assert settings["memory_guard_size"] == settings["memory_reservation_for_growth"] == 0
    assert settings["memory_may_move"] is False


def test_a_failure_to_instantiate_without_a_trap_is_a_node_fault(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_address_space(self: InstancePre, store: object) -> None:
        raise WasmtimeError("failed to mmap: Cannot allocate memory (os error 12)")

    monkeypatch.setattr(InstancePre, "instantiate", no_address_space)
    with pytest.raises(NodeFault, match="without a trap"):
        box.run(module("(i32.const 0)"))


def test_running_out_of_memory_in_a_host_call_is_a_node_fault(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exhausted(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(kv, "get", exhausted)
    wasm = module(
        "(drop (call $kv_get (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0))) (i32.const 0)",
        imp("kv_get"),
    )
    with pytest.raises(NodeFault, match="out of memory"):
        box.run(wasm)


def test_stored_code_that_no_longer_compiles_is_a_node_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    wasm = module("(i32.const 0)")
    runtime.clear_cache()

    def broken_engine(engine: object, wasm: bytes) -> None:
        raise WasmtimeError("compilation failed")

    monkeypatch.setattr(runtime, "Module", broken_engine)
    with pytest.raises(NodeFault, match="does not compile on this node"):
        runtime.compiled(hashlib.sha256(wasm).digest(), lambda: wasm)


def deepest_frames(calls: int, depth: int, results: int = 4) -> bytes:
    """The costliest native frames per stack unit known: each of ``depth`` chained functions keeps the
    results of ``calls`` calls (``results`` i64 each) live across the call to the next one."""
    rs = " ".join(["i64"] * results)
    funcs = [f"(func $f (result {rs}) {'(i64.const 7) ' * results})", f"(func $k (param {rs}))"]
    for i in range(depth):
        deeper = f"(call $g{i + 1})" if i + 1 < depth else ""
        funcs.append(f"(func $g{i} {'(call $f)' * calls} {deeper} {'(call $k)' * calls})")
    return module("(call $g0) (i32.const 0)", extra=" ".join(funcs))


def test_the_worst_stack_shape_at_the_cap_runs_with_half_the_engine_stack_to_spare(box: Sandbox) -> None:
    # 32 calls x 4 results: the operand stack's cap (128 values); 110 frames: the stack cost's cap
    wasm = deepest_frames(32, 110)
    cost = validation.validate(wasm, 1 << 20).stack_cost
    assert validation.MAX_STACK_COST - 100 < cost <= validation.MAX_STACK_COST
    assert box.run(wasm, gas=1_000_000).ok  # the real engine: no stack_overflow
    config = runtime.deterministic_config()
    config.max_wasm_stack = runtime.MAX_WASM_STACK // 2
    engine = Engine(config)
    store = Store(engine)
    store.set_fuel(10**9)
    instance = Linker(engine).instantiate(store, Module(engine, wasm))
    execute = instance.exports(store)["execute"]
    assert isinstance(execute, Func) and execute(store) == 0  # it fits in 512 KiB too


def test_the_shape_that_left_two_percent_of_the_stack_is_refused() -> None:
    # accepted before (cost 32,230 of 32,768): it needed 1,025,329 of the engine's 1,048,576 bytes
    with pytest.raises(validation.InvalidModule, match=r"results|stack units|operand stack"):
        validation.validate(deepest_frames(1000, 8, results=16), 1 << 20)


def test_a_large_task_buys_at_most_750_host_calls(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # a call costs ~12 us of Python: at 100 gas a call, 750,000 gas bought ~7,400 calls (90 ms) and a
    # block's 45M task gas ~5 s of them; at 1,000, ~9 ms and ~0.5 s, as basic kv tasks spend gas
    calls: list[int] = []
    enter = Execution.enter

    def counted(self: Execution, caller: object, gas: int) -> None:
        calls.append(gas)
        enter(self, caller, gas)  # type: ignore[arg-type]

    monkeypatch.setattr(Execution, "enter", counted)
    forever = "(loop $l (drop (call $block_height)) (br $l)) (i32.const 0)"
    outcome = box.run(module(forever, imp("block_height")), gas=750_000)
    assert outcome.code == "sdk/11" and outcome.gas > 750_000
    assert abi.HOST_CALL_GAS == 1_000 and 700 < len(calls) <= 750
