"""Binance's public ``ticker/price`` endpoint, read from bytes that are treated as hostile.

Request ([Symbol price ticker, Spot REST API](https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#symbol-price-ticker)),
no key, on the market-data root ``https://data-api.binance.vision`` (or ``https://api.binance.com``)::

    GET /api/v3/ticker/price?symbols=["BTCUSDT","BNBUSDT"]        (URL-encoded)

Documented answers (prices are JSON *strings*): ``{"symbol": "LTCBTC", "price": "4.00000200"}`` for
``symbol=``, an array of such objects for ``symbols=``. Errors: ``{"code": -1121, "msg": "Invalid
symbol."}`` (any endpoint, with a 4XX status); 429 (rate limit) and 418 (IP banned) come with a
``Retry-After`` in seconds; 403 is a WAF block. The answer has no time: a quote is dated when it is
received. A Binance symbol is quoted in its own quote asset (``BTCUSDT``: tether, close to but not
the US dollar): the operator chooses which symbol stands for a pair.

Pure: no I/O, no clock; never raises anything but :class:`AnswerError`; prices are exact 18-decimal
integers from the decimal text, never floats.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from abci_app.pricefeed.cache import Quote
from abci_app.pricefeed.decimal18 import JsonNumber, PriceParseError, parse_price
from abci_app.pricefeed.provider import Provider, ProviderAnswer, ProviderRequest
from abci_app.pricefeed.simple_price import AnswerError, load_answer, load_json, printable

DEFAULT_BASE_URL = "https://data-api.binance.vision"
SYMBOL = re.compile(r"[A-Z0-9._-]{1,32}")
"""Symbols accepted in ``pricefeed.json``."""
_CODE = re.compile(r"-?[0-9]{1,9}")


def ticker_url(base_url: str, symbols: Sequence[str]) -> str:
    """``{base}/api/v3/ticker/price?symbols=["A","B"]`` (sorted, URL-encoded as documented)."""
    listed = "[" + ",".join(f'"{s}"' for s in sorted(set(symbols))) + "]"
    return f"{base_url.rstrip('/')}/api/v3/ticker/price?symbols={quote(listed, safe='')}"


def _code_message(data: object) -> str | None:
    if not isinstance(data, dict) or type(data.get("msg")) is not str:
        return None
    code = data.get("code")
    message = printable(data["msg"])
    if isinstance(code, JsonNumber) and _CODE.fullmatch(code):
        return f"code {code}: {message}"
    return message


def parse_ticker(raw: bytes, content_type: str, symbols: dict[str, str], now: int) -> ProviderAnswer:
    """Read a 200 answer for ``symbols`` (pair id -> Binance symbol), dated ``now``.

    Accepts the single-object and the array form. A symbol answered twice, a price that is not a
    decimal JSON string, or a missing symbol rejects that pair with a reason. Raises
    :class:`AnswerError` for a body that is no answer or a ``{"code", "msg"}`` error body
    (``provider-error``).
    """
    data = load_answer(raw, content_type, "Binance", arrays=True)
    if isinstance(data, dict):
        error = _code_message(data) if "code" in data else None
        if error is not None:
            raise AnswerError("provider-error", f"Binance answered error {error}")
        data = [data]
    prices: dict[str, object] = {}
    repeated: set[str] = set()
    for item in data:
        if not isinstance(item, dict) or type(item.get("symbol")) is not str:
            continue
        symbol = item["symbol"]
        if symbol in prices:
            repeated.add(symbol)
        prices[symbol] = item.get("price")
    quotes: dict[str, Quote] = {}
    rejected: dict[str, str] = {}
    details: list[str] = []
    for pid, symbol in sorted(symbols.items()):
        if symbol in repeated:
            rejected[pid] = "symbol answered twice"
            continue
        if symbol not in prices:
            rejected[pid] = "symbol missing from the answer"
            continue
        text = prices[symbol]
        if type(text) is not str or isinstance(text, JsonNumber):
            details.append(f"{pid}: price of {symbol} is not a JSON string")
            rejected[pid] = "price is not a decimal string"
            continue
        try:
            quotes[pid] = Quote(parse_price(text), now)
        except PriceParseError as exc:
            details.append(f"{pid}: {exc}")
            rejected[pid] = "bad price"
    return ProviderAnswer(quotes, rejected, tuple(details))


def error_detail(raw: bytes) -> str:
    """Binance's ``code`` and ``msg`` if the body has them, else the generic description."""
    try:
        data = load_json(raw)
    except ValueError:
        data = None
    found = _code_message(data)
    if found is not None:
        return found
    from abci_app.pricefeed.simple_price import error_detail as generic

    return generic(raw)


class Binance(Provider):
    """Binance's public ``/api/v3/ticker/price`` (no key)."""

    name = "binance"
    title = "Binance"

    def request(self, pairs: Sequence[str]) -> ProviderRequest:
        """One GET for every served pair."""
        return ProviderRequest(ticker_url(self.base_url, [self.symbols[p] for p in pairs]), {})

    def parse(self, raw: bytes, content_type: str, pairs: Sequence[str], now: int) -> ProviderAnswer:
        """See :func:`parse_ticker`."""
        return parse_ticker(raw, content_type, {p: self.symbols[p] for p in pairs}, now)

    def error_detail(self, raw: bytes) -> str:
        """See :func:`error_detail`."""
        return error_detail(raw)
