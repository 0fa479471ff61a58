"""One execution's bookkeeping: its gas meter and wasm fuel kept as one budget, and memory access.

The task's :class:`GasMeter` is the only budget. Before the module runs it gets the meter's remaining
gas as fuel (``abi.fuel_for_gas``). At every host call the fuel used since the last call is charged to
the meter (``abi.gas_for_fuel``, rounded up), then the call's own gas, and the fuel is set again to what
the meter has left; at the end the rest of the fuel used is charged. So wasm instructions, host calls
and the store operations they make all draw on the same gas, and the totals do not depend on how the
work was split between them.
"""

from __future__ import annotations

import ctypes

from wasmtime import Caller, Memory
from wasmtime import _ffi as ffi

from abci_app.modules.wasm import abi, errors
from abci_app.tx.gas import GasMeter


def fuel_left(caller: Caller) -> int:
    """The fuel the running instance has left (read through the caller's store context)."""
    fuel = ctypes.c_uint64()
    error = ffi.wasmtime_context_get_fuel(caller._context(), ctypes.byref(fuel))
    if error:
        raise RuntimeError("fuel metering is not enabled in the engine")
    return int(fuel.value)


def set_fuel(caller: Caller, fuel: int) -> None:
    """Give the running instance ``fuel``."""
    error = ffi.wasmtime_context_set_fuel(caller._context(), fuel)
    if error:
        raise RuntimeError("fuel metering is not enabled in the engine")


class Execution:
    """The state of one call of ``execute``: budget, memory, the collected return data and events."""

    def __init__(self, meter: GasMeter) -> None:
        if meter.limit is None:
            raise ValueError("a wasm execution needs a gas meter with a limit")
        self.meter = meter
        self.limit: int = meter.limit
        self.fuel_given = 0
        self.return_data = b""
        self.events = 0
        self.memory: Memory | None = None

    def start_fuel(self) -> int:
        """The fuel to start with: all the gas the meter has left."""
        self.fuel_given = abi.fuel_for_gas(max(0, self.limit - self.meter.consumed))
        return self.fuel_given

    def charge_fuel(self, left: int) -> None:
        """Charge the fuel used since the fuel was last given (``left`` is what remains of it)."""
        used = max(0, self.fuel_given - left)
        self.fuel_given = left
        if used:
            self.meter.consume(abi.gas_for_fuel(used), "wasm instructions")

    def enter(self, caller: Caller, gas: int) -> None:
        """Start a host call: charge the instructions so far, then the call's flat ``gas``."""
        self.charge_fuel(fuel_left(caller))
        self.meter.consume(gas, "wasm host call")

    def leave(self, caller: Caller) -> None:
        """End a host call: the instance continues with all the gas the meter has left as fuel."""
        set_fuel(caller, self.start_fuel())

    def exhaust(self) -> None:
        """The module ran out of fuel: the whole budget is spent."""
        self.meter.consumed = max(self.meter.consumed, self.limit)
        self.fuel_given = 0

    def _memory(self, caller: Caller) -> Memory:
        if self.memory is None:
            found = caller.get(abi.MEMORY_EXPORT)
            if not isinstance(found, Memory):  # validation requires it; kept as a guard
                raise errors.BAD_POINTER("the module exports no memory")
            self.memory = found
        return self.memory

    def _span(self, caller: Caller, ptr: int, length: int, what: str) -> int:
        """The address of bytes ``ptr .. ptr + length`` of the memory; BAD_POINTER when they are not
        all inside it. Two FFI calls (size, base), where wasmtime-py's Memory.read/write make four and
        copy twice: host calls are most of a small module's time (benchmarks.wasm)."""
        memory = self._memory(caller)
        context = caller._context()
        size = int(ffi.wasmtime_memory_data_size(context, ctypes.byref(memory._memory)))
        if ptr + length > size:
            raise errors.BAD_POINTER(
                f"{what}: bytes {ptr}..{ptr + length} are outside the memory of {size} bytes"
            )
        base = ffi.wasmtime_memory_data(context, ctypes.byref(memory._memory))
        return ctypes.addressof(base.contents) + ptr

    def read(self, caller: Caller, ptr: int, length: int, limit: int, what: str) -> bytes:
        """``length`` bytes at ``ptr`` (both u32), charged per byte; at most ``limit`` bytes."""
        ptr &= 0xFFFFFFFF
        length &= 0xFFFFFFFF
        if length > limit:
            raise errors.HOST_ARGUMENT(f"{what} is {length} bytes; at most {limit}")
        self.meter.consume(abi.COPY_GAS_PER_BYTE * length, "wasm memory read")
        if length == 0:
            return b""
        return ctypes.string_at(self._span(caller, ptr, length, what), length)

    def write(self, caller: Caller, ptr: int, data: bytes, what: str) -> None:
        """Write ``data`` at ``ptr`` (u32), charged per byte; BAD_POINTER when it does not fit."""
        ptr &= 0xFFFFFFFF
        self.meter.consume(abi.COPY_GAS_PER_BYTE * len(data), "wasm memory write")
        if not data:
            return
        ctypes.memmove(self._span(caller, ptr, len(data), what), data, len(data))
