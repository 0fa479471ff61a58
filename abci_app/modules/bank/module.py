"""The bank module record."""

from abci_app.modules import Module
from abci_app.modules.bank import genesis, invariants, msgs, queries, sdk_queries
from abci_app.modules.bank.keys import STORE

MODULE = Module(
    name="bank",
    store=STORE,
    msgs=msgs.ROUTES,
    queries=queries.ROUTES + sdk_queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
    invariants=(invariants.supply_matches_balances,),
)
