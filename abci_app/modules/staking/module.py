"""The staking module record: its messages, genesis (the first validator set) and end-block."""

from __future__ import annotations

from abci_app.modules import Module
from abci_app.modules.staking import genesis, invariants, msgs, queries, sdk_queries
from abci_app.modules.staking.keeper import BONDED_POOL, UNBONDING_POOL, end_block
from abci_app.modules.staking.keys import STORE

MODULE = Module(
    name="staking",
    store=STORE,
    msgs=msgs.ROUTES,
    queries=queries.ROUTES + sdk_queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
    end_block=end_block,
    invariants=invariants.INVARIANTS,
    accounts=(BONDED_POOL, UNBONDING_POOL),
)
