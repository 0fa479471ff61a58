"""A CoinGecko-compatible ``/simple/price`` server for offline runs and tests (aiohttp, 127.0.0.1 only).

It answers as CoinGecko documents (https://docs.coingecko.com/v3.0.1/reference/simple-price; the
examples are in ``tests/fixtures/coingecko/`` and a test checks the simulator against them), written
from that documentation and not from what our client expects::

    GET /api/v3/simple/price?ids=bitcoin&vs_currencies=usd&include_last_updated_at=true&precision=full
    {"bitcoin": {"usd": 67187.33, "last_updated_at": 1711356400}}

``ids`` (unknown ones left out), ``vs_currencies``, ``include_market_cap`` / ``include_24hr_vol`` /
``include_24hr_change`` (synthetic figures under the documented names ``<cur>_market_cap``,
``<cur>_24h_vol``, ``<cur>_24h_change``), ``include_last_updated_at`` (one per coin) and ``precision``
(``full`` or ``0``..``18`` decimals, rounded half away from zero; absent or another value: 15 significant
digits, as in the documented example). Errors: 401 with CoinGecko codes 10002 (no or unknown key),
10010 / 10011 (a key of the other plan), 429 (no ``Retry-After`` unless ``retry_after`` is set: CoinGecko
documents none), each as ``{"status": {"error_code": ..., "error_message": ...}}``.

Each API key (one per validator) has its own scripted behaviour. The configuration (a JSON file for
``scripts/coingecko_sim.py --config``, or a dict for :func:`start_simulator`)::

    {
      "start_time": 1711356300,          // sim time 0 (unix s); default: when the simulator starts
      "coins": {"bitcoin": {"usd": "67187.33", "eur": "62001.5"}, "ethereum": {"usd": "3500"}},
      "drift_per_s": {"bitcoin/usd": "0.25"},        // optional, for every key
      "paths": {"ethereum/usd": ["3500", "3501.5", "3499"]},   // optional, for every key
      "path_step_s": 1,
      "keys": {
        "CG-val0": {},                                // all defaults: mode ok
        "CG-val1": {"skew": "1000"},                  // serves prices 1000x off
        "CG-val2": {"mode": "rate_limited", "retry_after": 2}
      }
    }

Per-key settings (all optional; ``null`` in an admin update resets a field to its default):

``mode``
    ``ok``, ``error500``, ``unauthorized`` (401, code 10002), ``rate_limited`` (429, with
    ``Retry-After`` only when ``retry_after`` is set),
    ``timeout`` (answers after ``hang_s``, longer than any client timeout), ``html`` (an HTML error page
    with status ``html_status``), ``garbage`` (truncated, non-UTF-8 "JSON"), ``nulls`` (prices of
    ``null_pairs``, default all, are ``null``), ``missing_coins`` (coins in ``missing``, default the
    last requested one, left out), ``stale`` (``last_updated_at`` is ``stale_age_s`` in the past).
``skew``
    A decimal multiplier applied to every price of this key (``"1000"``: 1000x off).
``prices`` / ``drift_per_s`` / ``paths``
    Per-pair overrides of the base price, a linear drift per second of sim time, or a list of values
    stepping every ``path_step_s`` seconds (cycling). Pair ids are ``"<coin>/<quote>"``.
``plan``
    ``"demo"`` or ``"pro"``: the key is refused (401, code 10010/10011) when sent in the other plan's
    header or query parameter. Unset: both are accepted.
``retry_after`` (default none: no header), ``retry_after_format`` (``"seconds"`` or ``"http-date"``),
``hang_s``, ``stale_age_s``, ``html_status``, ``exponent`` (print prices in exponent notation, e.g.
``1.5e-7``).

Price of a pair served to a key with ``last_updated_at = ts`` (``t = ts - start_time``), in integers
with 18 decimals: ``path[(t // path_step_s) % len(path)]`` if the pair has a path, else
``base + drift * t``; then ``floor(value * skew)``. With ``precision=full`` the number is printed
exactly from that integer (:func:`~abci_app.pricefeed.decimal18.format_decimal18`), so
:class:`SimulatedPrices` gives the exact integer a client parses. ``last_updated_at`` is the simulator
clock's whole second (minus ``stale_age_s`` in ``stale`` mode).

Kraken's and Binance's public tickers are served beside it, per validator *tenant*
(``/kraken/<tenant>/0/public/Ticker``, ``/binance/<tenant>/api/v3/ticker/price``; top-level ``symbols``
and ``kraken_answer_names``): see :mod:`devtools.price_simulator`.

Admin endpoints: ``GET /_sim/keys`` (configuration, per-key request counts and last request),
``POST /_sim/keys/<key>`` (JSON object merged into that key's settings; creates the key),
``DELETE /_sim/keys/<key>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import email.utils
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from abci_app.pricefeed.cache import parse_pair_id
from abci_app.pricefeed.decimal18 import (
    DECIMALS,
    SCALE,
    JsonNumber,
    PriceParseError,
    format_decimal18,
    format_decimal18_exponent,
    loads_no_float,
    parse_decimal18,
)
from devtools.price_simulator import add_routes as add_exchange_routes
from devtools.price_simulator import validate_symbols

log = logging.getLogger("devtools.coingecko_simulator")

HOST = "127.0.0.1"
MODES = (
    "ok",
    "error500",
    "unauthorized",
    "rate_limited",
    "timeout",
    "html",
    "garbage",
    "nulls",
    "missing_coins",
    "stale",
)
KEY_DEFAULTS: dict[str, Any] = {
    "mode": "ok",
    "skew": "1",
    "prices": {},
    "drift_per_s": {},
    "paths": {},
    "plan": None,
    "retry_after": None,
    "retry_after_format": "seconds",
    "hang_s": 30,
    "stale_age_s": 3600,
    "html_status": 503,
    "missing": None,
    "null_pairs": None,
    "exponent": False,
}
HEADER_PLANS = {
    "x-cg-demo-api-key": "demo",
    "x-cg-pro-api-key": "pro",
}
QUERY_PLANS = {"x_cg_demo_api_key": "demo", "x_cg_pro_api_key": "pro"}
HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>api.coingecko.com | {status}: Service temporarily unavailable"
    "</title></head>\n<body><h1>Error {status}</h1><p>The origin server is not responding (simulated)."
    "</p></body></html>\n"
)
GARBAGE = b'{"bitcoin": {"usd": 6718\x00\xff\xfe<<not json>> "last_updated_at": '


class SimConfigError(ValueError):
    """A simulator configuration or admin update that cannot be used."""


def render_json(value: object) -> str:
    """JSON text in which :class:`JsonNumber` values are written verbatim (exact numbers, no float)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, JsonNumber):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {render_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_json(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} without a float")


def _plain(value: object) -> object:
    """Configuration values as plain JSON-able data (JsonNumber -> str)."""
    if isinstance(value, JsonNumber):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _int_setting(name: str, value: object, minimum: int = 0) -> int:
    if isinstance(value, JsonNumber | str):
        try:
            value = int(value)
        except ValueError:
            raise SimConfigError(f"{name} must be a whole number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SimConfigError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def _decimal(name: str, value: object, *, signed: bool = False) -> int:
    try:
        return parse_decimal18(value, allow_negative=signed, allow_zero=signed)
    except PriceParseError as exc:
        raise SimConfigError(f"{name}: {exc}") from None


def _pair_map(name: str, value: object) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SimConfigError(f"{name} must be an object of pair id -> value")
    for pid in value:
        try:
            parse_pair_id(str(pid))
        except ValueError as exc:
            raise SimConfigError(f"{name}: {exc}") from None
    return dict(value)


def validate_key_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults filled in and every field checked; :class:`SimConfigError` on a bad one."""
    unknown = sorted(set(settings) - set(KEY_DEFAULTS))
    if unknown:
        raise SimConfigError(f"unknown key setting(s) {', '.join(unknown)}; known: {sorted(KEY_DEFAULTS)}")
    out = copy.deepcopy(KEY_DEFAULTS)
    out.update({k: v for k, v in settings.items() if v is not None})
    if out["mode"] not in MODES:
        raise SimConfigError(f"mode must be one of {', '.join(MODES)}; got {out['mode']!r}")
    if _decimal("skew", out["skew"]) <= 0:
        raise SimConfigError("skew must be positive")
    for pid, v in _pair_map("prices", out["prices"]).items():
        _decimal(f"prices[{pid}]", v)
    for pid, v in _pair_map("drift_per_s", out["drift_per_s"]).items():
        _decimal(f"drift_per_s[{pid}]", v, signed=True)
    _validate_paths(out["paths"])
    if out["plan"] not in (None, "demo", "pro"):
        raise SimConfigError(f"plan must be 'demo', 'pro' or null, got {out['plan']!r}")
    for name in ("hang_s", "stale_age_s"):
        out[name] = _int_setting(name, out[name])
    if out["retry_after"] is not None:
        out["retry_after"] = _int_setting("retry_after", out["retry_after"])
    out["html_status"] = _int_setting("html_status", out["html_status"], 100)
    if out["retry_after_format"] not in ("seconds", "http-date"):
        raise SimConfigError("retry_after_format must be 'seconds' or 'http-date'")
    for name in ("missing", "null_pairs"):
        if out[name] is not None and (
            not isinstance(out[name], list) or not all(isinstance(x, str) for x in out[name])
        ):
            raise SimConfigError(f"{name} must be a list of strings")
    if not isinstance(out["exponent"], bool):
        raise SimConfigError("exponent must be true or false")
    return out


def _validate_paths(paths: object) -> None:
    for pid, values in _pair_map("paths", paths).items():
        if not isinstance(values, list) or not values:
            raise SimConfigError(f"paths[{pid}] must be a non-empty list of prices")
        for v in values:
            _decimal(f"paths[{pid}]", v)


def validate_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A checked copy of a simulator configuration (keys' settings with defaults filled in)."""
    known = {
        "start_time",
        "coins",
        "drift_per_s",
        "paths",
        "path_step_s",
        "keys",
        "symbols",
        "kraken_answer_names",
    }
    unknown = sorted(set(config) - known)
    if unknown:
        raise SimConfigError(f"unknown top-level field(s) {', '.join(unknown)}; known: {sorted(known)}")
    out: dict[str, Any] = {
        "coins": {},
        "drift_per_s": _pair_map("drift_per_s", config.get("drift_per_s")),
        "paths": _pair_map("paths", config.get("paths")),
        "path_step_s": _int_setting("path_step_s", config.get("path_step_s", 1), 1),
        "keys": {},
        **validate_symbols(config),
    }
    if config.get("start_time") is not None:
        out["start_time"] = _int_setting("start_time", config["start_time"])
    coins = config.get("coins", {})
    if not isinstance(coins, Mapping):
        raise SimConfigError("coins must be an object: coin id -> {quote currency: price}")
    for coin, quotes in coins.items():
        if not isinstance(quotes, Mapping):
            raise SimConfigError(f"coins[{coin}] must be an object: quote currency -> price")
        for quote, price in quotes.items():
            parse_pair_id(f"{coin}/{quote}")
            _decimal(f"coins[{coin}][{quote}]", price)
        out["coins"][str(coin)] = dict(quotes)
    for pid, v in out["drift_per_s"].items():
        _decimal(f"drift_per_s[{pid}]", v, signed=True)
    _validate_paths(out["paths"])
    keys = config.get("keys", {})
    if not isinstance(keys, Mapping):
        raise SimConfigError("keys must be an object: API key -> settings")
    for key, settings in keys.items():
        if not isinstance(settings, Mapping):
            raise SimConfigError(f"keys[{key}] must be an object of settings")
        out["keys"][str(key)] = validate_key_settings(settings)
    return out


class SimulatedPrices:
    """The exact integers (18 decimals) the simulator serves; use it to compute expected medians.

    Built from a simulator configuration that has a ``start_time`` (the running simulator's
    configuration, ``Simulator.config`` or ``GET /_sim/keys``, always has one).
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Validate ``config``; extra fields of ``GET /_sim/keys`` (requests, last_request) are ignored."""
        cfg = validate_config({k: v for k, v in config.items() if k not in ("requests", "last_request")})
        if "start_time" not in cfg:
            raise SimConfigError("the configuration has no start_time; use the running simulator's")
        self.config = cfg

    @property
    def start_time(self) -> int:
        """Unix second of sim time 0."""
        return int(self.config["start_time"])

    def settings(self, key: str) -> dict[str, Any]:
        """The settings of an API key (KeyError if the simulator does not know it)."""
        return dict(self.config["keys"][key])

    def served_timestamp(self, key: str, now: float) -> int:
        """``last_updated_at`` served to ``key`` at clock time ``now``."""
        ts = math.floor(now)
        if self.settings(key)["mode"] == "stale":
            ts -= int(self.settings(key)["stale_age_s"])
        return ts

    def price(self, key: str, pair: str, at: int) -> int | None:
        """The integer price of ``pair`` served to ``key`` with ``last_updated_at == at``; None if unknown.

        May be zero or negative with a negative drift (the client rejects such a price).
        """
        coin, quote = parse_pair_id(pair)
        s = self.settings(key)
        t = at - self.start_time
        paths = {**self.config["paths"], **s["paths"]}
        if pair in paths:
            step = int(self.config["path_step_s"])
            values = paths[pair]
            value = _decimal(pair, values[(t // step) % len(values)])
        else:
            base_text = s["prices"].get(pair, self.config["coins"].get(coin, {}).get(quote))
            if base_text is None:
                return None
            drift = {**self.config["drift_per_s"], **s["drift_per_s"]}.get(pair)
            value = _decimal(pair, base_text) + (_decimal(pair, drift, signed=True) * t if drift else 0)
        return value * _decimal("skew", s["skew"]) // SCALE

    def prices(self, key: str, at: int, pairs: list[str] | None = None) -> dict[str, int]:
        """Every known pair's price (or those of ``pairs``) served to ``key`` at ``at``, by pair id."""
        if pairs is None:
            coins = self.config["coins"]
            pairs = [f"{c}/{q}" for c in coins for q in coins[c]]
            pairs += list(self.settings(key)["prices"])
        out: dict[str, int] = {}
        for pid in sorted(set(pairs)):
            value = self.price(key, pid, at)
            if value is not None:
                out[pid] = value
        return out

    def known_coins(self, key: str) -> dict[str, list[str]]:
        """Coin id -> quote currencies this key can be served (base coins plus its own price overrides)."""
        out: dict[str, set[str]] = {c: set(q) for c, q in self.config["coins"].items()}
        for pid in self.settings(key)["prices"]:
            coin, quote = parse_pair_id(pid)
            out.setdefault(coin, set()).add(quote)
        return {c: sorted(q) for c, q in sorted(out.items())}


# CoinGecko's error messages (sources quoted in tests/fixtures/coingecko/): the codes and texts of 10002,
# 10010 and 10011 are the documented descriptions, the 429 text is an observed answer, the 500 text is ours.
KEY_MISSING_MESSAGE = (
    "API Key Missing. Please make sure you're using the right authentication method. For Pro API, ensure "
    "you pass in x_cg_pro_api_key parameter with a Pro Key and for Demo API, ensure you pass in "
    "x_cg_demo_api_key parameter with a Demo Key."
)
PRO_KEY_ON_DEMO_ROOT_MESSAGE = (
    "You have provided incorrect API key credentials. If you are using Pro API key, please change your root "
    "URL from api.coingecko.com to pro-api.coingecko.com"
)
DEMO_KEY_ON_PRO_ROOT_MESSAGE = (
    "You have provided incorrect API key credentials. If you are using Demo API key, please change your root "
    "URL from pro-api.coingecko.com to api.coingecko.com"
)
RATE_LIMIT_MESSAGE = (
    "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to "
    "our API plans for higher rate limits."
)
SERVER_ERROR_MESSAGE = "Internal Server Error"
DEFAULT_SIGNIFICANT_DIGITS = 15
"""Digits printed without ``precision`` (undocumented; the documented example prints 15 significant)."""
SYNTHETIC_SUPPLY = 1_000_000
"""``<currency>_market_cap`` is the price times this (the simulator knows no real supply)."""
SYNTHETIC_VOLUME_FACTOR = 10_000
"""``<currency>_24h_vol`` is the price times this."""
DAY_S = 86_400
_PRECISION = re.compile(r"[0-9]{1,2}")


def _error(status: int, code: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    body = render_json({"status": {"error_code": code, "error_message": message}})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)


@dataclass(frozen=True)
class PriceRequest:
    """The documented query parameters of ``/simple/price`` the simulator honours.

    ``decimals`` is ``precision`` (``full`` is 18, the simulator's exact resolution); ``None`` when absent
    or not one of the documented values (``full``, ``0``..``18``), then prices get
    :data:`DEFAULT_SIGNIFICANT_DIGITS`.
    """

    ids: tuple[str, ...]
    quotes: tuple[str, ...]
    last_updated_at: bool = False
    market_cap: bool = False
    vol_24h: bool = False
    change_24h: bool = False
    decimals: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> PriceRequest:
        """Read ``ids``, ``vs_currencies``, the ``include_*`` flags and ``precision``."""

        def flag(name: str) -> bool:
            return query.get(name, "").lower() == "true"

        precision = query.get("precision", "")
        decimals = None
        if precision == "full":
            decimals = DECIMALS
        elif _PRECISION.fullmatch(precision) and int(precision) <= DECIMALS:
            decimals = int(precision)
        return cls(
            ids=tuple(x for x in query.get("ids", "").split(",") if x),
            quotes=tuple(x for x in query.get("vs_currencies", "").split(",") if x),
            last_updated_at=flag("include_last_updated_at"),
            market_cap=flag("include_market_cap"),
            vol_24h=flag("include_24hr_vol"),
            change_24h=flag("include_24hr_change"),
            decimals=decimals,
        )


def _round_half_up(units: int, step: int) -> int:
    """``units`` rounded to a multiple of ``step``, halves away from zero."""
    magnitude = (abs(units) + step // 2) // step * step
    return -magnitude if units < 0 else magnitude


def round_decimals(units: int, decimals: int) -> int:
    """An 18-decimal integer rounded to ``decimals`` decimals (half away from zero)."""
    return _round_half_up(units, 10 ** (DECIMALS - decimals))


def round_significant(units: int, digits: int) -> int:
    """An 18-decimal integer rounded to ``digits`` significant digits (half away from zero)."""
    excess = len(str(abs(units))) - digits
    return units if excess <= 0 else _round_half_up(units, 10**excess)


class Simulator:
    """The simulator's state: live configuration, clock, request counters; handlers for the routes."""

    def __init__(self, config: Mapping[str, Any], *, clock: Callable[[], float] = time.time) -> None:
        """Validate ``config`` and fix ``start_time`` (now, if the configuration has none)."""
        self.clock = clock
        self.config = validate_config(config)
        self.config.setdefault("start_time", math.floor(clock()))
        self.requests: dict[str, int] = {}
        self.last_request: dict[str, dict[str, str]] = {}
        self.closing = asyncio.Event()

    @property
    def prices(self) -> SimulatedPrices:
        """What the simulator serves under its current configuration."""
        return SimulatedPrices(self.config)

    def set_key(self, key: str, update: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``update`` into a key's settings (``None`` resets a field); returns the new settings."""
        current = {k: v for k, v in self.config["keys"].get(key, {}).items() if KEY_DEFAULTS.get(k) != v}
        merged = {**current, **update}
        settings = validate_key_settings({k: v for k, v in merged.items() if v is not None})
        self.config["keys"][key] = settings
        log.info("coingecko-sim: key %s now %s", _mask(key), settings["mode"])
        return settings

    def app(self) -> web.Application:
        """The aiohttp application serving CoinGecko's routes and the admin routes."""
        app = web.Application()
        app.router.add_get("/api/v3/simple/price", self.simple_price)
        app.router.add_get("/simple/price", self.simple_price)
        app.router.add_get("/api/v3/ping", self.ping)
        app.router.add_get("/ping", self.ping)
        app.router.add_get("/_sim/keys", self.admin_list)
        app.router.add_post("/_sim/keys/{key}", self.admin_update)
        app.router.add_delete("/_sim/keys/{key}", self.admin_delete)
        add_exchange_routes(app, self)  # Kraken's and Binance's tickers (devtools/price_simulator.py)
        app.on_shutdown.append(self._on_shutdown)
        app[SIMULATOR_KEY] = self
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self.closing.set()

    # -- admin -------------------------------------------------------------------------------------

    async def admin_list(self, request: web.Request) -> web.Response:
        """``GET /_sim/keys``: the whole configuration, request counts and each key's last request."""
        body = {**_plain(self.config), "requests": self.requests, "last_request": self.last_request}  # type: ignore[dict-item]
        return web.Response(text=render_json(body), content_type="application/json")

    async def admin_update(self, request: web.Request) -> web.Response:
        """``POST /_sim/keys/<key>``: merge a JSON object into the key's settings."""
        key = request.match_info["key"]
        try:
            update = loads_no_float(await request.text())
        except ValueError as exc:
            return web.json_response({"error": f"body is not JSON: {exc}"}, status=400)
        if not isinstance(update, dict):
            return web.json_response({"error": "body must be a JSON object of settings"}, status=400)
        try:
            settings = self.set_key(key, update)
        except SimConfigError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.Response(text=render_json(_plain(settings)), content_type="application/json")

    async def admin_delete(self, request: web.Request) -> web.Response:
        """``DELETE /_sim/keys/<key>``: forget a key (it is then answered 401)."""
        removed = self.config["keys"].pop(request.match_info["key"], None)
        return web.json_response({"deleted": removed is not None})

    # -- CoinGecko ---------------------------------------------------------------------------------

    async def ping(self, request: web.Request) -> web.Response:
        """``GET /ping``: CoinGecko's health check."""
        return web.Response(
            text=render_json({"gecko_says": "(V3) To the Moon!"}), content_type="application/json"
        )

    async def simple_price(self, request: web.Request) -> web.StreamResponse:
        """``GET /simple/price``: CoinGecko's answer for the key's scripted behaviour."""
        key, plan_used = None, None
        for header, plan in HEADER_PLANS.items():
            if request.headers.get(header):
                key, plan_used = request.headers[header], plan
                break
        if key is None:
            for param, plan in QUERY_PLANS.items():
                if request.query.get(param):
                    key, plan_used = request.query[param], plan
                    break
        if key is None:
            return _error(401, 10002, KEY_MISSING_MESSAGE)
        self.requests[key] = self.requests.get(key, 0) + 1
        self.last_request[key] = {
            "path": request.path,
            "query": request.query_string,
            "plan": plan_used or "",
        }
        settings = self.config["keys"].get(key)
        if settings is None:
            return _error(401, 10002, KEY_MISSING_MESSAGE)
        if settings["plan"] == "pro" and plan_used == "demo":
            return _error(401, 10010, PRO_KEY_ON_DEMO_ROOT_MESSAGE)
        if settings["plan"] == "demo" and plan_used == "pro":
            return _error(401, 10011, DEMO_KEY_ON_PRO_ROOT_MESSAGE)
        mode = settings["mode"]
        if mode == "error500":
            return _error(500, 500, SERVER_ERROR_MESSAGE)
        if mode == "unauthorized":
            return _error(401, 10002, KEY_MISSING_MESSAGE)
        if mode == "rate_limited":
            return self._rate_limited(settings)
        if mode == "html":
            status = int(settings["html_status"])
            return web.Response(status=status, text=HTML_PAGE.format(status=status), content_type="text/html")
        if mode == "garbage":
            return web.Response(status=200, body=GARBAGE, content_type="application/json")
        if mode == "timeout" and not await self._hang(request, float(settings["hang_s"])):
            return web.Response(status=504, text="client went away")
        wanted = PriceRequest.from_query(request.query)
        if not wanted.ids:
            return web.json_response({"error": "Missing parameter ids"}, status=400)
        if not wanted.quotes:
            return web.json_response({"error": "Missing parameter vs_currencies"}, status=400)
        return web.Response(text=render_json(self.price_answer(key, wanted)), content_type="application/json")

    def _rate_limited(self, settings: Mapping[str, Any]) -> web.Response:
        headers: dict[str, str] = {}
        if settings["retry_after"] is not None:
            seconds = int(settings["retry_after"])
            if settings["retry_after_format"] == "http-date":
                when = datetime.fromtimestamp(math.ceil(self.clock()) + seconds, tz=UTC)
                headers["Retry-After"] = email.utils.format_datetime(when, usegmt=True)
            else:
                headers["Retry-After"] = str(seconds)
        return _error(429, 429, RATE_LIMIT_MESSAGE, headers=headers)

    async def _hang(self, request: web.Request, seconds: float) -> bool:
        """Wait ``seconds``; False early if the client disconnects or the simulator shuts down."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (remaining := deadline - loop.time()) > 0:
            transport = request.transport
            if transport is None or transport.is_closing() or self.closing.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), timeout=min(0.05, remaining))
        return True

    def price_answer(self, key: str, wanted: PriceRequest) -> dict[str, dict[str, object]]:
        """The 200 body for ``key``, as CoinGecko documents it: one object per known coin id.

        Per requested currency the coin knows: ``<cur>`` (the price, ``precision`` honoured), then
        ``<cur>_market_cap``, ``<cur>_24h_vol``, ``<cur>_24h_change`` when asked for; then one
        ``last_updated_at`` for the coin when asked for. Unknown coin ids are left out.
        """
        prices = self.prices
        settings = prices.settings(key)
        known = prices.known_coins(key)
        ts = prices.served_timestamp(key, self.clock())
        requested = [c for c in sorted(set(wanted.ids)) if c in known]
        if settings["mode"] == "missing_coins":
            missing = settings["missing"] if settings["missing"] is not None else requested[-1:]
            requested = [c for c in requested if c not in missing]
        body: dict[str, dict[str, object]] = {}
        for coin in requested:
            entry: dict[str, object] = {}
            for quote in sorted(set(wanted.quotes)):
                if quote in known[coin]:
                    entry.update(self._currency_fields(key, f"{coin}/{quote}", ts, wanted))
            if wanted.last_updated_at:
                entry["last_updated_at"] = ts
            body[coin] = entry
        return body

    def _currency_fields(self, key: str, pid: str, ts: int, wanted: PriceRequest) -> dict[str, object]:
        """``<cur>`` and the asked-for ``<cur>_*`` fields of one pair (empty if it has no price)."""
        prices = self.prices
        settings = prices.settings(key)
        value = prices.price(key, pid, ts)
        if value is None:
            return {}
        quote = pid.partition("/")[2]
        fmt = format_decimal18_exponent if settings["exponent"] else format_decimal18
        if wanted.decimals is None:
            shown = round_significant(value, DEFAULT_SIGNIFICANT_DIGITS)
        else:
            shown = round_decimals(value, wanted.decimals)
        nulled = settings["mode"] == "nulls" and (
            settings["null_pairs"] is None or pid in settings["null_pairs"]
        )
        fields: dict[str, object] = {quote: None if nulled else JsonNumber(fmt(shown))}

        def figure(units: int) -> JsonNumber:
            return JsonNumber(format_decimal18(round_significant(units, DEFAULT_SIGNIFICANT_DIGITS)))

        if wanted.market_cap:
            fields[f"{quote}_market_cap"] = figure(value * SYNTHETIC_SUPPLY)
        if wanted.vol_24h:
            fields[f"{quote}_24h_vol"] = figure(value * SYNTHETIC_VOLUME_FACTOR)
        if wanted.change_24h:
            before = prices.price(key, pid, ts - DAY_S)
            change = None
            if before is not None and before > 0 and not nulled:
                change = figure((value - before) * 100 * SCALE // before)
            fields[f"{quote}_24h_change"] = change
        return fields


def _mask(key: str) -> str:
    return key[:3] + "..." if len(key) > 6 else "***"


SIMULATOR_KEY = web.AppKey("simulator", Simulator)


def load_config_file(path: str) -> dict[str, Any]:
    """Read a simulator configuration file (numbers kept exact) and validate it."""
    with open(path, encoding="utf-8") as fh:
        data = loads_no_float(fh.read())
    if not isinstance(data, dict):
        raise SimConfigError(f"{path}: expected a JSON object")
    return validate_config(data)


async def start_simulator(
    config: Mapping[str, Any], port: int = 0, *, clock: Callable[[], float] = time.time, host: str = HOST
) -> tuple[web.AppRunner, str]:
    """Serve the simulator on ``host``:``port`` (0: ephemeral); returns the runner and the base URL.

    ``host`` is 127.0.0.1 unless nodes in other network namespaces must reach it (a bridge address).

    The base URL ends in ``/api/v3`` (use it as ``base_url``). ``runner.app[SIMULATOR_KEY]`` is the
    :class:`Simulator` (live configuration, request counts). Stop with ``await runner.cleanup()``.
    """
    simulator = Simulator(config, clock=clock)
    runner = web.AppRunner(simulator.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = int(runner.addresses[0][1])
    return runner, f"http://{host}:{bound}/api/v3"


def simulator_of(runner: web.AppRunner) -> Simulator:
    """The :class:`Simulator` behind a runner made by :func:`start_simulator`."""
    return runner.app[SIMULATOR_KEY]
