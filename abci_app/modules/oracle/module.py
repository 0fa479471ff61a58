"""The oracle module record."""

from abci_app.modules import Module
from abci_app.modules.oracle import genesis, msgs, queries
from abci_app.modules.oracle.keys import STORE

MODULE = Module(
    name="oracle",
    store=STORE,
    msgs=msgs.ROUTES,
    queries=queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
)
