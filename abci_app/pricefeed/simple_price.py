"""CoinGecko's documented ``/simple/price`` contract, read from bytes that are treated as hostile.

Request (https://docs.coingecko.com/v3.0.1/reference/simple-price)::

    GET {root}/simple/price?ids=bitcoin,ethereum&vs_currencies=eur,usd
        &include_last_updated_at=true&precision=full

Documented answer (one object per known coin id; unknown ids are left out; ``last_updated_at`` is per
coin, in UNIX seconds, not per currency)::

    {"bitcoin": {"usd": 67187.3358936566, "usd_market_cap": 1317802988326.25, ...,
                 "last_updated_at": 1711356300}}

Error bodies read by :func:`error_detail`: ``{"status": {"error_code": 429, "error_message": "..."}}``
(observed on 429 and assumed for 401 codes 10002/10010/10011), ``{"error": {"status": {...}}}`` and
``{"error": "..."}`` (reported by other clients), HTML pages (CDN errors), anything else.

Everything here is pure: no I/O, no clock. Every function takes the raw bytes, never raises anything but
the documented :class:`AnswerError` (and never for a single bad pair: that pair is rejected with a
reason), builds no float and no integer from more than a bounded number of digits, so no result depends
on ``sys.set_int_max_str_digits``. See ``tests/fixtures/coingecko/`` for the documented examples.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from abci_app.pricefeed.cache import Quote, parse_pair_id
from abci_app.pricefeed.decimal18 import JsonNumber, PriceParseError, loads_no_float, parse_price

PRECISION = "full"
"""Asked for so CoinGecko prints every decimal it has (documented values: ``full`` or ``0``..``18``)."""
TIMESTAMP_KEY = "last_updated_at"
MAX_UNIX_DIGITS = 12
TITLE_SCAN_CHARS = 4096
"""Only this much of an HTML body is searched for its ``<title>`` (keeps the search linear and short)."""
_UNIX_SECONDS = re.compile(rf"[0-9]{{1,{MAX_UNIX_DIGITS}}}")
_ERROR_CODE = re.compile(r"-?[0-9]{1,9}")
_TITLE = re.compile(r"<title[^>]{0,200}>([^<]{0,400})</title>", re.IGNORECASE)


class AnswerError(ValueError):
    """A 200 body that is not a ``/simple/price`` answer at all; :attr:`state` names the kind of trouble.

    States: ``html``, ``content-type``, ``not-json``, ``bad-shape``.
    """

    def __init__(self, state: str, message: str) -> None:
        """``message`` says what CoinGecko answered, for a log line."""
        super().__init__(message)
        self.state = state


@dataclass(frozen=True)
class SimplePriceAnswer:
    """The usable quotes of an answer and the reason each other requested pair was rejected.

    ``rejected`` reasons are short fixed phrases (to group pairs in one log line); ``details`` holds the
    offending values, which change from answer to answer.
    """

    quotes: dict[str, Quote]
    rejected: dict[str, str]
    details: tuple[str, ...]


def request_query(coin_ids: Sequence[str], quotes: Sequence[str]) -> str:
    """The query string for ``coin_ids`` priced in ``quotes`` (each sorted, comma-joined)."""
    ids = quote(",".join(sorted(coin_ids)), safe=",")
    vs = quote(",".join(sorted(quotes)), safe=",")
    return f"ids={ids}&vs_currencies={vs}&include_last_updated_at=true&precision={PRECISION}"


def printable(text: str, limit: int = 120) -> str:
    """``text`` on one line, control characters replaced by ``?``, at most ``limit`` characters."""
    head = text[: limit * 4]  # bound the work on a huge string before looking at it
    flat = "".join(c if c.isprintable() else "?" for c in " ".join(head.split()))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {printable(key, 40)!r}")
        out[key] = value
    return out


def load_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8, numbers kept as their text (:class:`JsonNumber`), no duplicate keys.

    Raises ``ValueError`` (``UnicodeDecodeError`` and ``json.JSONDecodeError`` are ones) on anything
    else, including nesting too deep for the parser.
    """
    text = raw.decode("utf-8")
    try:
        return loads_no_float(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _html_title(text: str) -> str | None:
    match = _TITLE.search(text[:TITLE_SCAN_CHARS])
    return printable(match.group(1), 80) if match else None


def _status_error(status: object) -> str | None:
    if not isinstance(status, dict) or not isinstance(status.get("error_message"), str):
        return None
    code = status.get("error_code")
    message = printable(status["error_message"])
    if isinstance(code, JsonNumber) and _ERROR_CODE.fullmatch(code):
        return f"error_code {code}: {message}"
    return message


def error_detail(raw: bytes) -> str:
    """A short, printable description of an error body: CoinGecko's code and message, an HTML title, ..."""
    try:
        data = load_json(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        found = _status_error(data.get("status"))
        error = data.get("error")
        if found is None and isinstance(error, dict):
            found = _status_error(error.get("status"))
        if found is None and isinstance(error, str):
            found = printable(error)
        if found is not None:
            return found
    text = raw[: TITLE_SCAN_CHARS * 4].decode("utf-8", errors="replace")
    title = _html_title(text)
    if title is not None:
        return f"an HTML page titled {title!r}"
    if text.lstrip().startswith("<"):
        return "an HTML page"
    return repr(printable(text, 80)) if text.strip() else "an empty body"


def load_answer(raw: bytes, content_type: str, source: str = "CoinGecko", *, arrays: bool = False) -> Any:
    """The JSON of a 200 body from ``source``: an object (or, with ``arrays``, also an array).

    Raises :class:`AnswerError` with state ``html``, ``content-type``, ``not-json`` or ``bad-shape``
    naming ``source`` in its message. Shared by every provider's parser.
    """
    media = _media_type(content_type)
    head = raw[:TITLE_SCAN_CHARS].decode("utf-8", errors="replace")
    if "html" in media or (media != "application/json" and head.lstrip().startswith("<")):
        raise AnswerError("html", f"{source} answered {error_detail(raw)} instead of JSON (HTTP 200)")
    if media != "application/json":
        shown = printable(content_type, 60) if content_type else "no Content-Type"
        raise AnswerError(
            "content-type", f"{source} answered {shown!r} instead of application/json (HTTP 200)"
        )
    try:
        data = load_json(raw)
    except UnicodeDecodeError:
        raise AnswerError("not-json", f"{source} answered invalid JSON (HTTP 200): not UTF-8") from None
    except ValueError as exc:
        raise AnswerError(
            "not-json", f"{source} answered invalid JSON (HTTP 200): {printable(str(exc), 80)}"
        ) from None
    if not isinstance(data, dict) and not (arrays and isinstance(data, list)):
        kind = "an object or an array" if arrays else "an object"
        raise AnswerError("bad-shape", f"{source} answered JSON that is not {kind}: {printable(head, 80)!r}")
    return data


def _describe_value(value: object) -> str:
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, bool):
        return f"JSON {'true' if value else 'false'}"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    return "an unexpected value"


def _timestamp(entry: dict[str, Any]) -> int | str:
    """The coin's ``last_updated_at`` as an int, or the rejection reason."""
    token = entry.get(TIMESTAMP_KEY)
    if token is None:
        return "no last_updated_at"
    if not isinstance(token, JsonNumber) or not _UNIX_SECONDS.fullmatch(token):
        return "bad last_updated_at"
    return int(token)  # at most MAX_UNIX_DIGITS digits


def _pair_quote(entry: object, quote_ccy: str, pid: str, details: list[str]) -> Quote | str:
    """The quote of one pair from its coin's entry, or the rejection reason (``details`` gets the value)."""
    if not isinstance(entry, dict):
        return "coin missing from the answer"
    if quote_ccy not in entry:
        return "quote currency missing"
    value = entry[quote_ccy]
    if value is None:
        return "price is null"
    if not isinstance(value, JsonNumber):
        details.append(f"{pid}: got {_describe_value(value)}")
        return "price is not a JSON number"
    try:
        price = parse_price(value)
    except PriceParseError as exc:
        details.append(f"{pid}: {exc}")
        return "bad price"
    ts = _timestamp(entry)
    if isinstance(ts, str):
        return ts
    return Quote(price, ts)


def parse_answer(raw: bytes, content_type: str, pairs: Sequence[str]) -> SimplePriceAnswer:
    """Read a 200 answer for ``pairs`` (``"<coin id>/<currency>"``): each pair a :class:`Quote` or a reason.

    Raises :class:`AnswerError` when the body as a whole is no answer (HTML, wrong content type, invalid
    or non-UTF-8 JSON, duplicate keys, nesting too deep, not an object). Coins and currencies that were
    not requested are ignored. Prices must be positive JSON numbers (a quoted string, ``true``, ``NaN``,
    an object ... is rejected) and are converted exactly to integers with 18 decimals.
    """
    data: dict[str, Any] = load_answer(raw, content_type)
    quotes: dict[str, Quote] = {}
    rejected: dict[str, str] = {}
    details: list[str] = []
    for pid in sorted(set(pairs)):
        coin, quote_ccy = parse_pair_id(pid)
        got = _pair_quote(data.get(coin), quote_ccy, pid, details)
        if isinstance(got, Quote):
            quotes[pid] = got
        else:
            rejected[pid] = got
    return SimplePriceAnswer(quotes, rejected, tuple(details))
