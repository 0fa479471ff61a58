"""Message handlers of the oracle module: MsgUnjail (ours, and the SDK's ``cosmos.slashing.v1beta1``)."""

from __future__ import annotations

from cosmos.slashing.v1beta1 import tx_pb2 as slashing_pb2
from taskmaster.oracle.v1 import oracle_pb2

from abci_app.context import Context
from abci_app.modules import MsgRoute
from abci_app.modules.oracle import keeper
from abci_app.modules.oracle.keys import STORE, jail_key
from abci_app.modules.staking import keeper as staking
from abci_app.tx.address import address_from_pubkey, from_bech32, from_valoper_bech32, to_bech32


def handle_unjail(ctx: Context, msg: oracle_pb2.MsgUnjail) -> oracle_pb2.MsgUnjailResponse:
    """Restore a jailed validator's power once its jail period is over; misses then wait a grace period."""
    operator = from_bech32(msg.operator_address, "operator_address")
    validator = staking.get_validator(ctx, operator)
    if validator is None:
        raise staking.UNKNOWN_VALIDATOR(f"{msg.operator_address} operates no validator")
    if not validator.jailed:
        raise keeper.NOT_JAILED(f"validator of {msg.operator_address} is not jailed")
    consensus = address_from_pubkey(validator.consensus_pubkey)
    record = keeper.jail_record(ctx, consensus)
    if record is not None and ctx.height < record.jailed_until:
        raise keeper.STILL_JAILED(
            f"jailed until height {record.jailed_until}; this is height {ctx.height}: wait "
            f"{record.jailed_until - ctx.height} more blocks"
        )
    power = staking.unjail(ctx, operator)
    params = keeper.get_params(ctx)
    grace = params.grace_rounds * max(params.interval_blocks, 1)
    keeper.reset_misses(ctx, consensus, ctx.height + grace)
    if record is not None:
        record.active = False
        ctx.store(STORE).set(jail_key(consensus), record.SerializeToString(deterministic=True))
    ctx.emit("ValidatorUnjailed", operator=msg.operator_address, power=str(power))
    return oracle_pb2.MsgUnjailResponse()


def handle_sdk_unjail(ctx: Context, msg: slashing_pb2.MsgUnjail) -> slashing_pb2.MsgUnjailResponse:
    """``/cosmos.slashing.v1beta1.MsgUnjail`` (the operator as ``taskvaloper1...``): our unjail."""
    operator = to_bech32(from_valoper_bech32(msg.validator_addr, "validator_addr"))
    handle_unjail(ctx, oracle_pb2.MsgUnjail(operator_address=operator))
    return slashing_pb2.MsgUnjailResponse()


ROUTES = (
    MsgRoute(
        slashing_pb2.MsgUnjail,
        lambda m: to_bech32(from_valoper_bech32(m.validator_addr, "validator_addr")),
        handle_sdk_unjail,
    ),
    MsgRoute(oracle_pb2.MsgUnjail, lambda m: m.operator_address, handle_unjail),
)
