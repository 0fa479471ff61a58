"""The kv module record: MsgPut / MsgDelete in the signer's namespace, query Get, genesis entries."""

from __future__ import annotations

from taskmaster.kv.v1 import kv_pb2

from abci_app.context import Context
from abci_app.modules import Module, MsgRoute, QueryRoute
from abci_app.modules.kv import genesis, keeper
from abci_app.tx.address import from_bech32

SERVICE = "taskmaster.kv.v1.Query"


def handle_put(ctx: Context, msg: kv_pb2.MsgPut) -> kv_pb2.MsgPutResponse:
    """Set ``key`` in the owner's namespace."""
    keeper.put(ctx, from_bech32(msg.owner, "owner"), msg.key, msg.value)
    ctx.emit("kv_put", owner=msg.owner, key=msg.key.hex())
    return kv_pb2.MsgPutResponse()


def handle_delete(ctx: Context, msg: kv_pb2.MsgDelete) -> kv_pb2.MsgDeleteResponse:
    """Delete ``key`` from the owner's namespace (it must exist)."""
    keeper.delete(ctx, from_bech32(msg.owner, "owner"), msg.key)
    ctx.emit("kv_delete", owner=msg.owner, key=msg.key.hex())
    return kv_pb2.MsgDeleteResponse()


def query_get(ctx: Context, req: kv_pb2.QueryGetRequest) -> kv_pb2.QueryGetResponse:
    """One value; ``found`` false when absent."""
    value = keeper.get(ctx, from_bech32(req.owner, "owner"), req.key)
    return kv_pb2.QueryGetResponse(value=value or b"", found=value is not None)


MODULE = Module(
    name="kv",
    store=keeper.STORE,
    msgs=(
        MsgRoute(kv_pb2.MsgPut, lambda m: m.owner, handle_put),
        MsgRoute(kv_pb2.MsgDelete, lambda m: m.owner, handle_delete),
    ),
    queries=(QueryRoute(SERVICE, "Get", kv_pb2.QueryGetRequest, kv_pb2.QueryGetResponse, query_get),),
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
)
