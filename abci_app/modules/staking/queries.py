"""Query service of the staking module.

Every list query answers one page (``abci_app/modules/pagination.py``: default 100, at most 1000 items,
key-based ``next_key``), walking the store key order of its list: validators by operator address, a
delegator's delegations by validator, a validator's delegations by delegator (its index), unbondings
by id. The active set is ordered by power: it is bounded by ``max_validators``, so its page is cut
from the set sorted in memory, with keys that sort like that order.
"""

from __future__ import annotations

from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
from abci_app.modules import QUERY_NOT_FOUND, QueryRoute
from abci_app.modules.bank import keeper as bank
from abci_app.modules.pagination import SortedItems, paginate
from abci_app.modules.staking import keeper
from abci_app.modules.staking.keys import (
    BY_VALIDATOR_PREFIX,
    DELEGATION_PREFIX,
    POWER_INDEX_PREFIX,
    STORE,
    UNBONDING_BY_DELEGATOR_PREFIX,
    VALIDATOR_PREFIX,
    power_index_key,
    unbonding_queue_key,
)
from abci_app.tx.address import from_bech32

SERVICE = "taskmaster.staking.v1.Query"


def query_validators(
    ctx: Context, req: staking_pb2.QueryValidatorsRequest
) -> staking_pb2.QueryValidatorsResponse:
    """One page of the validators, by operator address."""
    page = paginate(ctx.store(STORE), req.pagination, VALIDATOR_PREFIX)
    return staking_pb2.QueryValidatorsResponse(
        validators=[staking_pb2.Validator.FromString(v) for _, v in page.items], pagination=page.response
    )


def query_validator(
    ctx: Context, req: staking_pb2.QueryValidatorRequest
) -> staking_pb2.QueryValidatorResponse:
    """One validator by operator address; NOT_FOUND when unknown."""
    validator = keeper.get_validator(ctx, from_bech32(req.operator_address, "operator_address"))
    if validator is None:
        raise QUERY_NOT_FOUND(f"no validator is operated by {req.operator_address}")
    return staking_pb2.QueryValidatorResponse(validator=validator)


def query_params(ctx: Context, req: staking_pb2.QueryParamsRequest) -> staking_pb2.QueryParamsResponse:
    """Staking params."""
    return staking_pb2.QueryParamsResponse(params=keeper.get_params(ctx))


def query_delegations(
    ctx: Context, req: staking_pb2.QueryDelegationsRequest
) -> staking_pb2.QueryDelegationsResponse:
    """One page of a delegator's delegations (by validator) and what each is worth now."""
    delegator = from_bech32(req.delegator_address, "delegator_address")
    page = paginate(ctx.store(STORE), req.pagination, DELEGATION_PREFIX + delegator)
    out = staking_pb2.QueryDelegationsResponse(pagination=page.response)
    for _, raw in page.items:
        delegation = out.delegations.add()
        delegation.ParseFromString(raw)
        validator = keeper.get_validator(ctx, from_bech32(delegation.validator_address))
        out.balances.append(str(keeper.token_value(validator, int(delegation.shares)) if validator else 0))
    return out


def query_validator_delegations(
    ctx: Context, req: staking_pb2.QueryValidatorDelegationsRequest
) -> staking_pb2.QueryValidatorDelegationsResponse:
    """One page of the delegations to one validator, by delegator address (the validator's index)."""
    operator = from_bech32(req.validator_address, "validator_address")
    prefix = BY_VALIDATOR_PREFIX + operator
    page = paginate(ctx.store(STORE), req.pagination, prefix)
    found = [keeper.get_delegation(ctx, key[len(prefix) :], operator) for key in page.keys]
    return staking_pb2.QueryValidatorDelegationsResponse(
        delegations=[d for d in found if d is not None], pagination=page.response
    )


def query_unbonding(
    ctx: Context, req: staking_pb2.QueryUnbondingRequest
) -> staking_pb2.QueryUnbondingResponse:
    """One page of a delegator's pending unbondings, oldest first (by entry id)."""
    delegator = from_bech32(req.delegator_address, "delegator_address")
    prefix = UNBONDING_BY_DELEGATOR_PREFIX + delegator
    store = ctx.store(STORE)
    page = paginate(store, req.pagination, prefix)
    out = staking_pb2.QueryUnbondingResponse(pagination=page.response)
    for key, height in page.items:
        raw = store.get(
            unbonding_queue_key(int.from_bytes(height, "big"), int.from_bytes(key[len(prefix) :], "big"))
        )
        if raw is not None:
            out.entries.add().ParseFromString(raw)
    return out


def query_active_set(
    ctx: Context, req: staking_pb2.QueryActiveSetRequest
) -> staking_pb2.QueryActiveSetResponse:
    """One page of the active set CometBFT has, highest power first (ties: lower operator address).

    The set holds at most ``max_validators`` members; its (operator, power) index is read whole and
    sorted by the power index's key, and only the page's validator records are read.
    """
    members = SortedItems(sorted((power_index_key(power, op), op) for op, power in keeper.active_set(ctx)))
    page = paginate(members, req.pagination, POWER_INDEX_PREFIX)
    found = [keeper.get_validator(ctx, operator) for _, operator in page.items]
    return staking_pb2.QueryActiveSetResponse(
        validators=[v for v in found if v is not None], pagination=page.response
    )


def query_pool(ctx: Context, req: staking_pb2.QueryPoolRequest) -> staking_pb2.QueryPoolResponse:
    """The bonded and unbonding pools' balances."""
    denom = keeper.bond_denom(ctx)
    return staking_pb2.QueryPoolResponse(
        bonded_tokens=str(bank.balance(ctx, keeper.BONDED_POOL, denom)),
        unbonding_tokens=str(bank.balance(ctx, keeper.UNBONDING_POOL, denom)),
    )


def _route(method: str, request: type, response: type, handler: object) -> QueryRoute:
    return QueryRoute(SERVICE, method, request, response, handler)  # type: ignore[arg-type]


ROUTES = (
    _route(
        "Validators",
        staking_pb2.QueryValidatorsRequest,
        staking_pb2.QueryValidatorsResponse,
        query_validators,
    ),
    _route(
        "Validator", staking_pb2.QueryValidatorRequest, staking_pb2.QueryValidatorResponse, query_validator
    ),
    _route("Params", staking_pb2.QueryParamsRequest, staking_pb2.QueryParamsResponse, query_params),
    _route(
        "Delegations",
        staking_pb2.QueryDelegationsRequest,
        staking_pb2.QueryDelegationsResponse,
        query_delegations,
    ),
    _route(
        "ValidatorDelegations",
        staking_pb2.QueryValidatorDelegationsRequest,
        staking_pb2.QueryValidatorDelegationsResponse,
        query_validator_delegations,
    ),
    _route(
        "Unbonding", staking_pb2.QueryUnbondingRequest, staking_pb2.QueryUnbondingResponse, query_unbonding
    ),
    _route(
        "ActiveSet", staking_pb2.QueryActiveSetRequest, staking_pb2.QueryActiveSetResponse, query_active_set
    ),
    _route("Pool", staking_pb2.QueryPoolRequest, staking_pb2.QueryPoolResponse, query_pool),
)
