"""Kraken's public ``Ticker`` endpoint, read from bytes that are treated as hostile.

Request ([Get Ticker Information](https://docs.kraken.com/api/docs/rest-api/get-ticker-information)),
no key::

    GET https://api.kraken.com/0/public/Ticker?pair=XBTUSD,ETHUSD

Documented answer (prices are JSON *strings*; ``c`` is the last trade closed, ``[<price>, <lot
volume>]``; the result is keyed by Kraken's own pair name, which may differ from the requested one:
``XBTUSD`` is answered as ``XXBTZUSD``)::

    {"error": [], "result": {"XXBTZUSD": {"a": ["30300.10000", "1", "1.000"], ...,
                                         "c": ["30303.20000", "0.00067643"], ...}}}

Errors come in the body of a 200 as ``"error": ["EQuery:Unknown asset pair"]`` (format
``<severity E|W><category>:<message>``, [API error messages](https://support.kraken.com/hc/en-us/articles/360001491786-API-error-messages));
``EAPI:Rate limit exceeded`` and ``EGeneral:Too many requests`` are rate limits. The answer has no time:
a quote is dated when it is received.

Pure: no I/O, no clock; never raises anything but :class:`AnswerError`; prices are exact 18-decimal
integers from the decimal text (:func:`~abci_app.pricefeed.decimal18.parse_price`), never floats.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from abci_app.pricefeed.cache import Quote
from abci_app.pricefeed.decimal18 import JsonNumber, PriceParseError, parse_price
from abci_app.pricefeed.provider import Provider, ProviderAnswer, ProviderRequest
from abci_app.pricefeed.simple_price import AnswerError, load_answer, load_json, printable

DEFAULT_BASE_URL = "https://api.kraken.com"
RATE_LIMIT_ERRORS = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests")
PAIR_NAME = re.compile(r"[A-Z0-9._/-]{1,32}")
"""Names accepted in ``pricefeed.json`` (Kraken's pair names and altnames are upper case)."""
_SHOWN_NAMES = 5


def ticker_url(base_url: str, names: Sequence[str]) -> str:
    """``{base}/0/public/Ticker?pair=<names sorted, comma-joined>``."""
    joined = quote(",".join(sorted(set(names))), safe=",/")
    return f"{base_url.rstrip('/')}/0/public/Ticker?pair={joined}"


def _errors(data: dict[str, object]) -> list[str]:
    errors = data.get("error")
    if not isinstance(errors, list) or not all(type(e) is str for e in errors):
        raise AnswerError("bad-shape", "Kraken answered without an error array of strings")
    return [printable(str(e), 80) for e in errors]


def _last_price(entry: object, pid: str, details: list[str]) -> int | str:
    """The ``c[0]`` price of a ticker entry, or the rejection reason."""
    if not isinstance(entry, dict):
        return "ticker is not an object"
    closed = entry.get("c")
    if not isinstance(closed, list) or not closed:
        return "no last trade (c)"
    text = closed[0]
    if type(text) is not str or isinstance(text, JsonNumber):
        details.append(f"{pid}: c[0] is not a JSON string")
        return "price is not a decimal string"
    try:
        return parse_price(text)
    except PriceParseError as exc:
        details.append(f"{pid}: {exc}")
        return "bad price"


def legacy_altname(key: str) -> str | None:
    """``XXBTZUSD`` -> ``XBTUSD``: the short name of a pair in Kraken's legacy X/Z-prefixed form, else None.

    Kraken's older assets carry a one-letter class prefix (X crypto, Z fiat) on four-letter codes, so
    the result of a request for ``XBTUSD`` is keyed ``XXBTZUSD`` (the documented example).
    """
    if len(key) == 8 and key[0] in "XZ" and key[4] in "XZ":
        return key[1:4] + key[5:]
    return None


def parse_ticker(raw: bytes, content_type: str, names: dict[str, str], now: int) -> ProviderAnswer:
    """Read a 200 ``Ticker`` answer for ``names`` (pair id -> requested Kraken name), dated ``now``.

    A pair's entry is the result key equal to its name, else the key whose legacy short form
    (:func:`legacy_altname`) is its name, else, when one pair was asked for and the result holds one
    entry, that entry (Kraken answers ``XBTUSD`` as ``XXBTZUSD``). A missing pair's reason
    lists the names Kraken answered with, so the operator can configure one of them. Raises
    :class:`AnswerError` for a body that is no answer, an ``E...`` error in ``error`` (state
    ``rate-limited`` for Kraken's rate-limit errors, else ``provider-error``) or a missing result.
    """
    data: dict[str, object] = load_answer(raw, content_type, "Kraken")
    errors = [e for e in _errors(data) if not e.startswith("W")]
    if errors:
        state = "rate-limited" if any(e.startswith(RATE_LIMIT_ERRORS) for e in errors) else "provider-error"
        raise AnswerError(state, f"Kraken answered error {'; '.join(errors[:3])}")
    result = data.get("result")
    if not isinstance(result, dict):
        raise AnswerError("bad-shape", "Kraken answered no result object")
    quotes: dict[str, Quote] = {}
    rejected: dict[str, str] = {}
    details: list[str] = []
    only = next(iter(result.values())) if len(names) == 1 and len(result) == 1 else None
    short = {alt: value for key, value in result.items() if (alt := legacy_altname(str(key))) is not None}
    for pid, name in sorted(names.items()):
        entry = result.get(name, short.get(name, only))
        if entry is None:
            answered = ", ".join(printable(str(k), 32) for k in sorted(result)[:_SHOWN_NAMES])
            details.append(f"{pid}: Kraken answered no {name} (it answered {answered or 'nothing'})")
            rejected[pid] = "pair missing from the answer"
            continue
        got = _last_price(entry, pid, details)
        if isinstance(got, int):
            quotes[pid] = Quote(got, now)
        else:
            rejected[pid] = got
    return ProviderAnswer(quotes, rejected, tuple(details))


def error_detail(raw: bytes) -> str:
    """Kraken's ``error`` strings if the body has them, else the generic description."""
    try:
        data = load_json(raw)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), list):
        texts = [printable(e, 80) for e in data["error"] if type(e) is str]
        if texts:
            return "; ".join(texts[:3])
    from abci_app.pricefeed.simple_price import error_detail as generic

    return generic(raw)


class Kraken(Provider):
    """Kraken's public ``/0/public/Ticker`` (no key); the price is the last trade closed."""

    name = "kraken"
    title = "Kraken"

    def request(self, pairs: Sequence[str]) -> ProviderRequest:
        """One GET for every served pair."""
        return ProviderRequest(ticker_url(self.base_url, [self.symbols[p] for p in pairs]), {})

    def parse(self, raw: bytes, content_type: str, pairs: Sequence[str], now: int) -> ProviderAnswer:
        """See :func:`parse_ticker`."""
        return parse_ticker(raw, content_type, {p: self.symbols[p] for p in pairs}, now)

    def error_detail(self, raw: bytes) -> str:
        """See :func:`error_detail`."""
        return error_detail(raw)
