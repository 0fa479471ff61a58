"""Stored code: params, the bytes and CodeInfo of each code id, the codes-by-uploader index.

Code is immutable: a code id is the SHA-256 of its bytes, so storing the same module again changes
nothing but the uploader index. Other modules run code only through :func:`code_for_execution`.
"""

from __future__ import annotations

import hashlib

from taskmaster.wasm.v1 import wasm_pb2

from abci_app.context import Context
from abci_app.errors import shown
from abci_app.modules.wasm import abi, errors, runtime
from abci_app.modules.wasm.errors import ALLOWANCE_EXCEEDED, HOST_ARGUMENT
from abci_app.modules.wasm.host import HostEnv
from abci_app.modules.wasm.keys import (
    PARAMS_KEY,
    STORE,
    UPLOADER_PREFIX,
    code_key,
    info_key,
    uploader_key,
)
from abci_app.modules.wasm.validation import InvalidModule, check_header, validate
from abci_app.store.branch import prefix_end
from abci_app.tx.address import to_bech32
from abci_app.tx.gas import GasMeter

__all__ = ["ALLOWANCE_EXCEEDED", "HOST_ARGUMENT", "HostEnv"]  # for the modules whose tasks run code

ENVIRONMENT_PREFIX = "wasm:"
MAX_CODE_BYTES_LIMIT = 1 << 20  # params may not allow more (a tx is at most 1 MiB anyway)
DEFAULT_PARAMS = wasm_pb2.Params(max_code_bytes=128 * 1024, store_gas_per_byte=500)
"""500 gas a byte pays for validation and compilation: the costliest shapes accepted compile at about
8 us a byte, and 500 gas buys 10 us at 50 Mgas/s, about the rate of a block of basic kv tasks
(docs/wasm.md, "Compilation and the compiled-module caches")."""


def get_params(ctx: Context) -> wasm_pb2.Params:
    """The module params (defaults before genesis)."""
    raw = ctx.store(STORE).get(PARAMS_KEY)
    return wasm_pb2.Params.FromString(raw) if raw is not None else DEFAULT_PARAMS


def set_params(ctx: Context, params: wasm_pb2.Params) -> None:
    """Store params after checking them; INVALID_PARAMS names the field out of range."""
    if not 8 <= params.max_code_bytes <= MAX_CODE_BYTES_LIMIT:
        raise errors.INVALID_PARAMS(
            f"max_code_bytes {params.max_code_bytes} must be between 8 and {MAX_CODE_BYTES_LIMIT}"
        )
    if params.store_gas_per_byte > 1_000_000:
        raise errors.INVALID_PARAMS(f"store_gas_per_byte {params.store_gas_per_byte} is above 1000000")
    ctx.store(STORE).set(PARAMS_KEY, params.SerializeToString(deterministic=True))


def parse_code_id(text: str) -> bytes:
    """A code id given as 64 lowercase hex characters; INVALID_CODE_ID otherwise."""
    if len(text) == 64 and text == text.lower():
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    raise errors.INVALID_CODE_ID(f"code id {shown(text, 70)} must be 64 lowercase hex characters")


def environment_code_id(environment: str) -> bytes | None:
    """The code id of a ``wasm:<code id>`` environment; None for any other environment."""
    if not environment.startswith(ENVIRONMENT_PREFIX):
        return None
    return parse_code_id(environment[len(ENVIRONMENT_PREFIX) :])


def code_info(ctx: Context, code_id: bytes) -> wasm_pb2.CodeInfo | None:
    """The CodeInfo of a code id, or None."""
    raw = ctx.store(STORE).get(info_key(code_id))
    return wasm_pb2.CodeInfo.FromString(raw) if raw is not None else None


def require_code(ctx: Context, code_id: bytes) -> wasm_pb2.CodeInfo:
    """The CodeInfo of a stored code; UNKNOWN_CODE naming the id otherwise."""
    info = code_info(ctx, code_id)
    if info is None:
        raise errors.UNKNOWN_CODE(f"no code {code_id.hex()} is stored; store it with MsgStoreCode first")
    return info


def code_bytes(ctx: Context, code_id: bytes) -> bytes | None:
    """A module's stored bytes, or None."""
    return ctx.store(STORE).get(code_key(code_id))


def store_code(ctx: Context, sender: bytes, wasm: bytes) -> tuple[bytes, bool]:
    """Validate, compile and store ``wasm`` for ``sender``; returns (code id, whether it was new).

    Gas, to the context's meter: ``store_gas_per_byte`` per byte before validation, then
    ``abi.COMPILE_GAS_PER_FUNCTION`` per function it defines before compilation, then the store's
    write costs; so a tx that cannot pay for compiling runs out of gas before it compiles. A new code
    is compiled here, so the uploader pays for it and its first execution does not; the compiled
    module is cached (in memory, and on disk) only when the tx succeeds (``ctx.on_success``), so a
    module whose tx failed fills no cache. Speculative runs (simulation) validate but never compile:
    their answer is the same except for the rare module our validator accepts and wasmtime refuses,
    which fails in the block, paying its fee. Code already stored is not compiled again.
    INVALID_MODULE names the rule a refused module breaks, or wasmtime's reason.
    """
    params = get_params(ctx)
    if ctx.gas is not None:
        ctx.gas.consume(params.store_gas_per_byte * len(wasm), "wasm validation and compilation")
    try:
        summary = validate(wasm, params.max_code_bytes)
    except InvalidModule as exc:
        raise errors.INVALID_MODULE(str(exc)) from None
    if ctx.gas is not None:
        ctx.gas.consume(abi.COMPILE_GAS_PER_FUNCTION * summary.functions, "wasm compilation per function")
    code_id = hashlib.sha256(wasm).digest()
    store = ctx.store(STORE)
    if code_info(ctx, code_id) is not None:
        add_uploader(ctx, sender, code_id)
        return code_id, False
    if not ctx.speculative:
        upload = runtime.compile_module(code_id, wasm)
        ctx.on_success.append(lambda: runtime.keep(upload))
    add_uploader(ctx, sender, code_id)
    store.set(code_key(code_id), wasm)
    info = wasm_pb2.CodeInfo(
        code_id=code_id.hex(),
        uploader=to_bech32(sender),
        size=len(wasm),
        height=ctx.height,
        imports=summary.imports,
        stack_cost=summary.stack_cost,
    )
    store.set(info_key(code_id), info.SerializeToString(deterministic=True))
    return code_id, True


def check_store_code(ctx: Context, msg: wasm_pb2.MsgStoreCode) -> None:
    """The constant-time checks of a MsgStoreCode that the ante runs (CheckTx included): the size
    within ``max_code_bytes`` and the WebAssembly header. INVALID_MODULE says what to change."""
    try:
        check_header(msg.wasm, get_params(ctx).max_code_bytes)
    except InvalidModule as exc:
        raise errors.INVALID_MODULE(str(exc)) from None


def add_uploader(ctx: Context, account: bytes, code_id: bytes) -> None:
    """Record that ``account`` stored ``code_id`` (the codes-by-uploader index)."""
    ctx.store(STORE).set(uploader_key(account, code_id), b"")


def codes_of(ctx: Context, account: bytes, limit: int, after: bytes = b"") -> list[bytes]:
    """Code ids ``account`` stored, in id order, after ``after`` (at most ``limit``)."""
    prefix = UPLOADER_PREFIX + account
    start = prefix + after + b"\x00" if after else prefix
    ids: list[bytes] = []
    for key, _ in ctx.store(STORE).iterate(start, prefix_end(prefix)):
        if len(ids) == limit:
            break
        ids.append(key[len(prefix) :])
    return ids


def code_for_execution(ctx: Context, code_id: bytes) -> runtime.Code:
    """What the runtime needs to run ``code_id``: its CodeInfo is read (and paid) through ``ctx``.

    The bytes are read only on a cache miss, without gas (``Branch.lookup``), so a cold and a warm
    cache charge the same.
    """
    info = require_code(ctx, code_id)

    def load() -> bytes:
        raw = ctx.branch.lookup(STORE, code_key(code_id))
        if raw is None:
            raise RuntimeError(f"code {code_id.hex()} has a CodeInfo but no bytes")
        return raw

    return runtime.Code(code_id, info.size, load, may_compile=not ctx.speculative)


def run(ctx: Context, code_id: bytes, env: HostEnv, meter: GasMeter) -> bytes:
    """Run stored code ``code_id`` with ``env`` within ``meter``; returns its return data.

    Raises UNKNOWN_CODE, or the runtime's and host calls' AppErrors (runtime.run); the caller
    discards the branch on any of them.
    """
    return runtime.run(code_for_execution(ctx, code_id), env, meter)
