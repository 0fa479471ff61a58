"""The staking module record: genesis gives CometBFT its first validator set, end-block the changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.modules import Module
from abci_app.modules.staking import genesis, invariants, queries
from abci_app.modules.staking.keeper import BONDED_POOL, pop_validator_updates
from abci_app.modules.staking.keys import STORE


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> list[abci.ValidatorUpdate]:
    """Bond the genesis validators; the validator set InitChain answers CometBFT with."""
    genesis.init_genesis(ctx, state)
    return pop_validator_updates(ctx)


MODULE = Module(
    name="staking",
    store=STORE,
    queries=queries.ROUTES,
    init_genesis=init_genesis,
    export_genesis=genesis.export_genesis,
    end_block=pop_validator_updates,
    invariants=(invariants.bonded_pool_matches_tokens,),
    accounts=(BONDED_POOL,),
)
