"""Message handlers of the staking module: create-validator, delegate, undelegate, edit-validator.

Each handler parses and range-checks its message and calls the keeper; a failing message leaves no
state behind (the tx runner discards its branch).
"""

from __future__ import annotations

from cosmos.base.v1beta1 import coin_pb2
from cosmos.crypto.ed25519 import keys_pb2 as ed25519_pb2
from cosmos.staking.v1beta1 import staking_pb2 as sdk_staking_types_pb2
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


DEC_PER_BPS = 10**14
"""A LegacyDec on the wire is its value times 10^18 as an integer string (cosmjs: ``Decimal.atomics``):
one basis point is 10^14 of it."""


def _bps(text: str, field: str) -> int:
    """A LegacyDec rate (``"100000000000000000"`` = 0.1) in basis points; whole basis points only."""
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) % DEC_PER_BPS:
        raise keeper.INVALID_VALIDATOR(
            f"{field} {shown(text, 40)} must be a rate of whole basis points written as the SDK's Dec wire "
            "form, 10^18 times the rate (0.1 = 100000000000000000)"
        )
    return int(text) // DEC_PER_BPS


def _description(sdk: sdk_staking_types_pb2.Description) -> staking_pb2.Description:
    return staking_pb2.Description(
        moniker=sdk.moniker,
        identity=sdk.identity,
        website=sdk.website,
        security_contact=sdk.security_contact,
        details=sdk.details,
    )


def handle_sdk_create_validator(
    ctx: Context, msg: sdk_staking_pb2.MsgCreateValidator
) -> sdk_staking_pb2.MsgCreateValidatorResponse:
    """``/cosmos.staking.v1beta1.MsgCreateValidator``: the operator as ``taskvaloper1...``, the
    consensus key an ``/cosmos.crypto.ed25519.PubKey`` Any, the self-bond ``value`` a Coin, rates as
    Dec; ``min_self_delegation`` at most the self-bond (the chain-wide param applies on top)."""
    operator = to_bech32(from_valoper_bech32(msg.validator_address))
    if msg.pubkey.type_url != "/cosmos.crypto.ed25519.PubKey":
        raise keeper.INVALID_VALIDATOR(
            "pubkey must be a /cosmos.crypto.ed25519.PubKey (CometBFT's consensus key)"
        )
    pubkey = ed25519_pb2.PubKey()
    if not msg.pubkey.Unpack(pubkey):
        raise keeper.INVALID_VALIDATOR("pubkey does not decode as a cosmos.crypto.ed25519.PubKey")
    amount = _amount(ctx, msg.value)
    if msg.min_self_delegation and (
        not msg.min_self_delegation.isdigit()
        or len(msg.min_self_delegation) > 40
        or int(msg.min_self_delegation) > int(amount or "0")
    ):
        raise keeper.INVALID_VALIDATOR(
            "min_self_delegation must be an integer no larger than the self-bond value"
        )
    handle_create_validator(
        ctx,
        staking_pb2.MsgCreateValidator(
            operator_address=operator,
            consensus_pubkey=pubkey.key,
            self_bond=amount,
            description=_description(msg.description),
            commission=staking_pb2.CommissionRates(
                rate_bps=_bps(msg.commission.rate, "commission.rate"),
                max_rate_bps=_bps(msg.commission.max_rate, "commission.max_rate"),
                max_change_rate_bps=_bps(msg.commission.max_change_rate, "commission.max_change_rate"),
            ),
        ),
    )
    return sdk_staking_pb2.MsgCreateValidatorResponse()


def handle_sdk_edit_validator(
    ctx: Context, msg: sdk_staking_pb2.MsgEditValidator
) -> sdk_staking_pb2.MsgEditValidatorResponse:
    """``/cosmos.staking.v1beta1.MsgEditValidator``: description fields ``[do-not-modify]`` keep their
    value; an empty ``commission_rate`` keeps the rate; ``min_self_delegation`` cannot be changed here
    (the chain-wide param applies)."""
    if msg.min_self_delegation:
        raise keeper.INVALID_VALIDATOR("min_self_delegation is a chain-wide param here; leave it empty")
    edit = staking_pb2.MsgEditValidator(
        operator_address=to_bech32(from_valoper_bech32(msg.validator_address)),
        description=_description(msg.description),
    )
    if msg.commission_rate:
        edit.commission_rate_bps = _bps(msg.commission_rate, "commission_rate")
    handle_edit_validator(ctx, edit)
    return sdk_staking_pb2.MsgEditValidatorResponse()


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
    MsgRoute(
        sdk_staking_pb2.MsgCreateValidator,
        lambda m: to_bech32(from_valoper_bech32(m.validator_address)),
        handle_sdk_create_validator,
    ),
    MsgRoute(
        sdk_staking_pb2.MsgEditValidator,
        lambda m: to_bech32(from_valoper_bech32(m.validator_address)),
        handle_sdk_edit_validator,
    ),
    MsgRoute(sdk_staking_pb2.MsgDelegate, lambda m: m.delegator_address, handle_sdk_delegate),
    MsgRoute(sdk_staking_pb2.MsgUndelegate, lambda m: m.delegator_address, handle_sdk_undelegate),
    MsgRoute(staking_pb2.MsgCreateValidator, lambda m: m.operator_address, handle_create_validator),
    MsgRoute(staking_pb2.MsgDelegate, lambda m: m.delegator_address, handle_delegate),
    MsgRoute(staking_pb2.MsgUndelegate, lambda m: m.delegator_address, handle_undelegate),
    MsgRoute(staking_pb2.MsgEditValidator, lambda m: m.operator_address, handle_edit_validator),
)
