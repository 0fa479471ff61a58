"""The wasm module record: MsgStoreCode, its queries and genesis; tasks run its code (tasks/execution.py)."""

from abci_app.modules import Module
from abci_app.modules.wasm import genesis, msgs, queries
from abci_app.modules.wasm.keys import STORE

MODULE = Module(
    name="wasm",
    store=STORE,
    msgs=msgs.ROUTES,
    queries=queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
)
