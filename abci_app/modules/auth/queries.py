"""Query service of the auth module."""

from __future__ import annotations

from taskmaster.auth.v1 import auth_pb2

from abci_app.context import Context
from abci_app.modules import QUERY_NOT_FOUND, QueryRoute
from abci_app.modules.auth import keeper
from abci_app.tx.address import from_bech32

SERVICE = "taskmaster.auth.v1.Query"


def query_account(ctx: Context, req: auth_pb2.QueryAccountRequest) -> auth_pb2.QueryAccountResponse:
    """An account's number, sequence and public key; NOT_FOUND for an address never seen."""
    account = keeper.get_account(ctx, from_bech32(req.address))
    if account is None:
        raise QUERY_NOT_FOUND(f"account {req.address} does not exist (it has never received funds)")
    return auth_pb2.QueryAccountResponse(account=account)


def query_params(ctx: Context, req: auth_pb2.QueryParamsRequest) -> auth_pb2.QueryParamsResponse:
    """The auth params."""
    return auth_pb2.QueryParamsResponse(params=keeper.get_params(ctx))


ROUTES = (
    QueryRoute(
        SERVICE, "Account", auth_pb2.QueryAccountRequest, auth_pb2.QueryAccountResponse, query_account
    ),
    QueryRoute(SERVICE, "Params", auth_pb2.QueryParamsRequest, auth_pb2.QueryParamsResponse, query_params),
)
