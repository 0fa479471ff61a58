"""``cosmos.bank.v1beta1.Query``: the Cosmos SDK's bank queries over the bank keeper's balances.

Balance always answers a Coin of the requested denom (``"0"`` for an address that holds none, as
cosmjs's ``getBalance`` and cosmpy's ``query_bank_balance`` require). Lists answer one page in the
SDK's pagination shape (``abci_app/modules/pagination.py``), by denom. Nothing is locked or vesting,
so the spendable balances are the balances. The chain has no bank params: sends are enabled for every
denom (``default_send_enabled`` true). Denom metadata is the chain's one native denom:

    base utask (exponent 0, alias microtask), display task (exponent 6), symbol TASK
"""

from __future__ import annotations

from cosmos.bank.v1beta1 import bank_pb2 as sdk_bank
from cosmos.bank.v1beta1 import query_pb2 as q
from cosmos.base.v1beta1 import coin_pb2

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules import QueryRoute
from abci_app.modules.bank import keeper
from abci_app.modules.bank.keys import BALANCE_PREFIX, STORE, SUPPLY_PREFIX
from abci_app.modules.grpc_status import invalid_argument, not_found, parse_address
from abci_app.modules.pagination import PageResponse, paginate

SERVICE = "cosmos.bank.v1beta1.Query"

NATIVE_METADATA = sdk_bank.Metadata(
    description="The native token of the Taskmaster chain",
    denom_units=[
        sdk_bank.DenomUnit(denom=keeper.NATIVE_DENOM, exponent=0, aliases=["microtask"]),
        sdk_bank.DenomUnit(denom="task", exponent=6),
    ],
    base=keeper.NATIVE_DENOM,
    display="task",
    name="Taskmaster",
    symbol="TASK",
)
"""Bank metadata of ``utask``: 1 task = 1,000,000 utask (the SDK's usual micro-denom convention)."""


def _denom(denom: str) -> str:
    if not denom:
        raise invalid_argument("invalid denom: empty")
    try:
        return keeper.check_denom(denom)
    except AppError as err:
        raise invalid_argument(f"invalid denom: {err.message}") from err


def _coins(items: list[tuple[bytes, bytes]], denom_at: int) -> list[coin_pb2.Coin]:
    return [
        coin_pb2.Coin(denom=k[denom_at:].decode(), amount=str(int.from_bytes(v, "big"))) for k, v in items
    ]


def query_balance(ctx: Context, req: q.QueryBalanceRequest) -> q.QueryBalanceResponse:
    """One balance; a Coin of the requested denom, ``"0"`` when the address holds none."""
    address = parse_address(req.address)
    denom = _denom(req.denom)
    return q.QueryBalanceResponse(
        balance=coin_pb2.Coin(denom=denom, amount=str(keeper.balance(ctx, address, denom)))
    )


def query_all_balances(ctx: Context, req: q.QueryAllBalancesRequest) -> q.QueryAllBalancesResponse:
    """One page of an address's non-zero balances, by denom."""
    prefix = BALANCE_PREFIX + parse_address(req.address)
    page = paginate(ctx.store(STORE), req.pagination, prefix)
    return q.QueryAllBalancesResponse(balances=_coins(page.items, len(prefix)), pagination=page.response)


def query_spendable_balances(
    ctx: Context, req: q.QuerySpendableBalancesRequest
) -> q.QuerySpendableBalancesResponse:
    """The balances (nothing is locked on this chain)."""
    prefix = BALANCE_PREFIX + parse_address(req.address)
    page = paginate(ctx.store(STORE), req.pagination, prefix)
    return q.QuerySpendableBalancesResponse(
        balances=_coins(page.items, len(prefix)), pagination=page.response
    )


def query_spendable_balance_by_denom(
    ctx: Context, req: q.QuerySpendableBalanceByDenomRequest
) -> q.QuerySpendableBalanceByDenomResponse:
    """The balance of one denom (nothing is locked on this chain)."""
    address = parse_address(req.address)
    denom = _denom(req.denom)
    return q.QuerySpendableBalanceByDenomResponse(
        balance=coin_pb2.Coin(denom=denom, amount=str(keeper.balance(ctx, address, denom)))
    )


def query_total_supply(ctx: Context, req: q.QueryTotalSupplyRequest) -> q.QueryTotalSupplyResponse:
    """One page of every denom's supply, by denom."""
    page = paginate(ctx.store(STORE), req.pagination, SUPPLY_PREFIX)
    return q.QueryTotalSupplyResponse(supply=_coins(page.items, len(SUPPLY_PREFIX)), pagination=page.response)


def query_supply_of(ctx: Context, req: q.QuerySupplyOfRequest) -> q.QuerySupplyOfResponse:
    """One denom's supply (``"0"`` for a denom never minted)."""
    denom = _denom(req.denom)
    return q.QuerySupplyOfResponse(amount=coin_pb2.Coin(denom=denom, amount=str(keeper.supply(ctx, denom))))


def query_params(ctx: Context, req: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """Sends are enabled for every denom."""
    return q.QueryParamsResponse(params=sdk_bank.Params(default_send_enabled=True))


def query_denom_metadata(ctx: Context, req: q.QueryDenomMetadataRequest) -> q.QueryDenomMetadataResponse:
    """The metadata of ``utask``; NotFound for any other denom."""
    if req.denom != NATIVE_METADATA.base:
        raise not_found(f"client metadata for denom {_denom(req.denom)}")
    return q.QueryDenomMetadataResponse(metadata=NATIVE_METADATA)


def query_denoms_metadata(ctx: Context, req: q.QueryDenomsMetadataRequest) -> q.QueryDenomsMetadataResponse:
    """Every denom's metadata: the native denom's."""
    return q.QueryDenomsMetadataResponse(metadatas=[NATIVE_METADATA], pagination=PageResponse(total=1))


def _route(method: str, request: type, response: type, handler: object) -> QueryRoute:
    return QueryRoute(SERVICE, method, request, response, handler)  # type: ignore[arg-type]


ROUTES = (
    _route("Balance", q.QueryBalanceRequest, q.QueryBalanceResponse, query_balance),
    _route("AllBalances", q.QueryAllBalancesRequest, q.QueryAllBalancesResponse, query_all_balances),
    _route(
        "SpendableBalances",
        q.QuerySpendableBalancesRequest,
        q.QuerySpendableBalancesResponse,
        query_spendable_balances,
    ),
    _route(
        "SpendableBalanceByDenom",
        q.QuerySpendableBalanceByDenomRequest,
        q.QuerySpendableBalanceByDenomResponse,
        query_spendable_balance_by_denom,
    ),
    _route("TotalSupply", q.QueryTotalSupplyRequest, q.QueryTotalSupplyResponse, query_total_supply),
    _route("SupplyOf", q.QuerySupplyOfRequest, q.QuerySupplyOfResponse, query_supply_of),
    _route("Params", q.QueryParamsRequest, q.QueryParamsResponse, query_params),
    _route("DenomMetadata", q.QueryDenomMetadataRequest, q.QueryDenomMetadataResponse, query_denom_metadata),
    _route(
        "DenomsMetadata", q.QueryDenomsMetadataRequest, q.QueryDenomsMetadataResponse, query_denoms_metadata
    ),
)
