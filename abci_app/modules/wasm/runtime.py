"""The deterministic runtime: one wasmtime engine, a compiled-module cache, and :func:`run`.

Engine configuration (fixed; a node with another would disagree with the chain):

- fuel metering on; every proposal outside the validated subset off (threads, SIMD, relaxed SIMD,
  multi-memory, memory64, tail calls, exceptions, GC, function references, wide arithmetic, custom
  page sizes, stack switching, the component model). Reference types and bulk memory stay on in the
  engine (wasmtime's component support needs them) and are refused by ``validation.py`` instead;
- NaN canonicalization on (no float can be uploaded; kept as a second line);
- ``max_wasm_stack`` = :data:`MAX_WASM_STACK`, a backstop: validation bounds every call chain far
  below it, so the native limit, which depends on the machine's code generation, is never what stops
  a module;
- linear memory: a reservation of exactly :data:`MAX_MEMORY_BYTES` (the 16-page cap), no guard region,
  no reservation for growth, and memories never move. wasmtime's default reserves about 4 GiB of
  address space per memory (and elides bounds checks with it); under an address-space limit such as
  ``ulimit -v 3000000`` instantiation then failed on one node only. With this reservation every load
  and store is bounds-checked explicitly and traps exactly at the end of the memory;
- single-threaded compilation; wasmtime's own on-disk compilation cache off (ours is below).

Node faults: a failure of this machine rather than of the module (a non-trap WasmtimeError at
compilation of stored code or at instantiation, a MemoryError) raises :class:`NodeFault` instead of
becoming a task result; a result that depends on the machine would fork this node (errors.py).

Each execution gets a new ``Store`` with limits: memory :data:`MAX_MEMORY_BYTES`, one instance, one
memory, no table. ``memory.grow`` past the limit returns -1 as the specification says.

Compilation happens at upload (:func:`compile_module`, inside MsgStoreCode in a block, after the
uploader's gas for it is charged), as wasmd does; the compiled module is cached (:func:`keep`) only
once its tx succeeded, so a module whose tx failed fills no cache.
Two caches keep it from happening again, as wasmvm's do: an in-memory LRU of
compiled, import-resolved modules (:data:`CACHE_SIZE` entries, at most :data:`CACHE_BYTES` of
compiled code), and the node-local disk cache of ``artifacts.py`` (``<home>/data/wasm-cache``, when
the node has a data directory: ``AppConfig.data_dir``, handed to the module's ``use_data_dir``, which
calls :func:`use_artifact_dir`). A code missing from both (after a state
sync, or the disk cache deleted) is compiled at its first execution, once per node. The key is the
code id (the SHA-256 of the bytes) within one engine; a cached and a freshly compiled module are the
same program, and everything an execution is charged comes from the code's stored size, never from
whether it was cached, so neither cache can change an outcome in a block. Speculative runs
(simulation; CheckTx runs no message) never compile: an upload is validated only, and an execution of
a code in neither cache is refused (NOT_COMPILED), so a free query never makes a node compile.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from ctypes import byref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wasmtime import (
    Config,
    Engine,
    FuncType,
    Instance,
    InstancePre,
    Linker,
    Module,
    Store,
    Trap,
    TrapCode,
    Val,
    ValType,
    WasmtimeError,
)
from wasmtime import _ffi as ffi
from wasmtime._func import enter_wasm

from abci_app.errors import NodeFault
from abci_app.modules.wasm import abi, errors, host
from abci_app.modules.wasm.artifacts import ArtifactDir, engine_fingerprint
from abci_app.modules.wasm.meter import Execution
from abci_app.modules.wasm.validation import MAX_MEMORY_PAGES
from abci_app.tx.gas import GasMeter

MAX_WASM_STACK = 1 << 20
MAX_MEMORY_BYTES = MAX_MEMORY_PAGES * 65_536
CACHE_SIZE = 256
CACHE_BYTES = 128 << 20
PENDING_SIZE = 4
"""Uploads compiled but not yet kept (:func:`keep`, once their tx succeeded) stay usable by executions
in the same tx or block, at most this many (each up to ~2.5 MB compiled)."""
"""The in-memory cache keeps at most CACHE_SIZE modules and CACHE_BYTES of their serialized size (a
128 KB module compiles to up to ~2.5 MB: 23x, measured for 4-value call results kept live)."""
_VALTYPES = {abi.I32: ValType.i32, abi.I64: ValType.i64}
_OFF = (
    "wasm_threads",
    "wasm_simd",
    "wasm_relaxed_simd",
    "wasm_multi_memory",
    "wasm_memory64",
    "wasm_tail_call",
    "wasm_exceptions",
    "wasm_gc",
    "wasm_function_references",
    "wasm_wide_arithmetic",
    "wasm_custom_page_sizes",
    "wasm_stack_switching",
    "wasm_component_model",
)


ENGINE_SETTINGS: tuple[tuple[str, bool | int], ...] = (
    ("consume_fuel", True),
    *((feature, False) for feature in _OFF),
    ("cranelift_nan_canonicalization", True),
    ("max_wasm_stack", MAX_WASM_STACK),
    ("parallel_compilation", False),
    ("memory_reservation", MAX_MEMORY_BYTES),
    ("memory_guard_size", 0),
    ("memory_reservation_for_growth", 0),
    ("memory_may_move", False),
)
"""Every setting of the engine, applied in this order to a default ``Config``."""


def deterministic_config() -> Config:
    """The engine configuration every node uses (see the module docstring)."""
    config = Config()
    for name, value in ENGINE_SETTINGS:
        setattr(config, name, value)
    return config


@dataclass(frozen=True)
class _Compiled:
    """A compiled module ready to instantiate, and its serialized size (its weight in the cache)."""

    pre: InstancePre
    module: Module
    size: int


@dataclass
class _Runtime:
    engine: Engine
    linker: Linker
    cache: OrderedDict[bytes, _Compiled]
    cached_bytes: int = 0
    artifacts: ArtifactDir | None = None
    # uploads compiled in blocks whose txs have not (yet) succeeded: usable by executions, never
    # written to disk, the oldest dropped past PENDING_SIZE (a failed upload's stays until then)
    pending: OrderedDict[bytes, Upload] = field(default_factory=OrderedDict)


log = logging.getLogger("abci_app.wasm")
_RUNTIME: _Runtime | None = None
_ARTIFACT_ROOT: Path | None = None
_RUNNING: list[tuple[Execution, host.HostEnv]] = []
"""The executions in progress, innermost last (FinalizeBlock is single-threaded; a host call never
starts another execution, so this holds at most one)."""


def _bind(impl: host.HostImpl, results: tuple[str, ...]) -> Callable[..., Any]:
    # a result handed back as a Val skips wasmtime-py's slow guess of its type (several FFI calls)
    wrap = {(): None, (abi.I32,): Val.i32, (abi.I64,): Val.i64}[results]

    def call(caller: Any, *args: int) -> Any:
        ex, env = _RUNNING[-1]
        ex.enter(caller, abi.HOST_CALL_GAS)
        result = impl(ex, env, caller, *args)
        ex.leave(caller)
        return result if wrap is None else wrap(result)

    return call


def _runtime() -> _Runtime:
    global _RUNTIME
    if _RUNTIME is None:
        engine = Engine(deterministic_config())
        linker = Linker(engine)
        for name, spec in abi.HOST_FUNCTIONS.items():
            ty = FuncType([_VALTYPES[t]() for t in spec.params], [_VALTYPES[t]() for t in spec.results])
            call = _bind(host.IMPLEMENTATIONS[name], spec.results)
            linker.define_func(abi.IMPORT_MODULE, name, ty, call, access_caller=True)
        _RUNTIME = _Runtime(engine, linker, OrderedDict())
        _RUNTIME.artifacts = _artifact_dir(_ARTIFACT_ROOT)
    return _RUNTIME


def _artifact_dir(root: Path | None) -> ArtifactDir | None:
    return None if root is None else ArtifactDir.under(root, engine_fingerprint(ENGINE_SETTINGS))


def use_artifact_dir(root: Path | None) -> None:
    """Keep compiled modules under ``root`` (the node's ``data/wasm-cache``); None: in memory only."""
    global _ARTIFACT_ROOT
    _ARTIFACT_ROOT = root
    if _RUNTIME is not None:
        _RUNTIME.artifacts = _artifact_dir(root)


def engine() -> Engine:
    """The process's engine (created on first use)."""
    return _runtime().engine


def _refusal(err: WasmtimeError) -> str:
    """wasmtime's reason in one line: its first line, and its innermost cause when there are several."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return "rejected"
    text = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return text[:300]


def _linked(code_id: bytes, module: Module, size: int) -> _Compiled:
    """``module`` with its imports resolved; NodeFault if this node cannot link it."""
    try:
        return _Compiled(_runtime().linker.instantiate_pre(module), module, size)
    except WasmtimeError as err:  # validation allows only the host functions with their types
        raise NodeFault(f"code {code_id.hex()} cannot be linked on this node: {err}") from None


def _insert(rt: _Runtime, code_id: bytes, entry: _Compiled) -> _Compiled:
    """Put ``entry`` in the in-memory cache, least recently used out."""
    previous = rt.cache.pop(code_id, None)
    if previous is not None:
        rt.cached_bytes -= previous.size
    rt.cache[code_id] = entry
    rt.cached_bytes += entry.size
    while len(rt.cache) > CACHE_SIZE or (rt.cached_bytes > CACHE_BYTES and len(rt.cache) > 1):
        _, dropped = rt.cache.popitem(last=False)
        rt.cached_bytes -= dropped.size
    return entry


def _remember(rt: _Runtime, code_id: bytes, module: Module, size: int) -> _Compiled:
    """Resolve ``module``'s imports and put it in the in-memory cache, least recently used out."""
    return _insert(rt, code_id, _linked(code_id, module, size))


def _serialized(module: Module) -> bytes:
    """``module`` compiled as bytes for the disk cache; empty if wasmtime cannot serialize it."""
    try:
        return bytes(module.serialize())
    except WasmtimeError as err:  # never an outcome: the module is used from memory all the same
        log.warning("cannot serialize a compiled wasm module (%s); it is not cached on disk", err)
        return b""


def _persist(
    rt: _Runtime, code_id: bytes, module: Module, artifact: bytes | None = None, replace: bool = False
) -> None:
    """Write ``module`` (or its ``artifact``) to the disk cache unless a file is there already (or
    ``replace``: the file there did not load)."""
    if rt.artifacts is None or (not replace and rt.artifacts.has(code_id)):
        return
    artifact = _serialized(module) if artifact is None else artifact
    if artifact:
        rt.artifacts.store(code_id, artifact)


@dataclass(frozen=True)
class Upload:
    """An uploaded module compiled and linked, not yet cached: :func:`keep` caches it once the upload
    is kept (its tx succeeded), so a module whose tx failed never fills a cache."""

    code_id: bytes
    entry: _Compiled
    artifact: bytes


def compile_module(code_id: bytes, wasm: bytes) -> Upload:
    """Compile and link an uploaded module (``code_id`` is its SHA-256) without caching it.

    A module already in the in-memory cache is not compiled again. Raises INVALID_MODULE with
    wasmtime's reason when wasmtime refuses or cannot compile it (the same engine decides the same on
    every node); :class:`NodeFault` when it cannot be linked on this node.
    """
    rt = _runtime()
    entry = rt.cache.get(code_id)
    if entry is not None:
        return Upload(code_id, entry, b"")
    held = rt.pending.get(code_id)
    if held is not None:
        return held
    try:
        module = Module(rt.engine, wasm)
    except WasmtimeError as err:
        raise errors.INVALID_MODULE(f"wasmtime refuses the module: {_refusal(err)}") from None
    artifact = _serialized(module)
    upload = Upload(code_id, _linked(code_id, module, len(artifact)), artifact)
    rt.pending[code_id] = upload
    while len(rt.pending) > PENDING_SIZE:
        rt.pending.popitem(last=False)
    return upload


def keep(upload: Upload, persist: bool = True) -> None:
    """Put ``upload`` in the in-memory cache (least recently used out) and, when ``persist``, write it
    to the disk cache unless a file is there already."""
    rt = _runtime()
    rt.pending.pop(upload.code_id, None)
    if rt.cache.get(upload.code_id) is upload.entry:
        rt.cache.move_to_end(upload.code_id)
    else:
        _insert(rt, upload.code_id, upload.entry)
    if persist:
        _persist(rt, upload.code_id, upload.entry.module, upload.artifact or None)


def compile_upload(code_id: bytes, wasm: bytes, persist: bool = True) -> None:
    """Compile an uploaded module and cache it at once (:func:`compile_module` then :func:`keep`);
    ``persist`` also writes it to the disk cache."""
    keep(compile_module(code_id, wasm), persist)


def _from_disk(rt: _Runtime, code_id: bytes) -> _Compiled | None:
    """The module of ``code_id`` from the disk cache, or None (absent, corrupt, another engine's)."""
    artifact = rt.artifacts.load(code_id) if rt.artifacts is not None else None
    if artifact is None:
        return None
    try:
        module = Module.deserialize(rt.engine, artifact)
    except WasmtimeError as err:
        log.warning("compiled wasm of %s does not load (%s); compiling again", code_id.hex(), err)
        return None
    return _remember(rt, code_id, module, len(artifact))


def compiled(code_id: bytes, load: Callable[[], bytes], may_compile: bool = True) -> InstancePre:
    """The compiled module of ``code_id``: from the in-memory cache, else the disk cache, else
    compiled from ``load()`` and written to disk. ``may_compile=False`` (a speculative run: simulation)
    never compiles: a code in neither cache is NOT_COMPILED, so a free query cannot make this node
    compile (the code may have been uploaded in the same simulated tx, which compiled nothing)."""
    rt = _runtime()
    entry = rt.cache.get(code_id)
    if entry is not None:
        rt.cache.move_to_end(code_id)
        return entry.pre
    held = rt.pending.get(code_id)
    if held is not None:  # uploaded in this tx or block: compiled, paid for, not kept yet
        return held.entry.pre
    entry = _from_disk(rt, code_id)
    if entry is not None:
        return entry.pre
    if not may_compile:
        raise errors.NOT_COMPILED(
            f"code {code_id.hex()} is not compiled on this node yet and a simulation never compiles (it "
            "is free); the tx may still succeed in a block, which compiles it"
        )
    wasm = load()
    if hashlib.sha256(wasm).digest() != code_id:
        raise RuntimeError(f"stored code does not hash to its id {code_id.hex()}")
    try:
        module = Module(rt.engine, wasm)
    except WasmtimeError as err:  # it compiled at upload: this machine or engine is at fault
        raise NodeFault(f"stored code {code_id.hex()} does not compile on this node: {err}") from None
    artifact = _serialized(module)
    _persist(rt, code_id, module, artifact, replace=True)
    return _remember(rt, code_id, module, len(artifact)).pre


def clear_cache() -> None:
    """Forget every compiled module in memory, as after a restart (tests: a cold cache must give the
    same answers as a warm one); the disk cache stays."""
    if _RUNTIME is not None:
        _RUNTIME.cache.clear()
        _RUNTIME.cached_bytes = 0
        _RUNTIME.pending.clear()


def cached(code_id: bytes) -> bool:
    """Whether ``code_id`` is compiled in this process's cache (not counting pending uploads)."""
    return _RUNTIME is not None and code_id in _RUNTIME.cache


@dataclass(frozen=True)
class Code:
    """A stored code: its id, its size (what instantiation is charged for) and how to read its bytes;
    ``may_compile``: whether a cache miss may compile it (and write the disk cache): not in a
    simulation."""

    code_id: bytes
    size: int
    load: Callable[[], bytes]
    may_compile: bool = True


def _trap_name(trap: Trap) -> str:
    code = trap.trap_code
    return code.name.lower() if code is not None else "unknown"


def run(code: Code, env: host.HostEnv, meter: GasMeter) -> bytes:
    """Instantiate ``code`` and call ``execute`` within ``meter``; returns the return data.

    Raises an AppError of the ``wasm`` codespace when the module traps (TRAP, naming the trap),
    runs out of fuel (OUT_OF_FUEL, the whole budget spent) or returns non-zero (MODULE_FAILED); a
    host call's own AppError (BAD_POINTER, HOST_ARGUMENT, ALLOWANCE_EXCEEDED, out of gas, ...) passes
    through. The caller discards the branch on any error. Raises :class:`NodeFault` when this
    machine fails (see the module docstring).
    """
    meter.consume(abi.instantiate_gas(code.size), "wasm instantiation")
    try:
        pre = compiled(code.code_id, code.load, code.may_compile)
    except MemoryError:
        raise NodeFault(f"out of memory compiling code {code.code_id.hex()}") from None
    store = Store(engine())
    store.set_limits(memory_size=MAX_MEMORY_BYTES, table_elements=0, instances=1, tables=0, memories=1)
    ex = Execution(meter)
    store.set_fuel(ex.start_fuel())
    _RUNNING.append((ex, env))
    try:
        status = _call_entry(pre, store, ex)
    except MemoryError:
        raise NodeFault(f"out of memory running code {code.code_id.hex()}") from None
    finally:
        _RUNNING.pop()
    if status != 0:
        raise errors.MODULE_FAILED(f"{abi.ENTRY_POINT} returned {status}; its changes are discarded")
    return ex.return_data


_ENTRY_NAME = abi.ENTRY_POINT.encode()
_FUNC_KIND = ffi.WASMTIME_EXTERN_FUNC.value


def _call_execute(store: Store, instance: Instance) -> int:
    """Call the instance's ``execute`` export and return its i32.

    The same call as ``instance.exports(store)["execute"](store)`` (the same trap and host-exception
    handling: wasmtime-py's ``enter_wasm``), without what that costs per execution and a validated
    module never needs: wrapping every export, and looking up and converting the function's type
    (validation fixes ``execute: () -> i32``). About 30 us of an execution's ~70 us overhead
    (benchmarks.wasm); wasmtime is pinned, so these FFI entry points are too.
    """
    context = store._context()
    item = ffi.wasmtime_extern_t()
    found = ffi.wasmtime_instance_export_get(
        context, byref(instance._instance), _ENTRY_NAME, len(_ENTRY_NAME), byref(item)
    )
    kind: int = item.kind  # type: ignore[assignment]  # ctypes reads a c_uint8 field as an int
    if not found or kind != _FUNC_KIND:  # validation requires the export; kept as a guard
        raise errors.INVALID_MODULE(f"the module exports no function {abi.ENTRY_POINT}")
    result = (ffi.wasmtime_val_t * 1)()
    with enter_wasm(store) as trap:
        error = ffi.wasmtime_func_call(context, byref(item.of.func), None, 0, result, 1, trap)
        if error:
            raise WasmtimeError._from_ptr(error)
    return int(result[0].of.i32)


def _call_entry(pre: InstancePre, store: Store, ex: Execution) -> int:
    try:
        instance = pre.instantiate(store)
        status = _call_execute(store, instance)
    except Trap as trap:
        if trap.trap_code == TrapCode.OUT_OF_FUEL:
            ex.exhaust()
            raise errors.OUT_OF_FUEL(
                f"the module used all {ex.limit} gas of the task (x{abi.FUEL_PER_GAS} fuel); raise the "
                "task's gas tier or do less per execution"
            ) from None
        ex.charge_fuel(store.get_fuel())
        raise errors.TRAP(f"the module trapped: {_trap_name(trap)}") from None
    except WasmtimeError as err:
        # validation keeps every module within the store's limits (16 initial pages, one memory, no
        # table), so what is left is this machine failing: mapping the memory, say, under an
        # address-space limit. Another node would have run the module: no result may be recorded.
        raise NodeFault(f"instantiating or running a module failed without a trap: {err}") from None
    ex.charge_fuel(store.get_fuel())
    return status
