"""Bank invariants, run by tests after blocks: supply is conserved and no balance is zero or negative."""

from __future__ import annotations

from abci_app.context import Context
from abci_app.modules.bank.keys import BALANCE_PREFIX, STORE, SUPPLY_PREFIX


class InvariantBroken(AssertionError):
    """A module invariant does not hold: the state is corrupt."""


def supply_matches_balances(ctx: Context) -> None:
    """For every denom, the recorded supply equals the sum of all balances."""
    totals: dict[str, int] = {}
    for key, value in ctx.store(STORE).iterate_prefix(BALANCE_PREFIX):
        denom = key[21:].decode()
        amount = int.from_bytes(value, "big")
        if amount <= 0 or len(value) != 32:
            raise InvariantBroken(f"balance at {key.hex()} is {amount} ({len(value)} bytes)")
        totals[denom] = totals.get(denom, 0) + amount
    recorded = {
        k[1:].decode(): int.from_bytes(v, "big") for k, v in ctx.store(STORE).iterate_prefix(SUPPLY_PREFIX)
    }
    if recorded != totals:
        raise InvariantBroken(
            f"supply {sorted(recorded.items())} != sum of balances {sorted(totals.items())}"
        )
