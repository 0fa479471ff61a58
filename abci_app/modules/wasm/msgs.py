"""MsgStoreCode: validate, charge and store a module; its code id is the SHA-256 of the bytes."""

from __future__ import annotations

from taskmaster.wasm.v1 import wasm_pb2

from abci_app.context import Context
from abci_app.modules import MsgRoute
from abci_app.modules.wasm import keeper
from abci_app.tx.address import from_bech32


def handle_store_code(ctx: Context, msg: wasm_pb2.MsgStoreCode) -> wasm_pb2.MsgStoreCodeResponse:
    """Store ``msg.wasm`` for the sender; the same bytes stored again give the same id and no new copy."""
    sender = from_bech32(msg.sender, "sender")
    code_id, new = keeper.store_code(ctx, sender, msg.wasm)
    ctx.emit(
        "CodeStored",
        code_id=code_id.hex(),
        uploader=msg.sender,
        size=str(len(msg.wasm)),
        new="true" if new else "false",
    )
    return wasm_pb2.MsgStoreCodeResponse(code_id=code_id.hex())


ROUTES = (MsgRoute(wasm_pb2.MsgStoreCode, lambda m: m.sender, handle_store_code, keeper.check_store_code),)
