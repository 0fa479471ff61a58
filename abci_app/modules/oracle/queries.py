"""Query service of the oracle: prices (latest, history, TWAP), miss counters, jail records, params.

Bounds (QUERY_INVALID beyond them): a pair id is at most ``keeper.MAX_PAIR_ID_BYTES`` bytes; a TWAP
window at most :data:`MAX_TWAP_WINDOW_SECONDS`. Prices, History, MissCounters and JailRecords answer one
page each (``abci_app/modules/pagination.py``: default 100, at most 1000 records, key-based
``next_key``) in store key order: by pair, by height, by consensus address.
"""

from __future__ import annotations

from taskmaster.oracle.v1 import oracle_pb2

from abci_app.context import Context
from abci_app.modules import QUERY_INVALID, QUERY_NOT_FOUND, QueryRoute
from abci_app.modules.oracle import keeper
from abci_app.modules.oracle.codec import pair_ids
from abci_app.modules.oracle.keys import JAIL_PREFIX, LATEST_PREFIX, MISS_INFO_PREFIX, STORE, history_prefix
from abci_app.modules.pagination import paginate

SERVICE = "taskmaster.oracle.v1.Query"
MAX_TWAP_WINDOW_SECONDS = 10 * 366 * 86_400  # ten years


def _known(ctx: Context, pair: str) -> None:
    if len(pair.encode()) > keeper.MAX_PAIR_ID_BYTES:
        raise QUERY_INVALID(f"pair id is {len(pair.encode())} bytes; at most {keeper.MAX_PAIR_ID_BYTES}")
    known = pair_ids(keeper.get_params(ctx))
    if pair not in known:
        raise keeper.UNKNOWN_PAIR(f"pair {pair!r} is not configured; known pairs: {known}")


def query_prices(ctx: Context, req: oracle_pb2.QueryPricesRequest) -> oracle_pb2.QueryPricesResponse:
    """One page of the latest price of every pair, by pair."""
    page = paginate(ctx.store(STORE), req.pagination, LATEST_PREFIX)
    return oracle_pb2.QueryPricesResponse(
        prices=[oracle_pb2.PriceRecord.FromString(v) for _, v in page.items], pagination=page.response
    )


def query_price(ctx: Context, req: oracle_pb2.QueryPriceRequest) -> oracle_pb2.QueryPriceResponse:
    """Latest price of one pair; NOT_FOUND before its first successful round."""
    _known(ctx, req.pair)
    record = keeper.latest_price(ctx, req.pair)
    if record is None:
        raise QUERY_NOT_FOUND(f"no price for {req.pair} yet")
    return oracle_pb2.QueryPriceResponse(price=record)


def query_history(ctx: Context, req: oracle_pb2.QueryHistoryRequest) -> oracle_pb2.QueryHistoryResponse:
    """One page of the retained records of one pair, oldest first (newest first when reversed)."""
    _known(ctx, req.pair)
    page = paginate(ctx.store(STORE), req.pagination, history_prefix(req.pair))
    return oracle_pb2.QueryHistoryResponse(
        history=[oracle_pb2.PriceRecord.FromString(v) for _, v in page.items], pagination=page.response
    )


def query_twap(ctx: Context, req: oracle_pb2.QueryTwapRequest) -> oracle_pb2.QueryTwapResponse:
    """Time-weighted average over the last ``window_seconds`` of block time (all history when 0).

    ``window_seconds`` is at most :data:`MAX_TWAP_WINDOW_SECONDS`.
    """
    if req.window_seconds > MAX_TWAP_WINDOW_SECONDS:
        raise QUERY_INVALID(
            f"window_seconds is {req.window_seconds}; at most {MAX_TWAP_WINDOW_SECONDS} (ten years), "
            "or 0 for the whole retained history"
        )
    _known(ctx, req.pair)
    found = keeper.twap(ctx, req.pair, req.window_seconds)
    if found is None:
        raise QUERY_NOT_FOUND(f"no price for {req.pair} yet")
    twap, samples = found
    return oracle_pb2.QueryTwapResponse(pair=req.pair, twap=str(twap), samples=samples)


def query_misses(
    ctx: Context, req: oracle_pb2.QueryMissCountersRequest
) -> oracle_pb2.QueryMissCountersResponse:
    """One page of the per-validator miss counts, by consensus address, and the window's length."""
    page = paginate(ctx.store(STORE), req.pagination, MISS_INFO_PREFIX)
    return oracle_pb2.QueryMissCountersResponse(
        counters=[oracle_pb2.MissInfo.FromString(v) for _, v in page.items],
        window=keeper.get_params(ctx).window,
        pagination=page.response,
    )


def query_jail(ctx: Context, req: oracle_pb2.QueryJailRecordsRequest) -> oracle_pb2.QueryJailRecordsResponse:
    """One page of the jail records (the latest per validator), by consensus address."""
    page = paginate(ctx.store(STORE), req.pagination, JAIL_PREFIX)
    return oracle_pb2.QueryJailRecordsResponse(
        records=[oracle_pb2.JailRecord.FromString(v) for _, v in page.items], pagination=page.response
    )


def query_params(ctx: Context, req: oracle_pb2.QueryParamsRequest) -> oracle_pb2.QueryParamsResponse:
    """Oracle params."""
    return oracle_pb2.QueryParamsResponse(params=keeper.get_params(ctx))


def _route(method: str, req: type, resp: type, fn: object) -> QueryRoute:
    return QueryRoute(SERVICE, method, req, resp, fn)  # type: ignore[arg-type]


ROUTES = (
    _route("Prices", oracle_pb2.QueryPricesRequest, oracle_pb2.QueryPricesResponse, query_prices),
    _route("Price", oracle_pb2.QueryPriceRequest, oracle_pb2.QueryPriceResponse, query_price),
    _route("History", oracle_pb2.QueryHistoryRequest, oracle_pb2.QueryHistoryResponse, query_history),
    _route("Twap", oracle_pb2.QueryTwapRequest, oracle_pb2.QueryTwapResponse, query_twap),
    _route(
        "MissCounters",
        oracle_pb2.QueryMissCountersRequest,
        oracle_pb2.QueryMissCountersResponse,
        query_misses,
    ),
    _route(
        "JailRecords", oracle_pb2.QueryJailRecordsRequest, oracle_pb2.QueryJailRecordsResponse, query_jail
    ),
    _route("Params", oracle_pb2.QueryParamsRequest, oracle_pb2.QueryParamsResponse, query_params),
)
