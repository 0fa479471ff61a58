"""The staking module record."""

from abci_app.modules import Module
from abci_app.modules.staking import genesis, invariants, queries
from abci_app.modules.staking.keeper import BONDED_POOL
from abci_app.modules.staking.keys import STORE

MODULE = Module(
    name="staking",
    store=STORE,
    queries=queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
    invariants=(invariants.bonded_pool_matches_tokens,),
    accounts=(BONDED_POOL,),
)
