"""Query service of the bank module (gRPC ``taskmaster.bank.v1.Query`` and ABCI query paths).

AllBalances and TotalSupply answer one page each (``abci_app/modules/pagination.py``: default 100, at
most 1000 coins, key-based ``next_key``), by denom.
"""

from __future__ import annotations

from taskmaster.bank.v1 import bank_pb2

from abci_app.context import Context
from abci_app.modules import QueryRoute
from abci_app.modules.bank import keeper
from abci_app.modules.bank.keys import BALANCE_PREFIX, STORE, SUPPLY_PREFIX
from abci_app.modules.pagination import paginate
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
    """One page of the non-zero balances of an address, by denom."""
    prefix = BALANCE_PREFIX + from_bech32(req.address)
    page = paginate(ctx.store(STORE), req.pagination, prefix)
    return bank_pb2.QueryAllBalancesResponse(
        balances=_coins(page.items, len(prefix)), pagination=page.response
    )


def query_total_supply(
    ctx: Context, req: bank_pb2.QueryTotalSupplyRequest
) -> bank_pb2.QueryTotalSupplyResponse:
    """One page of the total supply of every denom, by denom."""
    page = paginate(ctx.store(STORE), req.pagination, SUPPLY_PREFIX)
    return bank_pb2.QueryTotalSupplyResponse(supply=_coins(page.items, 1), pagination=page.response)


def _coins(items: list[tuple[bytes, bytes]], denom_at: int) -> list[bank_pb2.Coin]:
    """Coins of store items whose keys hold the denom from ``denom_at`` and whose values are amounts."""
    return [
        bank_pb2.Coin(denom=k[denom_at:].decode(), amount=str(int.from_bytes(v, "big"))) for k, v in items
    ]


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
