"""Query service of the bank module (gRPC ``taskmaster.bank.v1.Query`` and ABCI query paths)."""

from __future__ import annotations

from taskmaster.bank.v1 import bank_pb2

from abci_app.context import Context
from abci_app.modules import QueryRoute
from abci_app.modules.bank import keeper
from abci_app.modules.bank.keys import STORE, SUPPLY_PREFIX
from abci_app.tx.address import from_bech32

SERVICE = "taskmaster.bank.v1.Query"


def query_balance(ctx: Context, req: bank_pb2.QueryBalanceRequest) -> bank_pb2.QueryBalanceResponse:
    """One balance (zero when absent); denom defaults to the native denom."""
    address = from_bech32(req.address)
    denom = keeper.check_denom(req.denom or keeper.NATIVE_DENOM)
    amount = keeper.balance(ctx, address, denom)
    return bank_pb2.QueryBalanceResponse(balance=bank_pb2.Coin(denom=denom, amount=str(amount)))


def query_all_balances(
    ctx: Context, req: bank_pb2.QueryAllBalancesRequest
) -> bank_pb2.QueryAllBalancesResponse:
    """Every non-zero balance of an address, sorted by denom."""
    coins = keeper.all_balances(ctx, from_bech32(req.address))
    return bank_pb2.QueryAllBalancesResponse(
        balances=[bank_pb2.Coin(denom=d, amount=str(a)) for d, a in coins]
    )


def query_total_supply(
    ctx: Context, req: bank_pb2.QueryTotalSupplyRequest
) -> bank_pb2.QueryTotalSupplyResponse:
    """Total supply of every denom, sorted by denom."""
    items = ctx.store(STORE).iterate_prefix(SUPPLY_PREFIX)
    return bank_pb2.QueryTotalSupplyResponse(
        supply=[bank_pb2.Coin(denom=k[1:].decode(), amount=str(int.from_bytes(v, "big"))) for k, v in items]
    )


ROUTES = (
    QueryRoute(
        SERVICE, "Balance", bank_pb2.QueryBalanceRequest, bank_pb2.QueryBalanceResponse, query_balance
    ),
    QueryRoute(
        SERVICE,
        "AllBalances",
        bank_pb2.QueryAllBalancesRequest,
        bank_pb2.QueryAllBalancesResponse,
        query_all_balances,
    ),
    QueryRoute(
        SERVICE,
        "TotalSupply",
        bank_pb2.QueryTotalSupplyRequest,
        bank_pb2.QueryTotalSupplyResponse,
        query_total_supply,
    ),
)
