"""The host ABI: what a task's WebAssembly module may import, with each function's signature and gas.

Every import must come from the module ``taskmaster`` and match one of these entries exactly (name and
types); ``validation.py`` refuses anything else at upload. Pointers and lengths are unsigned 32-bit
offsets into the module's exported memory ``memory``. docs/wasm.md documents each function for users;
the numbers here are the consensus values.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

I32 = "i32"
I64 = "i64"
IMPORT_MODULE = "taskmaster"
ENTRY_POINT = "execute"
MEMORY_EXPORT = "memory"

FUEL_PER_GAS = 10
"""Fixed conversion: one unit of task gas buys 10 units of wasmtime fuel (about one instruction each).

Fuel used is charged back as ``ceil(fuel / FUEL_PER_GAS)`` gas at every host call and at the end."""

HOST_CALL_GAS = 1_000
"""Flat gas of every host call, on top of what the call itself does. A call costs 12 to 14 us of
Python and FFI (block_height, allowance, task_data) and ~25 us when it copies memory (set_return):
1,000 gas makes host-call loops spend gas at 50 to 100 Mgas/s, as a block of basic kv tasks does
(it was 100: 8.6 Mgas/s, so a block's 45M task gas of block_height calls took ~5 s). docs/wasm.md,
"Host API"; ``python -m benchmarks.wasm`` measures it (its ``rates`` figures)."""
HISTORY_SEEK_GAS = 1_000
"""``twap`` also pays a store read's flat cost for opening the pair's price history: the store
charges iteration only per record found, and opening an empty history takes ~20 us (a loop of
``twap`` over an absent pair spent 19 to 31 Mgas/s without it, ~60 with it)."""
COPY_GAS_PER_BYTE = 3
"""Per byte moved between the module's memory and the host (both directions)."""
RECORD_GAS_PER_BYTE = 30
"""Per byte of an emitted event or of the return data: they are kept in every node's block results."""
INSTANTIATE_GAS = 2_000
"""Flat gas of instantiating the module for one execution (charged whether its compiled form is cached
or not, so the cache never changes gas)."""
INSTANTIATE_GAS_PER_CODE_BYTES = 16
"""Plus one gas per this many bytes of code."""
COMPILE_GAS_PER_FUNCTION = 4_000
"""At upload, per function the module defines, on top of the params' ``store_gas_per_byte``: wasmtime
spends 65 to 80 us on every function however small (1,018 empty functions: 66 to 80 ms for 4 KB);
4,000 gas buys 80 us at 50 Mgas/s."""

MAX_EVENTS = 16
MAX_EVENT_KEY = 64
MAX_EVENT_VALUE = 256
MAX_RETURN_DATA = 1024
MAX_PAIR_BYTES = 129
MAX_ADDRESS_TEXT = 128


@dataclass(frozen=True)
class HostFunction:
    """One importable host function: parameter and result types, and whether it touches memory."""

    name: str
    params: tuple[str, ...]
    results: tuple[str, ...]
    uses_memory: bool


def _f(name: str, params: str, results: str, uses_memory: bool) -> HostFunction:
    return HostFunction(name, tuple(params.split()), tuple(results.split()), uses_memory)


HOST_FUNCTIONS = MappingProxyType(
    {
        f.name: f
        for f in (
            _f("task_data", "i32 i32", "i32", True),
            _f("block_height", "", "i64", False),
            _f("block_time", "", "i64", False),
            _f("price", "i32 i32 i32", "i64", True),
            _f("price_height", "i32 i32", "i64", True),
            _f("twap", "i32 i32 i64 i32", "i64", True),
            _f("kv_get", "i32 i32 i32 i32", "i32", True),
            _f("kv_set", "i32 i32 i32 i32", "", True),
            _f("kv_delete", "i32 i32", "i32", True),
            _f("send", "i32 i32 i64", "", True),
            _f("allowance", "", "i64", False),
            _f("emit", "i32 i32 i32 i32", "", True),
            _f("reschedule", "i64", "", False),
            _f("set_return", "i32 i32", "", True),
        )
    }
)
"""The host functions by name (docs/wasm.md, "Host API")."""


def instantiate_gas(code_size: int) -> int:
    """Gas of one instantiation of a module of ``code_size`` bytes."""
    return INSTANTIATE_GAS + code_size // INSTANTIATE_GAS_PER_CODE_BYTES


def fuel_for_gas(gas: int) -> int:
    """Fuel given to wasm for ``gas`` units of gas (``gas`` >= 0)."""
    return gas * FUEL_PER_GAS


def gas_for_fuel(fuel: int) -> int:
    """Gas charged for ``fuel`` units consumed: rounded up, so no fuel is ever free."""
    return -(-fuel // FUEL_PER_GAS)
