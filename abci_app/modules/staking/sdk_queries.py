"""``cosmos.staking.v1beta1.Query``: the staking reads wallets use, mapped from this module's records.

Mapping (docs/cosmos-services.md):

* Addresses: a validator's operator is an account (20 bytes, ``task1...`` in this module's records);
  the SDK's services show the same 20 bytes with the ``taskvaloper`` prefix, and take them so.
  Delegators are ``task1...``.
* Validator: ``consensus_pubkey`` = ``Any{/cosmos.crypto.ed25519.PubKey}``; ``status`` BONDED when in
  the active set CometBFT has, else UNBONDED (validators leave the set at once here: none is ever
  UNBONDING); ``tokens`` as is; ``delegator_shares`` (integer shares here) and commission rates (basis
  points here) as the SDK's 18-decimal Dec strings; ``min_self_delegation`` from the params.
* Delegation shares as Dec strings; a delegation's ``balance`` is what its shares are worth now.
* Unbondings: one UnbondingDelegation per (delegator, validator) with an entry per pending unbonding;
  this chain counts unbonding in blocks, so ``completion_time`` is unset and ``creation_height`` is set.
  Params: ``unbonding_time`` is unset for the same reason (``unbonding_blocks`` in
  ``taskmaster.staking.v1.Query/Params``).

Lists page in the SDK's shape over the store order: validators by operator, a validator's
delegations by delegator, a delegator's by validator. The BONDED filter reads the active set (at most
``max_validators``); the UNBONDED filter, a validator's unbondings and a delegator's unbondings are
read whole (bounded by the validators and the pending unbondings) and paged in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

from cosmos.base.v1beta1 import coin_pb2
from cosmos.crypto.ed25519 import keys_pb2 as ed25519_keys
from cosmos.staking.v1beta1 import query_pb2 as q
from cosmos.staking.v1beta1 import staking_pb2 as sdk
from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
from abci_app.modules import QueryRoute
from abci_app.modules.bank import keeper as bank
from abci_app.modules.grpc_status import bech32_of, invalid_argument, not_found, parse_address
from abci_app.modules.pagination import SortedItems, paginate
from abci_app.modules.staking import keeper
from abci_app.modules.staking.keys import (
    BY_VALIDATOR_PREFIX,
    DELEGATION_PREFIX,
    STORE,
    VALIDATOR_PREFIX,
    validator_key,
)

SERVICE = "cosmos.staking.v1beta1.Query"
ACCOUNT_PREFIX = "task"
VALOPER_PREFIX = "taskvaloper"
_DEC_PLACES = 18


def dec(integer: int | str) -> str:
    """An integer as the SDK's Dec string (18 decimals): 5 -> ``5.000000000000000000``."""
    return f"{int(integer)}.{'0' * _DEC_PLACES}"


def dec_of_bps(bps: int) -> str:
    """Basis points as the SDK's Dec fraction: 500 -> ``0.050000000000000000``."""
    scaled = bps * 10 ** (_DEC_PLACES - 4)
    return f"{scaled // 10**_DEC_PLACES}.{scaled % 10**_DEC_PLACES:0{_DEC_PLACES}d}"


def valoper(bech32_account: str) -> str:
    """``task1...`` (this module's operator records) as ``taskvaloper1...``."""
    return bech32_of(VALOPER_PREFIX, parse_address(bech32_account, "operator_address"))


def sdk_validator(ctx: Context, validator: staking_pb2.Validator) -> sdk.Validator:
    """The SDK's Validator of a staking record."""
    out = sdk.Validator(
        operator_address=valoper(validator.operator_address),
        jailed=validator.jailed,
        status=sdk.BOND_STATUS_BONDED if validator.active else sdk.BOND_STATUS_UNBONDED,
        tokens=validator.tokens or "0",
        delegator_shares=dec(validator.delegator_shares or 0),
        description=sdk.Description(
            moniker=validator.moniker or validator.description.moniker,
            identity=validator.description.identity,
            website=validator.description.website,
            security_contact=validator.description.security_contact,
            details=validator.description.details,
        ),
        commission=sdk.Commission(
            commission_rates=sdk.CommissionRates(
                rate=dec_of_bps(validator.commission.rate_bps),
                max_rate=dec_of_bps(validator.commission.max_rate_bps),
                max_change_rate=dec_of_bps(validator.commission.max_change_rate_bps),
            )
        ),
        min_self_delegation=str(keeper.min_self_delegation(ctx)),
    )
    out.consensus_pubkey.Pack(ed25519_keys.PubKey(key=validator.consensus_pubkey), type_url_prefix="/")
    return out


def _delegation_response(ctx: Context, delegation: staking_pb2.Delegation) -> sdk.DelegationResponse:
    validator = keeper.get_validator(ctx, parse_address(delegation.validator_address))
    worth = keeper.token_value(validator, int(delegation.shares)) if validator is not None else 0
    return sdk.DelegationResponse(
        delegation=sdk.Delegation(
            delegator_address=delegation.delegator_address,
            validator_address=valoper(delegation.validator_address),
            shares=dec(delegation.shares),
        ),
        balance=coin_pb2.Coin(denom=keeper.bond_denom(ctx), amount=str(worth)),
    )


def _unbondings(entries: Sequence[staking_pb2.UnbondingEntry]) -> list[sdk.UnbondingDelegation]:
    """Entries grouped per (delegator, validator), in the order the pairs first appear."""
    grouped: dict[tuple[str, str], sdk.UnbondingDelegation] = {}
    for entry in entries:
        pair = (entry.delegator_address, entry.validator_address)
        if pair not in grouped:
            grouped[pair] = sdk.UnbondingDelegation(
                delegator_address=entry.delegator_address, validator_address=valoper(entry.validator_address)
            )
        grouped[pair].entries.add(
            creation_height=entry.creation_height,
            initial_balance=entry.balance,
            balance=entry.balance,
            unbonding_id=entry.id,
        )
    return list(grouped.values())


_STATUS = {name: value for name, value in sdk.BondStatus.items() if value != sdk.BOND_STATUS_UNSPECIFIED}


def query_validators(ctx: Context, req: q.QueryValidatorsRequest) -> q.QueryValidatorsResponse:
    """One page of the validators by operator address, optionally of one status."""
    store = ctx.store(STORE)
    if not req.status:
        page = paginate(store, req.pagination, VALIDATOR_PREFIX)
    else:
        if req.status not in _STATUS:
            raise invalid_argument(
                f"invalid validator status {req.status[:40]!r}; use one of {sorted(_STATUS)}"
            )
        status = _STATUS[req.status]
        chosen: list[tuple[bytes, bytes]] = []  # nothing is ever unbonding here
        if status == sdk.BOND_STATUS_BONDED:  # the active set: at most max_validators records read
            for operator, _ in keeper.active_set(ctx):
                raw = store.get(validator_key(operator))
                if raw is not None:
                    chosen.append((validator_key(operator), raw))
            chosen.sort()
        elif status == sdk.BOND_STATUS_UNBONDED:
            chosen = [
                (k, v)
                for k, v in store.iterate_prefix(VALIDATOR_PREFIX)
                if not staking_pb2.Validator.FromString(v).active
            ]
        page = paginate(SortedItems(chosen), req.pagination, VALIDATOR_PREFIX)
    validators = [sdk_validator(ctx, staking_pb2.Validator.FromString(v)) for _, v in page.items]
    return q.QueryValidatorsResponse(validators=validators, pagination=page.response)


def _validator(ctx: Context, text: str) -> tuple[bytes, staking_pb2.Validator]:
    operator = parse_address(text, "validator address", VALOPER_PREFIX)
    validator = keeper.get_validator(ctx, operator)
    if validator is None:
        raise not_found(f"validator {text} not found")
    return operator, validator


def query_validator(ctx: Context, req: q.QueryValidatorRequest) -> q.QueryValidatorResponse:
    """One validator; NotFound when unknown."""
    _, validator = _validator(ctx, req.validator_addr)
    return q.QueryValidatorResponse(validator=sdk_validator(ctx, validator))


def query_validator_delegations(
    ctx: Context, req: q.QueryValidatorDelegationsRequest
) -> q.QueryValidatorDelegationsResponse:
    """One page of a validator's delegations, by delegator."""
    operator, _ = _validator(ctx, req.validator_addr)
    prefix = BY_VALIDATOR_PREFIX + operator
    page = paginate(ctx.store(STORE), req.pagination, prefix)
    found = [keeper.get_delegation(ctx, key[len(prefix) :], operator) for key in page.keys]
    return q.QueryValidatorDelegationsResponse(
        delegation_responses=[_delegation_response(ctx, d) for d in found if d is not None],
        pagination=page.response,
    )


def query_validator_unbonding_delegations(
    ctx: Context, req: q.QueryValidatorUnbondingDelegationsRequest
) -> q.QueryValidatorUnbondingDelegationsResponse:
    """One page of the pending unbondings from a validator, by delegator."""
    _, validator = _validator(ctx, req.validator_addr)
    entries = [
        e for e in keeper.all_unbonding_entries(ctx) if e.validator_address == validator.operator_address
    ]
    grouped = _unbondings(sorted(entries, key=lambda e: (parse_address(e.delegator_address), e.id)))
    items = SortedItems(
        [(parse_address(u.delegator_address), u.SerializeToString(deterministic=True)) for u in grouped]
    )
    page = paginate(items, req.pagination, b"")
    return q.QueryValidatorUnbondingDelegationsResponse(
        unbonding_responses=[sdk.UnbondingDelegation.FromString(v) for _, v in page.items],
        pagination=page.response,
    )


def query_delegation(ctx: Context, req: q.QueryDelegationRequest) -> q.QueryDelegationResponse:
    """One delegation; NotFound when the delegator has none with that validator."""
    delegator = parse_address(req.delegator_addr, "delegator address")
    operator = parse_address(req.validator_addr, "validator address", VALOPER_PREFIX)
    delegation = keeper.get_delegation(ctx, delegator, operator)
    if delegation is None:
        raise not_found(
            f"delegation with delegator {req.delegator_addr} not found for validator {req.validator_addr}"
        )
    return q.QueryDelegationResponse(delegation_response=_delegation_response(ctx, delegation))


def query_unbonding_delegation(
    ctx: Context, req: q.QueryUnbondingDelegationRequest
) -> q.QueryUnbondingDelegationResponse:
    """A delegator's pending unbondings from one validator; NotFound when there are none."""
    delegator = parse_address(req.delegator_addr, "delegator address")
    operator = parse_address(req.validator_addr, "validator address", VALOPER_PREFIX)
    account = bech32_of(ACCOUNT_PREFIX, operator)
    grouped = _unbondings(
        [e for e in keeper.unbonding_entries_of(ctx, delegator) if e.validator_address == account]
    )
    if not grouped:
        raise not_found(
            f"unbonding delegation with delegator {req.delegator_addr} not found for validator "
            f"{req.validator_addr}"
        )
    return q.QueryUnbondingDelegationResponse(unbond=grouped[0])


def query_delegator_delegations(
    ctx: Context, req: q.QueryDelegatorDelegationsRequest
) -> q.QueryDelegatorDelegationsResponse:
    """One page of a delegator's delegations, by validator."""
    delegator = parse_address(req.delegator_addr, "delegator address")
    page = paginate(ctx.store(STORE), req.pagination, DELEGATION_PREFIX + delegator)
    return q.QueryDelegatorDelegationsResponse(
        delegation_responses=[
            _delegation_response(ctx, staking_pb2.Delegation.FromString(v)) for _, v in page.items
        ],
        pagination=page.response,
    )


def query_delegator_unbonding_delegations(
    ctx: Context, req: q.QueryDelegatorUnbondingDelegationsRequest
) -> q.QueryDelegatorUnbondingDelegationsResponse:
    """One page of a delegator's pending unbondings, one record per validator, by validator."""
    delegator = parse_address(req.delegator_addr, "delegator address")
    grouped = _unbondings(keeper.unbonding_entries_of(ctx, delegator))
    items = SortedItems(
        sorted(
            (
                parse_address(u.validator_address, "validator", VALOPER_PREFIX),
                u.SerializeToString(deterministic=True),
            )
            for u in grouped
        )
    )
    page = paginate(items, req.pagination, b"")
    return q.QueryDelegatorUnbondingDelegationsResponse(
        unbonding_responses=[sdk.UnbondingDelegation.FromString(v) for _, v in page.items],
        pagination=page.response,
    )


def query_delegator_validators(
    ctx: Context, req: q.QueryDelegatorValidatorsRequest
) -> q.QueryDelegatorValidatorsResponse:
    """One page of the validators a delegator delegates to, by validator."""
    delegator = parse_address(req.delegator_addr, "delegator address")
    page = paginate(ctx.store(STORE), req.pagination, DELEGATION_PREFIX + delegator)
    found = [keeper.get_validator(ctx, key[len(DELEGATION_PREFIX) + 20 :]) for key in page.keys]
    return q.QueryDelegatorValidatorsResponse(
        validators=[sdk_validator(ctx, v) for v in found if v is not None], pagination=page.response
    )


def query_delegator_validator(
    ctx: Context, req: q.QueryDelegatorValidatorRequest
) -> q.QueryDelegatorValidatorResponse:
    """The validator of one of a delegator's delegations; NotFound without that delegation."""
    delegator = parse_address(req.delegator_addr, "delegator address")
    operator, validator = _validator(ctx, req.validator_addr)
    if keeper.get_delegation(ctx, delegator, operator) is None:
        raise not_found(
            f"delegation with delegator {req.delegator_addr} not found for validator {req.validator_addr}"
        )
    return q.QueryDelegatorValidatorResponse(validator=sdk_validator(ctx, validator))


def query_pool(ctx: Context, req: q.QueryPoolRequest) -> q.QueryPoolResponse:
    """Bonded and unbonding (the SDK's not bonded) pools' balances."""
    denom = keeper.bond_denom(ctx)
    return q.QueryPoolResponse(
        pool=sdk.Pool(
            bonded_tokens=str(bank.balance(ctx, keeper.BONDED_POOL, denom)),
            not_bonded_tokens=str(bank.balance(ctx, keeper.UNBONDING_POOL, denom)),
        )
    )


def query_params(ctx: Context, req: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """Staking params in the SDK's shape (unbonding is counted in blocks here: no unbonding_time)."""
    params = keeper.get_params(ctx)
    return q.QueryParamsResponse(
        params=sdk.Params(
            max_validators=params.max_validators,
            max_entries=keeper.MAX_ENTRIES,
            historical_entries=0,
            bond_denom=params.bond_denom or keeper.bond_denom(ctx),
            min_commission_rate=dec_of_bps(0),
        )
    )


def _route(method: str, request: type, response: type, handler: object) -> QueryRoute:
    return QueryRoute(SERVICE, method, request, response, handler)  # type: ignore[arg-type]


ROUTES = (
    _route("Validators", q.QueryValidatorsRequest, q.QueryValidatorsResponse, query_validators),
    _route("Validator", q.QueryValidatorRequest, q.QueryValidatorResponse, query_validator),
    _route(
        "ValidatorDelegations",
        q.QueryValidatorDelegationsRequest,
        q.QueryValidatorDelegationsResponse,
        query_validator_delegations,
    ),
    _route(
        "ValidatorUnbondingDelegations",
        q.QueryValidatorUnbondingDelegationsRequest,
        q.QueryValidatorUnbondingDelegationsResponse,
        query_validator_unbonding_delegations,
    ),
    _route("Delegation", q.QueryDelegationRequest, q.QueryDelegationResponse, query_delegation),
    _route(
        "UnbondingDelegation",
        q.QueryUnbondingDelegationRequest,
        q.QueryUnbondingDelegationResponse,
        query_unbonding_delegation,
    ),
    _route(
        "DelegatorDelegations",
        q.QueryDelegatorDelegationsRequest,
        q.QueryDelegatorDelegationsResponse,
        query_delegator_delegations,
    ),
    _route(
        "DelegatorUnbondingDelegations",
        q.QueryDelegatorUnbondingDelegationsRequest,
        q.QueryDelegatorUnbondingDelegationsResponse,
        query_delegator_unbonding_delegations,
    ),
    _route(
        "DelegatorValidators",
        q.QueryDelegatorValidatorsRequest,
        q.QueryDelegatorValidatorsResponse,
        query_delegator_validators,
    ),
    _route(
        "DelegatorValidator",
        q.QueryDelegatorValidatorRequest,
        q.QueryDelegatorValidatorResponse,
        query_delegator_validator,
    ),
    _route("Pool", q.QueryPoolRequest, q.QueryPoolResponse, query_pool),
    _route("Params", q.QueryParamsRequest, q.QueryParamsResponse, query_params),
)
