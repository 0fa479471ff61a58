"""Paying the proposer: the block's collected fees go to its operator account."""

from __future__ import annotations

from abci_app.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking import keeper as staking
from abci_app.tx.address import to_bech32
from abci_app.tx.ante import FEE_COLLECTOR


def pay_proposer(ctx: Context) -> None:
    """Move every fee collected in this block to the proposer's operator account.

    Fees stay in the collector when the proposer is unknown (no proposer, or not a validator of
    staking's) or jailed (CometBFT still lets a validator jailed at ``h`` propose until its removal
    applies at ``h + 2``), and go to the next eligible proposer with that block's.
    """
    collected = bank.balance(ctx, FEE_COLLECTOR, bank.NATIVE_DENOM)
    operator = staking.operator_of(ctx, ctx.proposer) if ctx.proposer else None
    validator = staking.get_validator(ctx, operator) if operator is not None else None
    if collected and operator is not None and validator is not None and not validator.jailed:
        bank.send(ctx, FEE_COLLECTOR, operator, bank.NATIVE_DENOM, collected)
        ctx.emit("proposer_reward", proposer=to_bech32(operator), amount=f"{collected}{bank.NATIVE_DENOM}")
