"""A validator's standing with the oracle, read from state: misses in the window, rounds before jail.

Read-only and never part of a block: a node computes it from committed state after each commit for
its own validator (``abci_app/node/oracle_liveness.py``: metrics and the "close to jail" warning).
"""

from __future__ import annotations

from dataclasses import dataclass

from taskmaster.oracle.v1 import oracle_pb2

from abci_app.context import Context
from abci_app.modules.oracle import keeper
from abci_app.modules.staking import keeper as staking


@dataclass(frozen=True)
class Standing:
    """What the state says of one validator's oracle record (``validator`` False: none uses the key)."""

    validator: bool
    jailed: bool
    missed_in_window: int
    rounds_seen: int
    window: int
    rounds_before_jail: int  # counted rounds it may still miss in a row before it is jailed (lower bound)


def max_misses(params: oracle_pb2.Params) -> int:
    """The most misses a full window may hold without falling below ``min_valid_bps``."""
    required_valid = -(-params.min_valid_bps * params.window // 10_000)  # rounded up
    return params.window - required_valid


def rounds_before_jail(info: oracle_pb2.MissInfo, params: oracle_pb2.Params) -> int:
    """Counted rounds the validator may miss in a row from now before the one that jails it.

    A lower bound: each miss is assumed to overwrite a valid round of the ring (a miss overwriting an
    older miss leaves the count as it was), and no jail comes before the window has been seen whole.
    Only rounds in which some pair reached its 2/3 quorum are counted (docs/oracle.md, "Misses").
    """
    by_count = max(0, max_misses(params) - int(info.missed_in_window))
    until_full = max(0, int(params.window) - int(info.rounds_seen) - 1)
    return max(by_count, until_full)


def standing(ctx: Context, consensus_address: bytes) -> Standing:
    """The oracle standing of the validator with this consensus address."""
    params = keeper.get_params(ctx)
    operator = staking.operator_of(ctx, consensus_address)
    validator = staking.get_validator(ctx, operator) if operator is not None else None
    info = keeper.miss_info(ctx, consensus_address)
    return Standing(
        validator=validator is not None,
        jailed=validator is not None and validator.jailed,
        missed_in_window=int(info.missed_in_window),
        rounds_seen=int(info.rounds_seen),
        window=int(params.window),
        rounds_before_jail=rounds_before_jail(info, params),
    )
