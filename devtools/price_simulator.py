"""Kraken's and Binance's public ticker endpoints, served beside the CoinGecko simulator (127.0.0.1 only).

Written from each provider's documentation (the documented examples are in ``tests/fixtures/kraken/``
and ``tests/fixtures/binance/``, with where they come from; a test checks these answers against them),
not from what our client expects. Both APIs are keyless, so each validator gets its own *tenant* in
the URL, and each tenant has the CoinGecko simulator's per-key settings (mode, skew, prices, drift,
paths, retry_after, hang_s, html_status) under the key ``"kraken:<tenant>"`` / ``"binance:<tenant>"``
(created with the defaults on its first request; ``POST /_sim/keys/kraken:<tenant>`` changes it)::

    GET /kraken/<tenant>/0/public/Ticker?pair=XBTUSD,ETHUSD
    {"error": [], "result": {"XXBTZUSD": {"a": [...], "b": [...], "c": ["67187.33", "1"], ...}}}

    GET /binance/<tenant>/api/v3/ticker/price?symbols=["BTCUSDT"]      (or ?symbol=BTCUSDT)
    [{"symbol": "BTCUSDT", "price": "67187.33"}]

The simulator's top-level ``symbols`` says which chain pair each name stands for, and
``kraken_answer_names`` under which name Kraken answers a requested one (``XBTUSD`` -> ``XXBTZUSD``)::

    "symbols": {"kraken": {"XBTUSD": "bitcoin/usd"}, "binance": {"BTCUSDT": "bitcoin/usd"}},
    "kraken_answer_names": {"XBTUSD": "XXBTZUSD"}

Prices are the CoinGecko simulator's (:class:`~devtools.coingecko_simulator.SimulatedPrices`, with the
tenant's key and the request's whole second as the time), printed exactly. Modes: ``ok``; ``error500``
(HTTP 500; Kraken ``{"error": ["EService:Unavailable"]}``, Binance ``{"code": -1001, ...}``);
``rate_limited`` (Kraken: 200 with ``EAPI:Rate limit exceeded``; Binance: 429 ``{"code": -1003, ...}``
with ``Retry-After`` when ``retry_after`` is set, as Binance documents); ``timeout``; ``html``;
``garbage``; ``missing_coins`` (the names in ``missing`` are unknown: Kraken's ``EQuery:Unknown asset
pair``, Binance's 400 ``-1121 Invalid symbol.``). Other modes answer as ``ok``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from abci_app.pricefeed.decimal18 import format_decimal18
from abci_app.pricefeed.simple_price import load_json

if TYPE_CHECKING:
    from devtools.coingecko_simulator import Simulator

EXCHANGES = ("kraken", "binance")
KRAKEN_UNKNOWN_PAIR = "EQuery:Unknown asset pair"
KRAKEN_RATE_LIMIT = "EAPI:Rate limit exceeded"
KRAKEN_UNAVAILABLE = "EService:Unavailable"
BINANCE_INVALID_SYMBOL = (-1121, "Invalid symbol.")
BINANCE_INTERNAL = (-1001, "Internal error; unable to process your request. Please try again.")
BINANCE_TOO_MANY = (
    -1003,
    "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket "
    "Streams for live updates to avoid polling the API.",
)


def validate_symbols(config: Mapping[str, Any]) -> dict[str, Any]:
    """The checked ``symbols`` and ``kraken_answer_names`` of a simulator configuration."""
    from abci_app.pricefeed.cache import parse_pair_id
    from devtools.coingecko_simulator import SimConfigError

    symbols = config.get("symbols") or {}
    if not isinstance(symbols, Mapping) or not set(symbols) <= set(EXCHANGES):
        raise SimConfigError('symbols must be {"kraken": {name: pair id}, "binance": {symbol: pair id}}')
    out: dict[str, dict[str, str]] = {}
    for exchange, names in symbols.items():
        if not isinstance(names, Mapping):
            raise SimConfigError(f"symbols.{exchange} must be an object of name -> pair id")
        for name, pid in names.items():
            try:
                parse_pair_id(str(pid))
            except ValueError as exc:
                raise SimConfigError(f"symbols.{exchange}.{name}: {exc}") from None
        out[exchange] = {str(k): str(v) for k, v in names.items()}
    answers = config.get("kraken_answer_names") or {}
    if not isinstance(answers, Mapping) or not all(isinstance(v, str) for v in answers.values()):
        raise SimConfigError("kraken_answer_names must be an object of requested name -> answered name")
    return {"symbols": out, "kraken_answer_names": {str(k): v for k, v in answers.items()}}


def add_routes(app: web.Application, sim: Simulator) -> None:
    """Serve Kraken's and Binance's tickers for ``sim`` on ``app``."""
    app.router.add_get("/kraken/{tenant}/0/public/Ticker", functools.partial(_kraken, sim))
    app.router.add_get("/binance/{tenant}/api/v3/ticker/price", functools.partial(_binance, sim))


def _tenant(sim: Simulator, exchange: str, request: web.Request) -> tuple[str, dict[str, Any]]:
    key = f"{exchange}:{request.match_info['tenant']}"
    if key not in sim.config["keys"]:
        sim.set_key(key, {})
    sim.requests[key] = sim.requests.get(key, 0) + 1
    sim.last_request[key] = {"path": request.path, "query": request.query_string, "plan": ""}
    return key, sim.config["keys"][key]


async def _common(sim: Simulator, request: web.Request, settings: Mapping[str, Any]) -> web.Response | None:
    """The answer of the modes that look the same on every API (None: answer normally)."""
    from devtools.coingecko_simulator import GARBAGE, HTML_PAGE

    mode = settings["mode"]
    if mode == "html":
        status = int(settings["html_status"])
        return web.Response(status=status, text=HTML_PAGE.format(status=status), content_type="text/html")
    if mode == "garbage":
        return web.Response(status=200, body=GARBAGE, content_type="application/json")
    if mode == "timeout" and not await sim._hang(request, float(settings["hang_s"])):
        return web.Response(status=504, text="client went away")
    return None


def _missing(settings: Mapping[str, Any]) -> set[str]:
    if settings["mode"] != "missing_coins":
        return set()
    return set(settings["missing"] or [])


def _price(sim: Simulator, key: str, pid: str) -> str | None:
    now = int(sim.clock())
    value = sim.prices.price(key, pid, now)
    return format_decimal18(value) if value is not None else None


def _kraken_json(body: object, status: int = 200) -> web.Response:
    from devtools.coingecko_simulator import render_json

    return web.Response(status=status, text=render_json(body), content_type="application/json")


async def _kraken(sim: Simulator, request: web.Request) -> web.Response:
    """``GET /0/public/Ticker?pair=A,B``: Kraken's documented ticker entries, keyed by Kraken's name."""
    key, settings = _tenant(sim, "kraken", request)
    early = await _common(sim, request, settings)
    if early is not None:
        return early
    if settings["mode"] == "error500":
        return _kraken_json({"error": [KRAKEN_UNAVAILABLE]}, status=500)
    if settings["mode"] == "rate_limited":
        return _kraken_json({"error": [KRAKEN_RATE_LIMIT]})
    known = sim.config.get("symbols", {}).get("kraken", {})
    answer_names = sim.config.get("kraken_answer_names", {})
    names = [n for n in request.query.get("pair", "").split(",") if n]
    result: dict[str, object] = {}
    for name in names:
        pid = known.get(name)
        price = _price(sim, key, pid) if pid is not None and name not in _missing(settings) else None
        if price is None:
            return _kraken_json({"error": [KRAKEN_UNKNOWN_PAIR]})
        result[answer_names.get(name, name)] = {
            "a": [price, "1", "1.000"],
            "b": [price, "1", "1.000"],
            "c": [price, "0.00100000"],
            "v": ["100.00000000", "200.00000000"],
            "p": [price, price],
            "t": [1000, 2000],
            "l": [price, price],
            "h": [price, price],
            "o": price,
        }
    return _kraken_json({"error": [], "result": result})


def _binance_error(
    status: int, error: tuple[int, str], headers: Mapping[str, str] | None = None
) -> web.Response:
    from devtools.coingecko_simulator import render_json

    body = render_json({"code": error[0], "msg": error[1]})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


async def _binance(sim: Simulator, request: web.Request) -> web.Response:
    """``GET /api/v3/ticker/price?symbols=[...]`` (or ``symbol=``): Binance's documented objects."""
    from devtools.coingecko_simulator import render_json

    key, settings = _tenant(sim, "binance", request)
    early = await _common(sim, request, settings)
    if early is not None:
        return early
    if settings["mode"] == "error500":
        return _binance_error(500, BINANCE_INTERNAL)
    if settings["mode"] == "rate_limited":
        retry = settings["retry_after"]
        return _binance_error(
            429, BINANCE_TOO_MANY, {"Retry-After": str(retry)} if retry is not None else None
        )
    single = request.query.get("symbol")
    if single is not None:
        wanted: list[str] = [single]
    else:
        try:
            parsed = load_json(request.query.get("symbols", "").encode())
        except ValueError:
            parsed = None
        if not isinstance(parsed, list) or not parsed or not all(isinstance(s, str) for s in parsed):
            return _binance_error(400, (-1100, "Illegal characters found in parameter 'symbols'."))
        wanted = [str(s) for s in parsed]
    known = sim.config.get("symbols", {}).get("binance", {})
    items: list[dict[str, str]] = []
    for symbol in wanted:
        pid = known.get(symbol)
        price = _price(sim, key, pid) if pid is not None and symbol not in _missing(settings) else None
        if price is None:
            return _binance_error(400, BINANCE_INVALID_SYMBOL)
        items.append({"symbol": symbol, "price": price})
    body: object = items[0] if single is not None else items
    return web.Response(text=render_json(body), content_type="application/json")
