"""Genesis of the wasm module: params and every stored code (validated again); export them back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskmaster.wasm.v1 import wasm_pb2

from abci_app.context import Context
from abci_app.modules import parse_genesis
from abci_app.modules.genesis_json import genesis_json
from abci_app.modules.wasm import keeper
from abci_app.modules.wasm.keys import INFO_PREFIX, STORE, UPLOADER_PREFIX, info_key
from abci_app.tx.address import from_bech32, to_bech32


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Write params, then each code as MsgStoreCode would (validated and compiled); keep its uploader
    and height; the compiled modules are cached. Raises an AppError or ValueError naming the code that
    is wrong."""
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, wasm_pb2.GenesisState())
    keeper.set_params(ctx, genesis.params)
    for i, code in enumerate(genesis.codes):
        where = f"wasm genesis codes[{i}]"
        uploader = from_bech32(code.uploader, f"{where}.uploader")
        code_id, new = keeper.store_code(ctx, uploader, code.wasm)
        if not new:
            raise ValueError(f"{where}: code {code_id.hex()} is listed twice")
        info = keeper.require_code(ctx, code_id)
        info.height = code.height
        ctx.store(STORE).set(info_key(code_id), info.SerializeToString(deterministic=True))
        for j, account in enumerate(code.stored_by):
            keeper.add_uploader(ctx, from_bech32(account, f"{where}.stored_by[{j}]"), code_id)
    for keep in ctx.on_success:  # every code was accepted (a refused one stops InitChain)
        keep()
    ctx.on_success.clear()


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params and every code in code id order, with every account that stored it."""
    genesis = wasm_pb2.GenesisState(params=keeper.get_params(ctx))
    stored_by: dict[bytes, list[str]] = {}
    for key, _ in ctx.store(STORE).iterate_prefix(UPLOADER_PREFIX):
        stored_by.setdefault(key[21:], []).append(to_bech32(key[1:21]))
    for _, raw in ctx.store(STORE).iterate_prefix(INFO_PREFIX):
        info = wasm_pb2.CodeInfo.FromString(raw)
        code_id = bytes.fromhex(info.code_id)
        genesis.codes.add(
            wasm=keeper.code_bytes(ctx, code_id) or b"",
            uploader=info.uploader,
            height=info.height,
            stored_by=sorted(stored_by.get(code_id, [])),
        )
    return genesis_json(genesis)
