"""The auth module record."""

from abci_app.modules import Module
from abci_app.modules.auth import genesis, queries, sdk_queries
from abci_app.modules.auth.keys import STORE
from abci_app.tx.ante import FEE_COLLECTOR

MODULE = Module(
    name="auth",
    store=STORE,
    queries=queries.ROUTES + sdk_queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
    accounts=(FEE_COLLECTOR,),
)
