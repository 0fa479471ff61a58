"""Query service of the staking module."""

from __future__ import annotations

from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
from abci_app.modules import QUERY_NOT_FOUND, QueryRoute
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking import keeper
from abci_app.tx.address import from_bech32

SERVICE = "taskmaster.staking.v1.Query"


def query_validators(
    ctx: Context, req: staking_pb2.QueryValidatorsRequest
) -> staking_pb2.QueryValidatorsResponse:
    """All validators sorted by operator address."""
    return staking_pb2.QueryValidatorsResponse(validators=[v for _, v in keeper.validators(ctx)])


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
    """A delegator's delegations and what each is worth now."""
    delegations = keeper.delegations_of(ctx, from_bech32(req.delegator_address, "delegator_address"))
    balances = []
    for delegation in delegations:
        validator = keeper.get_validator(ctx, from_bech32(delegation.validator_address))
        balances.append(str(keeper.token_value(validator, int(delegation.shares)) if validator else 0))
    return staking_pb2.QueryDelegationsResponse(delegations=delegations, balances=balances)


def query_validator_delegations(
    ctx: Context, req: staking_pb2.QueryValidatorDelegationsRequest
) -> staking_pb2.QueryValidatorDelegationsResponse:
    """The delegations to one validator, by delegator address."""
    operator = from_bech32(req.validator_address, "validator_address")
    return staking_pb2.QueryValidatorDelegationsResponse(delegations=keeper.delegations_to(ctx, operator))


def query_unbonding(
    ctx: Context, req: staking_pb2.QueryUnbondingRequest
) -> staking_pb2.QueryUnbondingResponse:
    """A delegator's pending unbondings, oldest first."""
    delegator = from_bech32(req.delegator_address, "delegator_address")
    return staking_pb2.QueryUnbondingResponse(entries=keeper.unbonding_entries_of(ctx, delegator))


def query_active_set(
    ctx: Context, req: staking_pb2.QueryActiveSetRequest
) -> staking_pb2.QueryActiveSetResponse:
    """The active set CometBFT has, highest power first (ties: lower operator address)."""
    members = sorted(keeper.active_set(ctx), key=lambda m: (-m[1], m[0]))
    found = [keeper.get_validator(ctx, operator) for operator, _ in members]
    return staking_pb2.QueryActiveSetResponse(validators=[v for v in found if v is not None])


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
