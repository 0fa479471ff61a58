"""Staking invariants (run after genesis and, by the property tests, after every simulated block).

* the bonded pool holds exactly the validators' tokens;
* the unbonding pool holds exactly the pending unbondings;
* each validator's delegator_shares is the sum of its delegations' shares;
* the active set is the top ``max_validators`` candidates, and each validator's flag says so.
"""

from __future__ import annotations

from abci_app.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.bank.invariants import InvariantBroken
from abci_app.modules.staking import keeper


def bonded_pool_matches_tokens(ctx: Context) -> None:
    """The bonded pool's balance equals the sum of every validator's tokens."""
    tokens = sum(int(v.tokens or "0") for _, v in keeper.validators(ctx))
    pool = bank.balance(ctx, keeper.BONDED_POOL, keeper.get_params(ctx).bond_denom)
    if tokens != pool:
        raise InvariantBroken(f"bonded pool holds {pool} but validators bond {tokens}")


def unbonding_pool_matches_entries(ctx: Context) -> None:
    """The unbonding pool's balance equals the sum of every pending unbonding entry."""
    pending = sum(int(e.balance) for e in keeper.all_unbonding_entries(ctx))
    pool = bank.balance(ctx, keeper.UNBONDING_POOL, keeper.get_params(ctx).bond_denom)
    if pending != pool:
        raise InvariantBroken(f"unbonding pool holds {pool} but pending unbondings total {pending}")


def shares_match_delegations(ctx: Context) -> None:
    """Each validator's delegator_shares equals the sum of the shares delegated to it."""
    for operator, validator in keeper.validators(ctx):
        held = sum(int(d.shares) for d in keeper.delegations_to(ctx, operator))
        if held != int(validator.delegator_shares or "0"):
            raise InvariantBroken(
                f"{validator.operator_address} issued {validator.delegator_shares} shares, delegations "
                f"hold {held}"
            )


def active_set_is_top_candidates(ctx: Context) -> None:
    """After a block, the active set is exactly the top candidates (no exception) and flags agree."""
    members = dict(keeper.active_set(ctx))
    top = dict(keeper.top_candidates(ctx))
    if members != top:
        raise InvariantBroken(
            f"active set {sorted(members.items())} is not the top candidates {sorted(top.items())}"
        )
    for operator, validator in keeper.validators(ctx):
        if validator.active != (operator in members):
            raise InvariantBroken(f"{validator.operator_address} active flag disagrees with the set")


INVARIANTS = (
    bonded_pool_matches_tokens,
    unbonding_pool_matches_entries,
    shares_match_delegations,
    active_set_is_top_candidates,
)
