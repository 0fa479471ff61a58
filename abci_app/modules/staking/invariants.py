"""Staking invariants: the bonded pool holds exactly the validators' tokens."""

from __future__ import annotations

from abci_app.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.bank.invariants import InvariantBroken
from abci_app.modules.staking import keeper


def bonded_pool_matches_tokens(ctx: Context) -> None:
    """The bonded pool's balance equals the sum of every validator's tokens."""
    tokens = sum(int(v.tokens) for _, v in keeper.validators(ctx))
    pool = bank.balance(ctx, keeper.BONDED_POOL, keeper.get_params(ctx).bond_denom)
    if tokens != pool:
        raise InvariantBroken(f"bonded pool holds {pool} but validators bond {tokens}")
