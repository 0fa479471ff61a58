"""Query service of the staking module."""

from __future__ import annotations

from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
from abci_app.modules import QUERY_NOT_FOUND, QueryRoute
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


ROUTES = (
    QueryRoute(
        SERVICE,
        "Validators",
        staking_pb2.QueryValidatorsRequest,
        staking_pb2.QueryValidatorsResponse,
        query_validators,
    ),
    QueryRoute(
        SERVICE,
        "Validator",
        staking_pb2.QueryValidatorRequest,
        staking_pb2.QueryValidatorResponse,
        query_validator,
    ),
    QueryRoute(
        SERVICE, "Params", staking_pb2.QueryParamsRequest, staking_pb2.QueryParamsResponse, query_params
    ),
)
