"""Message handlers of the staking module: create-validator, delegate, undelegate, edit-validator.

Each handler parses and range-checks its message and calls the keeper; a failing message leaves no
state behind (the tx runner discards its branch).
"""

from __future__ import annotations

from cosmos.base.v1beta1 import coin_pb2
from cosmos.staking.v1beta1 import tx_pb2 as sdk_staking_pb2
from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
from abci_app.errors import shown
from abci_app.modules import MsgRoute
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking import keeper
from abci_app.tx.address import from_bech32, from_valoper_bech32, to_bech32


def handle_create_validator(
    ctx: Context, msg: staking_pb2.MsgCreateValidator
) -> staking_pb2.MsgCreateValidatorResponse:
    """Register the signer's validator and bond its self-bond (at least ``min_self_delegation``)."""
    operator = from_bech32(msg.operator_address, "operator_address")
    amount = bank.parse_amount(msg.self_bond, "self_bond")
    keeper.check_self_delegation(ctx, operator, amount, "create-validator")
    validator = keeper.create_validator(
        ctx, operator, msg.consensus_pubkey, amount, msg.description, msg.commission
    )
    ctx.emit(
        "create_validator",
        validator=validator.operator_address,
        moniker=validator.moniker,
        amount=f"{amount}{keeper.bond_denom(ctx)}",
    )
    return staking_pb2.MsgCreateValidatorResponse()


def handle_delegate(ctx: Context, msg: staking_pb2.MsgDelegate) -> staking_pb2.MsgDelegateResponse:
    """Bond the signer's tokens to a validator."""
    delegator = from_bech32(msg.delegator_address, "delegator_address")
    operator = from_bech32(msg.validator_address, "validator_address")
    amount = bank.parse_amount(msg.amount, "amount")
    return staking_pb2.MsgDelegateResponse(shares=str(keeper.delegate(ctx, delegator, operator, amount)))


def handle_undelegate(ctx: Context, msg: staking_pb2.MsgUndelegate) -> staking_pb2.MsgUndelegateResponse:
    """Start unbonding part of the signer's delegation.

    An operator whose own delegation falls below ``min_self_delegation`` is jailed, as the Cosmos
    SDK's x/staking does: it may always leave, but not stay in the set on less than the minimum.
    """
    delegator = from_bech32(msg.delegator_address, "delegator_address")
    operator = from_bech32(msg.validator_address, "validator_address")
    amount = bank.parse_amount(msg.amount, "amount")
    entry = keeper.undelegate(ctx, delegator, operator, amount)
    if delegator == operator and not keeper.require_validator(ctx, operator).jailed:
        remaining = keeper.self_delegation(ctx, operator)
        if remaining < keeper.min_self_delegation(ctx):
            keeper.jail(ctx, operator)
            ctx.emit(
                "jail_below_min_self_delegation",
                validator=msg.validator_address,
                self_delegation=f"{remaining}{keeper.bond_denom(ctx)}",
                min_self_delegation=f"{keeper.min_self_delegation(ctx)}{keeper.bond_denom(ctx)}",
            )
    return staking_pb2.MsgUndelegateResponse(completion_height=entry.completion_height, balance=entry.balance)


def handle_edit_validator(
    ctx: Context, msg: staking_pb2.MsgEditValidator
) -> staking_pb2.MsgEditValidatorResponse:
    """Change the signer's validator description or commission rate."""
    operator = from_bech32(msg.operator_address, "operator_address")
    rate = msg.commission_rate_bps if msg.HasField("commission_rate_bps") else None
    validator = keeper.edit_validator(ctx, operator, msg.description, rate)
    ctx.emit("edit_validator", validator=validator.operator_address, moniker=validator.moniker)
    return staking_pb2.MsgEditValidatorResponse()


def _amount(ctx: Context, coin: coin_pb2.Coin) -> str:
    denom = keeper.bond_denom(ctx)
    if coin.denom != denom:
        raise bank.INVALID_COINS(f"amount must be in the bond denom {denom}, got {shown(coin.denom, 40)}")
    return coin.amount


def handle_sdk_delegate(
    ctx: Context, msg: sdk_staking_pb2.MsgDelegate
) -> sdk_staking_pb2.MsgDelegateResponse:
    """``/cosmos.staking.v1beta1.MsgDelegate`` (validator as ``taskvaloper1...``, amount a Coin): our
    delegate."""
    operator = to_bech32(from_valoper_bech32(msg.validator_address))
    handle_delegate(
        ctx,
        staking_pb2.MsgDelegate(
            delegator_address=msg.delegator_address,
            validator_address=operator,
            amount=_amount(ctx, msg.amount),
        ),
    )
    return sdk_staking_pb2.MsgDelegateResponse()


def handle_sdk_undelegate(
    ctx: Context, msg: sdk_staking_pb2.MsgUndelegate
) -> sdk_staking_pb2.MsgUndelegateResponse:
    """``/cosmos.staking.v1beta1.MsgUndelegate``: our undelegate. The response's ``amount`` is the
    unbonding balance; ``completion_time`` stays unset (unbonding completes at a height here, which
    ``taskmaster.staking.v1.MsgUndelegateResponse`` gives)."""
    operator = to_bech32(from_valoper_bech32(msg.validator_address))
    response = handle_undelegate(
        ctx,
        staking_pb2.MsgUndelegate(
            delegator_address=msg.delegator_address,
            validator_address=operator,
            amount=_amount(ctx, msg.amount),
        ),
    )
    return sdk_staking_pb2.MsgUndelegateResponse(
        amount=coin_pb2.Coin(denom=keeper.bond_denom(ctx), amount=response.balance)
    )


ROUTES = (
    MsgRoute(sdk_staking_pb2.MsgDelegate, lambda m: m.delegator_address, handle_sdk_delegate),
    MsgRoute(sdk_staking_pb2.MsgUndelegate, lambda m: m.delegator_address, handle_sdk_undelegate),
    MsgRoute(staking_pb2.MsgCreateValidator, lambda m: m.operator_address, handle_create_validator),
    MsgRoute(staking_pb2.MsgDelegate, lambda m: m.delegator_address, handle_delegate),
    MsgRoute(staking_pb2.MsgUndelegate, lambda m: m.delegator_address, handle_undelegate),
    MsgRoute(staking_pb2.MsgEditValidator, lambda m: m.operator_address, handle_edit_validator),
)
