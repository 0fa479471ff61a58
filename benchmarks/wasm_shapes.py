"""The costliest module shapes found under the upload limits (``abci_app/modules/wasm/validation.py``).

What ``python -m benchmarks.wasm`` compiles to calibrate the upload gas (docs/wasm.md, "Compilation and
the compiled-module caches"): each shape fills a module of about ``max_code_bytes`` with copies of one
function written to make wasmtime's compiler work hard per byte while staying within every limit.
"""

from __future__ import annotations

from collections.abc import Callable

import wasmtime

MODULE_BYTES = 128 * 1024
_R4 = "i64 i64 i64 i64"
_HEAD = (
    '(memory (export "memory") 1) (func $z) '
    f"(func $f4 (result {_R4}) (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4)) "
    f"(func $k4 (param {_R4}))"
)


def _module(functions: str) -> bytes:
    return bytes(
        wasmtime.wat2wasm(
            f'(module {_HEAD} {functions} (func (export "execute") (result i32) (i32.const 0)))'
        )
    )


def _filled(function: str) -> bytes:
    """As many copies of ``function`` as fit in MODULE_BYTES (at most 1,018: the function cap)."""
    empty = len(_module(""))
    one = len(_module(function)) - empty
    return _module(function * max(1, min(1018, (MODULE_BYTES - empty - 16) // one)))


def empty_loops() -> bytes:
    """256 empty loops a function (the cap on block/loop/if): each is a fuel check and a block."""
    return _filled("(func " + "(loop)" * 256 + ")")


def live_call_results() -> bytes:
    """Calls returning 4 values (the cap) until 128 values (the operand-stack cap) are live across
    further calls, then consumed; repeated to ~12 KB a function."""
    group = "(call $f4)" * 32 + "(call $z)" * 8 + "(call $k4)" * 32
    return _filled(f"(func {group * 83})")


def locals_in_nested_loops() -> bytes:
    """16 locals (15 i64 and the loop condition) all changed inside loops nested 32 deep: locals x
    nesting at its cap (512), each local a block parameter at every loop header."""
    changed = "".join(
        f"(local.set {i} (i64.add (local.get {(i + 1) % 15}) (i64.const 1)))" for i in range(15)
    )
    body = changed
    for _ in range(32):
        body = f"(loop {body} (br_if 0 (local.get $c)))"
    return _filled(f"(func (local {'i64 ' * 15}) (local $c i32) {body})")


def empty_functions() -> bytes:
    """1,018 empty functions: wasmtime's fixed cost per function, whatever its size."""
    return _module("(func)" * 1018)


SHAPES: dict[str, Callable[[], bytes]] = {
    "empty_loops": empty_loops,
    "live_call_results": live_call_results,
    "locals_in_nested_loops": locals_in_nested_loops,
    "empty_functions": empty_functions,
}
