"""Validators, delegations, unbonding and the active set: the keeper API staking's handlers and others use.

The model is Cosmos SDK's x/staking, in integers:

* A validator holds ``tokens`` (utask in the bonded pool) and issues ``delegator_shares``; a delegation
  holds shares. A delegation is worth ``shares * tokens // delegator_shares``, so a slash (which burns
  tokens, not shares) reaches every delegator in proportion.
* ``power = tokens // power_reduction`` (0 when jailed). The *active set* is the top ``max_validators``
  unjailed validators by power, ties broken by the lower operator address; it is what CometBFT has.
* An undelegation moves tokens to the unbonding pool at once and pays them out at the end-block of
  ``height + unbonding_blocks``.

Other modules change validators only through :func:`jail`, :func:`unjail` and :func:`slash` (as
x/slashing calls x/staking). Every change marks the validator; staking's end-block (the last one)
recomputes the active set only when something was marked and answers CometBFT with the difference
(power 0 for a validator that leaves), sorted by operator address so every node agrees.

The set-change guard (:func:`check_set_change`): whatever lowers a member's power in a block (jail,
slash, undelegate) is refused once the block would take 1/3 or more of the power CometBFT has away
from its members, so the set is never emptied and never handed in one block to a validator holding a
fraction of it; the active set therefore always equals the top candidates (docs/staking.md).
"""

from __future__ import annotations

from itertools import islice

from taskmaster.staking.v1 import staking_pb2
from tendermint.abci import types_pb2 as abci
from tendermint.crypto import keys_pb2

from abci_app.context import Context
from abci_app.errors import register
from abci_app.modules import module_address, u64
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking.keys import (
    BY_VALIDATOR_PREFIX,
    DELEGATION_PREFIX,
    LAST_POWER_PREFIX,
    NEXT_UNBONDING_ID,
    PARAMS,
    PENDING_PREFIX,
    POWER_INDEX_PREFIX,
    STORE,
    UNBONDING_BY_DELEGATOR_PREFIX,
    UNBONDING_QUEUE_PREFIX,
    VALIDATOR_PREFIX,
    by_consensus_key,
    by_validator_key,
    delegation_key,
    last_power_key,
    pending_key,
    power_index_key,
    unbonding_by_delegator_key,
    unbonding_queue_key,
    validator_key,
)
from abci_app.tx.address import address_from_pubkey, from_bech32, to_bech32

UNKNOWN_VALIDATOR = register("staking", 2, "unknown validator")
INVALID_VALIDATOR = register("staking", 3, "invalid validator")
VALIDATOR_EXISTS = register("staking", 4, "validator exists")
INVALID_DELEGATION = register("staking", 5, "invalid delegation")
INSUFFICIENT_DELEGATION = register("staking", 6, "insufficient delegation")
TOO_MANY_UNBONDINGS = register("staking", 7, "too many unbonding entries")
INVALID_DESCRIPTION = register("staking", 8, "invalid description")
INVALID_COMMISSION = register("staking", 9, "invalid commission")
POWER_LIMIT = register("staking", 10, "voting power limit")
SELF_DELEGATION_BELOW_MINIMUM = register("staking", 11, "self-delegation below minimum")
SET_CHANGE_LIMIT = register("staking", 21, "validator set change limit")

BONDED_POOL = module_address("bonded_pool")
UNBONDING_POOL = module_address("unbonding_pool")
DEFAULT_PARAMS = staking_pb2.Params(
    power_reduction="1000000",
    bond_denom="utask",
    max_validators=100,
    unbonding_blocks=100,
    min_self_delegation="1000000",  # one unit of power: a validator costs a bond, not dust
)
MAX_VALIDATORS_LIMIT = 10_000  # CometBFT's MaxVotesCount
MAX_UNBONDING_BLOCKS = 10**9
MAX_ENTRIES = 7  # pending unbondings per delegator and validator (the SDK's default max_entries)
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8  # CometBFT's MaxTotalVotingPower
DO_NOT_MODIFY = "[do-not-modify]"
DESCRIPTION_LIMITS = {
    "moniker": 70,
    "identity": 3000,
    "website": 140,
    "security_contact": 140,
    "details": 280,
}


# -- params ----------------------------------------------------------------------------------------


def get_params(ctx: Context) -> staking_pb2.Params:
    """Staking params (defaults before genesis)."""
    raw = ctx.store(STORE).get(PARAMS)
    return staking_pb2.Params.FromString(raw) if raw is not None else DEFAULT_PARAMS


def set_params(ctx: Context, params: staking_pb2.Params) -> None:
    """Replace staking params after checking them (ValueError says which field to change)."""
    reduction = params.power_reduction
    if not (reduction.isascii() and reduction.isdigit() and len(reduction) <= 30) or int(reduction) == 0:
        raise ValueError(f"staking params: power_reduction {reduction!r} must be a positive integer (utask)")
    if not params.bond_denom:
        raise ValueError("staking params: bond_denom must be set (e.g. utask)")
    if not 1 <= params.max_validators <= MAX_VALIDATORS_LIMIT:
        raise ValueError(f"staking params: max_validators must be 1..{MAX_VALIDATORS_LIMIT}")
    if not 1 <= params.unbonding_blocks <= MAX_UNBONDING_BLOCKS:
        raise ValueError(f"staking params: unbonding_blocks must be 1..{MAX_UNBONDING_BLOCKS}")
    minimum = params.min_self_delegation
    if minimum and not (minimum.isascii() and minimum.isdigit() and len(minimum) <= 30):
        raise ValueError(
            f"staking params: min_self_delegation {minimum[:40]!r} must be a whole number of utask "
            "(0 for none; default 1000000)"
        )
    ctx.store(STORE).set(PARAMS, params.SerializeToString(deterministic=True))


def bond_denom(ctx: Context) -> str:
    """The denom validators bond (and are slashed in)."""
    return get_params(ctx).bond_denom


def min_self_delegation(ctx: Context) -> int:
    """utask a validator's operator must keep delegated to it (0: no minimum)."""
    return int(get_params(ctx).min_self_delegation or "0")


def self_delegation(ctx: Context, operator: bytes) -> int:
    """utask the operator's own delegation to its validator is worth now (0 without either)."""
    validator = get_validator(ctx, operator)
    held = get_delegation(ctx, operator, operator)
    return token_value(validator, int(held.shares)) if validator is not None and held is not None else 0


def check_self_delegation(ctx: Context, operator: bytes, amount: int, action: str) -> None:
    """SELF_DELEGATION_BELOW_MINIMUM when ``amount`` is below the ``min_self_delegation`` param."""
    minimum = min_self_delegation(ctx)
    if amount < minimum:
        raise SELF_DELEGATION_BELOW_MINIMUM(
            f"{action} needs a self-delegation of at least {minimum}{bond_denom(ctx)} (staking param "
            f"min_self_delegation); the operator's is {amount}{bond_denom(ctx)}"
        )


def power_from_tokens(ctx: Context, tokens: int) -> int:
    """Voting power of ``tokens`` bonded utask."""
    return tokens // int(get_params(ctx).power_reduction)


# -- validators ------------------------------------------------------------------------------------


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


def _is_candidate(validator: staking_pb2.Validator) -> bool:
    return not validator.jailed and validator.power > 0


def set_validator(ctx: Context, operator: bytes, validator: staking_pb2.Validator) -> None:
    """Store a validator record, index its consensus address and power, and mark it changed."""
    if len(validator.consensus_pubkey) != 32:
        raise INVALID_VALIDATOR(f"consensus_pubkey must be 32 bytes, got {len(validator.consensus_pubkey)}")
    store = ctx.store(STORE)
    old = get_validator(ctx, operator)
    if old is not None and _is_candidate(old):
        store.delete(power_index_key(old.power, operator))
    store.set(validator_key(operator), validator.SerializeToString(deterministic=True))
    store.set(by_consensus_key(address_from_pubkey(validator.consensus_pubkey)), operator)
    if _is_candidate(validator):
        store.set(power_index_key(validator.power, operator), b"")
    store.set(pending_key(operator), b"")


def _save(ctx: Context, operator: bytes, validator: staking_pb2.Validator) -> None:
    """Store ``validator`` with its power recomputed from its tokens (0 when jailed)."""
    validator.power = 0 if validator.jailed else power_from_tokens(ctx, int(validator.tokens or "0"))
    set_validator(ctx, operator, validator)


def require_validator(ctx: Context, operator: bytes) -> staking_pb2.Validator:
    """The validator of ``operator``; UNKNOWN_VALIDATOR when there is none."""
    validator = get_validator(ctx, operator)
    if validator is None:
        raise UNKNOWN_VALIDATOR(f"no validator is operated by {to_bech32(operator)}; check the address")
    return validator


def slash(ctx: Context, operator: bytes, fraction_bps: int) -> int:
    """Burn ``fraction_bps``/10,000 of the validator's tokens from the bonded pool; the amount burnt.

    Shares stay, so every delegation loses the same fraction of its worth.
    """
    validator = require_validator(ctx, operator)
    tokens = int(validator.tokens)
    slashed = tokens * fraction_bps // 10_000
    if slashed:
        bank.burn(ctx, BONDED_POOL, get_params(ctx).bond_denom, slashed)
        validator.tokens = str(tokens - slashed)
        _save(ctx, operator, validator)
        check_set_change(ctx, f"slashing {validator.operator_address}")
    return slashed


def jail(ctx: Context, operator: bytes) -> None:
    """Take the validator out of the active set (power 0, jailed) until :func:`unjail`."""
    validator = require_validator(ctx, operator)
    validator.jailed = True
    _save(ctx, operator, validator)
    check_set_change(ctx, f"jailing {validator.operator_address}")


def unjail(ctx: Context, operator: bytes) -> int:
    """Make a jailed validator a candidate again with the power of its tokens; that power.

    Raises INVALID_VALIDATOR when its tokens (after slashing) are less than one unit of power, and
    SELF_DELEGATION_BELOW_MINIMUM when the operator's own delegation is below ``min_self_delegation``.
    """
    validator = require_validator(ctx, operator)
    power = power_from_tokens(ctx, int(validator.tokens))
    if power <= 0:
        raise INVALID_VALIDATOR(
            f"{validator.tokens} bonded tokens are less than one unit of power "
            f"({get_params(ctx).power_reduction}); delegate more before unjailing"
        )
    check_self_delegation(ctx, operator, self_delegation(ctx, operator), "unjailing")
    validator.jailed = False
    _save(ctx, operator, validator)
    return power


def check_description(description: staking_pb2.Description) -> None:
    """Each field printable and within the SDK's lengths; a moniker is required."""
    for name, limit in DESCRIPTION_LIMITS.items():
        value = getattr(description, name)
        if len(value) > limit or not value.isprintable():
            raise INVALID_DESCRIPTION(f"{name} must be printable and at most {limit} characters")
    if not description.moniker.strip():
        raise INVALID_DESCRIPTION("moniker must not be empty; give the validator a name")


def check_commission(commission: staking_pb2.CommissionRates) -> None:
    """``rate <= max_rate <= 10000`` and ``max_change_rate <= max_rate`` (basis points)."""
    if commission.max_rate_bps > 10_000:
        raise INVALID_COMMISSION(f"max_rate_bps {commission.max_rate_bps} must be at most 10000")
    if commission.rate_bps > commission.max_rate_bps:
        raise INVALID_COMMISSION(
            f"rate_bps {commission.rate_bps} exceeds max_rate_bps {commission.max_rate_bps}"
        )
    if commission.max_change_rate_bps > commission.max_rate_bps:
        raise INVALID_COMMISSION(
            f"max_change_rate_bps {commission.max_change_rate_bps} exceeds max_rate_bps "
            f"{commission.max_rate_bps}"
        )


def create_validator(
    ctx: Context,
    operator: bytes,
    consensus_pubkey: bytes,
    self_bond: int,
    description: staking_pb2.Description,
    commission: staking_pb2.CommissionRates,
) -> staking_pb2.Validator:
    """Register a validator operated by ``operator`` and bond ``self_bond`` from its balance."""
    if get_validator(ctx, operator) is not None:
        raise VALIDATOR_EXISTS(f"{to_bech32(operator)} already operates a validator; use edit-validator")
    if len(consensus_pubkey) != 32:
        raise INVALID_VALIDATOR(
            f"consensus_pubkey must be 32 bytes of ed25519, got {len(consensus_pubkey)}; "
            "take it from the node's priv_validator_key.json"
        )
    if operator_of(ctx, address_from_pubkey(consensus_pubkey)) is not None:
        raise INVALID_VALIDATOR("this consensus key is already used by a validator; each node needs its own")
    check_description(description)
    check_commission(commission)
    validator = staking_pb2.Validator(
        operator_address=to_bech32(operator),
        consensus_pubkey=consensus_pubkey,
        tokens="0",
        delegator_shares="0",
        moniker=description.moniker,
        description=description,
        commission=commission,
    )
    _save(ctx, operator, validator)
    delegate(ctx, operator, operator, self_bond)
    return require_validator(ctx, operator)


def edit_validator(
    ctx: Context, operator: bytes, description: staking_pb2.Description, commission_rate_bps: int | None
) -> staking_pb2.Validator:
    """Change description fields (``[do-not-modify]`` keeps one) and the informational commission rate."""
    validator = require_validator(ctx, operator)
    merged = staking_pb2.Description()
    merged.CopyFrom(validator.description)
    merged.moniker = validator.moniker
    for name in DESCRIPTION_LIMITS:
        value = getattr(description, name)
        if value != DO_NOT_MODIFY:
            setattr(merged, name, value)
    check_description(merged)
    commission = staking_pb2.CommissionRates()
    commission.CopyFrom(validator.commission)
    if commission_rate_bps is not None:
        change = abs(commission_rate_bps - commission.rate_bps)
        if change > commission.max_change_rate_bps:
            raise INVALID_COMMISSION(
                f"rate may change by at most {commission.max_change_rate_bps} bps, not {change}"
            )
        commission.rate_bps = commission_rate_bps
        check_commission(commission)
    validator.description.CopyFrom(merged)
    validator.moniker = merged.moniker
    validator.commission.CopyFrom(commission)
    set_validator(ctx, operator, validator)
    return validator


# -- delegations -----------------------------------------------------------------------------------


def get_delegation(ctx: Context, delegator: bytes, operator: bytes) -> staking_pb2.Delegation | None:
    """The delegation of ``delegator`` to the validator of ``operator``, or None."""
    raw = ctx.store(STORE).get(delegation_key(delegator, operator))
    return staking_pb2.Delegation.FromString(raw) if raw is not None else None


def delegations_of(ctx: Context, delegator: bytes) -> list[staking_pb2.Delegation]:
    """A delegator's delegations, sorted by validator operator address."""
    prefix = DELEGATION_PREFIX + delegator
    return [staking_pb2.Delegation.FromString(v) for _, v in ctx.store(STORE).iterate_prefix(prefix)]


def delegations_to(ctx: Context, operator: bytes) -> list[staking_pb2.Delegation]:
    """The delegations to a validator, sorted by delegator address."""
    store = ctx.store(STORE)
    found = []
    for key, _ in store.iterate_prefix(BY_VALIDATOR_PREFIX + operator):
        delegation = get_delegation(ctx, key[21:], operator)
        if delegation is not None:
            found.append(delegation)
    return found


def all_delegations(ctx: Context) -> list[staking_pb2.Delegation]:
    """Every delegation, sorted by delegator then validator."""
    return [
        staking_pb2.Delegation.FromString(v) for _, v in ctx.store(STORE).iterate_prefix(DELEGATION_PREFIX)
    ]


def set_delegation(ctx: Context, delegator: bytes, operator: bytes, shares: int) -> None:
    """Store a delegation of ``shares`` (deleting it at 0) and its index under the validator."""
    store = ctx.store(STORE)
    if shares == 0:
        store.delete(delegation_key(delegator, operator))
        store.delete(by_validator_key(operator, delegator))
        return
    record = staking_pb2.Delegation(
        delegator_address=to_bech32(delegator), validator_address=to_bech32(operator), shares=str(shares)
    )
    store.set(delegation_key(delegator, operator), record.SerializeToString(deterministic=True))
    store.set(by_validator_key(operator, delegator), b"")


def token_value(validator: staking_pb2.Validator, shares: int) -> int:
    """utask that ``shares`` of ``validator`` are worth now (rounded down; all tokens for all shares)."""
    total = int(validator.delegator_shares or "0")
    tokens = int(validator.tokens or "0")
    if total == 0:
        return 0
    return tokens if shares == total else shares * tokens // total


def delegate(ctx: Context, delegator: bytes, operator: bytes, amount: int) -> int:
    """Bond ``amount`` utask from ``delegator``'s balance to the validator; the shares issued."""
    validator = require_validator(ctx, operator)
    params = get_params(ctx)
    tokens = int(validator.tokens or "0")
    total_shares = int(validator.delegator_shares or "0")
    if total_shares and not tokens:
        raise INVALID_DELEGATION(
            f"validator {validator.operator_address} has been slashed to zero tokens; delegate elsewhere"
        )
    shares = amount if total_shares == 0 else amount * total_shares // tokens
    if shares <= 0:
        raise INVALID_DELEGATION(
            f"{amount}{params.bond_denom} buys no share of this validator; delegate more"
        )
    pool = bank.balance(ctx, BONDED_POOL, params.bond_denom)
    if (pool + amount) // int(params.power_reduction) > MAX_TOTAL_VOTING_POWER:
        raise POWER_LIMIT(f"bonding {amount} would take total voting power past CometBFT's limit")
    bank.send(ctx, delegator, BONDED_POOL, params.bond_denom, amount)
    held = get_delegation(ctx, delegator, operator)
    set_delegation(ctx, delegator, operator, (int(held.shares) if held else 0) + shares)
    validator.tokens = str(tokens + amount)
    validator.delegator_shares = str(total_shares + shares)
    _save(ctx, operator, validator)
    ctx.emit(
        "delegate",
        delegator=to_bech32(delegator),
        validator=validator.operator_address,
        amount=f"{amount}{params.bond_denom}",
        new_shares=str(shares),
    )
    return shares


def _unbond_shares(validator: staking_pb2.Validator, held: int, amount: int) -> int:
    """Shares to remove to take out ``amount`` utask (rounded up, at most ``held``)."""
    worth = token_value(validator, held)
    if amount > worth:
        raise INSUFFICIENT_DELEGATION(f"the delegation is worth {worth}; undelegate at most that much")
    total = int(validator.delegator_shares)
    return min(held, -(-amount * total // int(validator.tokens)))


def undelegate(ctx: Context, delegator: bytes, operator: bytes, amount: int) -> staking_pb2.UnbondingEntry:
    """Unbond ``amount`` utask of a delegation into the unbonding queue; the entry created."""
    validator = require_validator(ctx, operator)
    held = get_delegation(ctx, delegator, operator)
    if held is None:
        raise INSUFFICIENT_DELEGATION(
            f"{to_bech32(delegator)} has no delegation to {validator.operator_address}"
        )
    if _pending_entries(ctx, delegator, operator) >= MAX_ENTRIES:
        raise TOO_MANY_UNBONDINGS(
            f"{MAX_ENTRIES} unbondings from this validator are pending; wait for one to complete"
        )
    shares = _unbond_shares(validator, int(held.shares), amount)
    returned = token_value(validator, shares)
    params = get_params(ctx)
    set_delegation(ctx, delegator, operator, int(held.shares) - shares)
    validator.tokens = str(int(validator.tokens) - returned)
    validator.delegator_shares = str(int(validator.delegator_shares) - shares)
    _save(ctx, operator, validator)
    check_set_change(ctx, f"undelegating {amount}{params.bond_denom} from {validator.operator_address}")
    bank.send(ctx, BONDED_POOL, UNBONDING_POOL, params.bond_denom, returned)
    entry = staking_pb2.UnbondingEntry(
        delegator_address=to_bech32(delegator),
        validator_address=validator.operator_address,
        creation_height=ctx.height,
        completion_height=ctx.height + params.unbonding_blocks,
        balance=str(returned),
        id=_next_unbonding_id(ctx),
    )
    add_unbonding_entry(ctx, delegator, entry)
    ctx.emit(
        "unbond",
        delegator=entry.delegator_address,
        validator=entry.validator_address,
        amount=f"{returned}{params.bond_denom}",
        completion_height=str(entry.completion_height),
    )
    return entry


# -- unbonding queue --------------------------------------------------------------------------------


def _next_unbonding_id(ctx: Context) -> int:
    store = ctx.store(STORE)
    raw = store.get(NEXT_UNBONDING_ID)
    next_id = int.from_bytes(raw, "big") if raw is not None else 1
    store.set(NEXT_UNBONDING_ID, u64(next_id + 1))
    return next_id


def add_unbonding_entry(ctx: Context, delegator: bytes, entry: staking_pb2.UnbondingEntry) -> None:
    """Queue ``entry`` by completion height and index it under its delegator."""
    store = ctx.store(STORE)
    store.set(
        unbonding_queue_key(entry.completion_height, entry.id), entry.SerializeToString(deterministic=True)
    )
    store.set(unbonding_by_delegator_key(delegator, entry.id), u64(entry.completion_height))
    raw = store.get(NEXT_UNBONDING_ID)
    if raw is None or int.from_bytes(raw, "big") <= entry.id:
        store.set(NEXT_UNBONDING_ID, u64(entry.id + 1))


def unbonding_entries_of(ctx: Context, delegator: bytes) -> list[staking_pb2.UnbondingEntry]:
    """A delegator's pending unbondings, oldest first."""
    store = ctx.store(STORE)
    found = []
    for key, height in store.iterate_prefix(UNBONDING_BY_DELEGATOR_PREFIX + delegator):
        raw = store.get(unbonding_queue_key(int.from_bytes(height, "big"), int.from_bytes(key[21:], "big")))
        if raw is not None:
            found.append(staking_pb2.UnbondingEntry.FromString(raw))
    return found


def all_unbonding_entries(ctx: Context) -> list[staking_pb2.UnbondingEntry]:
    """Every pending unbonding, by completion height then id."""
    return [
        staking_pb2.UnbondingEntry.FromString(v)
        for _, v in ctx.store(STORE).iterate_prefix(UNBONDING_QUEUE_PREFIX)
    ]


def _pending_entries(ctx: Context, delegator: bytes, operator: bytes) -> int:
    validator_address = to_bech32(operator)
    return sum(1 for e in unbonding_entries_of(ctx, delegator) if e.validator_address == validator_address)


def complete_unbondings(ctx: Context) -> None:
    """Pay every entry due at or before this height from the unbonding pool to its delegator."""
    store = ctx.store(STORE)
    due = []
    for key, raw in store.iterate_prefix(UNBONDING_QUEUE_PREFIX):
        if int.from_bytes(key[1:9], "big") > ctx.height:
            break
        due.append((key, staking_pb2.UnbondingEntry.FromString(raw)))
    denom = get_params(ctx).bond_denom
    for key, entry in due:
        delegator = from_bech32(entry.delegator_address)
        store.delete(key)
        store.delete(unbonding_by_delegator_key(delegator, entry.id))
        bank.send(ctx, UNBONDING_POOL, delegator, denom, int(entry.balance))
        ctx.emit(
            "complete_unbonding",
            delegator=entry.delegator_address,
            validator=entry.validator_address,
            amount=f"{entry.balance}{denom}",
        )


# -- the active set ---------------------------------------------------------------------------------


def last_power(ctx: Context, operator: bytes) -> int:
    """The validator's power in the active set CometBFT has (0 when not a member)."""
    raw = ctx.store(STORE).get(last_power_key(operator))
    return int.from_bytes(raw, "big") if raw is not None else 0


def active_set(ctx: Context) -> list[tuple[bytes, int]]:
    """The active set CometBFT has: (operator, power), sorted by operator address."""
    return [(k[1:], int.from_bytes(v, "big")) for k, v in ctx.store(STORE).iterate_prefix(LAST_POWER_PREFIX)]


def is_active(ctx: Context, consensus_address: bytes) -> bool:
    """Whether the validator of this consensus address is in the active set and not jailed.

    A validator jailed in this block is still a member until the end-block; it is not active.
    """
    operator = operator_of(ctx, consensus_address)
    if operator is None:
        return False
    validator = get_validator(ctx, operator)
    return validator is not None and not validator.jailed and last_power(ctx, operator) > 0


def membership(ctx: Context, consensus_address: bytes) -> tuple[bool, str]:
    """Whether this consensus address's validator is in the active set, and why (or why not) in words."""
    operator = operator_of(ctx, consensus_address)
    validator = get_validator(ctx, operator) if operator is not None else None
    if operator is None or validator is None:
        return False, "no validator uses this node's consensus key"
    if validator.jailed:
        return False, "jailed"
    power = last_power(ctx, operator)
    if power > 0:
        return True, f"in the active set with power {power}"
    if validator.power == 0:
        return False, (
            f"unbonded: {validator.tokens or '0'} bonded tokens are less than one unit of power "
            f"({get_params(ctx).power_reduction})"
        )
    return False, f"out of the top {get_params(ctx).max_validators} validators by power"


def total_power(ctx: Context) -> int:
    """Total power of the active set."""
    return sum(power for _, power in active_set(ctx))


def power_leaving(ctx: Context) -> tuple[int, int]:
    """(power CometBFT's set loses by this block's changes so far, that set's total power).

    A member loses what its candidate power (0 when jailed) fell below its power in the set; a
    member pushed out of the top ``max_validators`` by a stronger candidate loses nothing here (its
    place goes to more bonded stake, not to a fraction of it).
    """
    leaving = total = 0
    for operator, power in active_set(ctx):
        total += power
        validator = get_validator(ctx, operator)
        now = validator.power if validator is not None and _is_candidate(validator) else 0
        leaving += max(0, power - now)
    return leaving, total


def check_set_change(ctx: Context, what: str) -> None:
    """Raise SET_CHANGE_LIMIT when this block's changes take 1/3 or more of the set's power away.

    Called after every change that lowers a member's power (jail, slash, undelegate); the caller's
    branch is discarded with the error, so the refused change leaves nothing behind.
    """
    leaving, total = power_leaving(ctx)
    if total and 3 * leaving >= total:
        raise SET_CHANGE_LIMIT(
            f"{what} would take {leaving} of the validator set's {total} power away in this block; a "
            "block may take less than 1/3 (so the set is never emptied or handed to a validator with a "
            "fraction of the stake): split it over later blocks"
        )


def top_candidates(ctx: Context) -> list[tuple[bytes, int]]:
    """The next active set: top ``max_validators`` by power, ties by operator address (power index)."""
    limit = get_params(ctx).max_validators
    entries = islice(ctx.store(STORE).iterate_prefix(POWER_INDEX_PREFIX), limit)
    return [(key[9:], (2**63 - 1) - int.from_bytes(key[1:9], "big")) for key, _ in entries]


def _set_active_flag(ctx: Context, operator: bytes, active: bool) -> None:
    """Record set membership on the validator (no change mark: this is the set's own bookkeeping)."""
    validator = get_validator(ctx, operator)
    if validator is not None and validator.active != active:
        validator.active = active
        ctx.store(STORE).set(validator_key(operator), validator.SerializeToString(deterministic=True))


def apply_validator_set(ctx: Context) -> list[abci.ValidatorUpdate]:
    """Recompute the active set when a validator changed; the updates CometBFT needs, by operator.

    The set-change guard keeps at least one candidate (a change that would leave none takes all the
    power away and is refused at its source). Should none be left anyway, the set stays as it was and
    ``validator_set_kept`` says so; the invariant ``active_set_is_top_candidates`` reports that state.
    """
    store = ctx.store(STORE)
    marked = [k for k, _ in store.iterate_prefix(PENDING_PREFIX)]
    if not marked:
        return []
    for key in marked:
        store.delete(key)
    new = dict(top_candidates(ctx))
    if not new:
        ctx.emit("validator_set_kept", reason="no unjailed validator has power; the set stays as it was")
        return []
    last = dict(active_set(ctx))
    updates = []
    for operator in sorted(set(last) | set(new)):
        power = new.get(operator, 0)
        if power == last.get(operator, 0):
            continue
        if power:
            store.set(last_power_key(operator), u64(power))
        else:
            store.delete(last_power_key(operator))
        _set_active_flag(ctx, operator, power > 0)
        validator = require_validator(ctx, operator)
        updates.append(validator_update(validator.consensus_pubkey, power))
    return updates


def end_block(ctx: Context) -> list[abci.ValidatorUpdate]:
    """Staking's end-block: matured unbondings are paid, then the active set's changes."""
    complete_unbondings(ctx)
    return apply_validator_set(ctx)


def validator_update(consensus_pubkey: bytes, power: int) -> abci.ValidatorUpdate:
    """A CometBFT validator update."""
    return abci.ValidatorUpdate(pub_key=keys_pb2.PublicKey(ed25519=consensus_pubkey), power=power)
