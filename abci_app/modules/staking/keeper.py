"""Validator records and the keeper API other modules use to change voting power.

Staking owns its validators: other modules jail, unjail and slash them only through :func:`jail`,
:func:`unjail` and :func:`slash` (as Cosmos SDK's x/slashing calls staking's keeper), never by editing a
record. Power changes are recorded as pending updates; staking's end-block hook (the last one) pops
them into FinalizeBlock's ``validator_updates`` (sorted by operator address, so every node agrees).
"""

from __future__ import annotations

from taskmaster.staking.v1 import staking_pb2
from tendermint.abci import types_pb2 as abci
from tendermint.crypto import keys_pb2

from abci_app.context import Context
from abci_app.errors import register
from abci_app.modules import module_address
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking.keys import (
    PARAMS,
    PENDING_PREFIX,
    STORE,
    VALIDATOR_PREFIX,
    by_consensus_key,
    pending_key,
    validator_key,
)
from abci_app.tx.address import address_from_pubkey

UNKNOWN_VALIDATOR = register("staking", 2, "unknown validator")
INVALID_VALIDATOR = register("staking", 3, "invalid validator")

BONDED_POOL = module_address("bonded_pool")
DEFAULT_PARAMS = staking_pb2.Params(power_reduction="1000000", bond_denom="utask")


def get_params(ctx: Context) -> staking_pb2.Params:
    """Staking params (defaults before genesis)."""
    raw = ctx.store(STORE).get(PARAMS)
    return staking_pb2.Params.FromString(raw) if raw is not None else DEFAULT_PARAMS


def set_params(ctx: Context, params: staking_pb2.Params) -> None:
    """Replace staking params after checking them."""
    reduction = params.power_reduction
    if not (reduction.isascii() and reduction.isdigit()) or int(reduction) == 0:
        raise ValueError(f"staking params: power_reduction {reduction!r} must be a positive integer (utask)")
    if not params.bond_denom:
        raise ValueError("staking params: bond_denom must be set (e.g. utask)")
    ctx.store(STORE).set(PARAMS, params.SerializeToString(deterministic=True))


def power_from_tokens(ctx: Context, tokens: int) -> int:
    """Voting power of ``tokens`` bonded utask."""
    return tokens // int(get_params(ctx).power_reduction)


def get_validator(ctx: Context, operator: bytes) -> staking_pb2.Validator | None:
    """The validator operated by ``operator``, or None."""
    raw = ctx.store(STORE).get(validator_key(operator))
    return staking_pb2.Validator.FromString(raw) if raw is not None else None


def operator_of(ctx: Context, consensus_address: bytes) -> bytes | None:
    """The operator address of the validator with this CometBFT (consensus) address."""
    return ctx.store(STORE).get(by_consensus_key(consensus_address))


def validators(ctx: Context) -> list[tuple[bytes, staking_pb2.Validator]]:
    """All validators, sorted by operator address."""
    return [
        (k[1:], staking_pb2.Validator.FromString(v))
        for k, v in ctx.store(STORE).iterate_prefix(VALIDATOR_PREFIX)
    ]


def set_validator(ctx: Context, operator: bytes, validator: staking_pb2.Validator) -> None:
    """Store a validator record, index its consensus address, and mark its power as changed."""
    if len(validator.consensus_pubkey) != 32:
        raise INVALID_VALIDATOR(f"consensus_pubkey must be 32 bytes, got {len(validator.consensus_pubkey)}")
    store = ctx.store(STORE)
    store.set(validator_key(operator), validator.SerializeToString(deterministic=True))
    store.set(by_consensus_key(address_from_pubkey(validator.consensus_pubkey)), operator)
    store.set(pending_key(operator), b"")


def set_power(ctx: Context, operator: bytes, power: int, *, jailed: bool | None = None) -> None:
    """Change a validator's voting power (0 removes it from the CometBFT set) and optionally its jail flag."""
    validator = _require_validator(ctx, operator)
    validator.power = power
    if jailed is not None:
        validator.jailed = jailed
    set_validator(ctx, operator, validator)


def _require_validator(ctx: Context, operator: bytes) -> staking_pb2.Validator:
    validator = get_validator(ctx, operator)
    if validator is None:
        raise UNKNOWN_VALIDATOR(f"no validator is operated by {operator.hex()}")
    return validator


def slash(ctx: Context, operator: bytes, fraction_bps: int) -> int:
    """Burn ``fraction_bps``/10,000 of the validator's bonded tokens from the bonded pool; the amount."""
    validator = _require_validator(ctx, operator)
    tokens = int(validator.tokens)
    slashed = tokens * fraction_bps // 10_000
    if slashed:
        bank.burn(ctx, BONDED_POOL, get_params(ctx).bond_denom, slashed)
        validator.tokens = str(tokens - slashed)
        set_validator(ctx, operator, validator)
    return slashed


def jail(ctx: Context, operator: bytes) -> None:
    """Take the validator out of the CometBFT set (power 0, jailed) until :func:`unjail`."""
    set_power(ctx, operator, 0, jailed=True)


def unjail(ctx: Context, operator: bytes) -> int:
    """Put a jailed validator back with the power of its bonded tokens; that power.

    Raises INVALID_VALIDATOR when its tokens (after slashing) are less than one unit of power.
    """
    validator = _require_validator(ctx, operator)
    power = power_from_tokens(ctx, int(validator.tokens))
    if power <= 0:
        raise INVALID_VALIDATOR(f"{validator.tokens} bonded tokens are less than one unit of power")
    validator.power = power
    validator.jailed = False
    set_validator(ctx, operator, validator)
    return power


def bond_denom(ctx: Context) -> str:
    """The denom validators bond (and are slashed in)."""
    return get_params(ctx).bond_denom


def pop_validator_updates(ctx: Context) -> list[abci.ValidatorUpdate]:
    """The updates of validators whose power changed this block; clears the pending marks."""
    store = ctx.store(STORE)
    pending = [k for k, _ in store.iterate_prefix(PENDING_PREFIX)]
    updates = []
    for key in pending:
        store.delete(key)
        validator = get_validator(ctx, key[1:])
        if validator is not None:
            updates.append(validator_update(validator))
    return updates


def validator_update(validator: staking_pb2.Validator) -> abci.ValidatorUpdate:
    """The CometBFT validator update of a validator record."""
    return abci.ValidatorUpdate(
        pub_key=keys_pb2.PublicKey(ed25519=validator.consensus_pubkey),
        power=0 if validator.jailed else validator.power,
    )


def total_power(ctx: Context) -> int:
    """Sum of the voting power of unjailed validators."""
    return sum(v.power for _, v in validators(ctx) if not v.jailed)
