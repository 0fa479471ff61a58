"""The CoinGecko ``/simple/price`` poller: an aiohttp client running on the application's event loop.

:class:`PriceFetcher` polls ``{base_url}/simple/price`` for the configured pairs with this validator's
API key and fills a :class:`~abci_app.pricefeed.cache.PriceCache`. It never raises out of
:meth:`PriceFetcher.run` and never logs the key. Every kind of trouble (HTTP errors, 401/403, 429,
timeouts, refused connections, HTML or garbage bodies, ``null`` prices, missing coins, missing or old
``last_updated_at``) is logged once per change of state on the ``abci_app.pricefeed`` logger, with a
line saying what happened and what to change.

Scheduling: after a usable answer the next poll is ``poll_interval_s`` later. After a 429 it is
``max(Retry-After, poll_interval_s)`` later (``Retry-After`` in seconds or as an HTTP date; capped at an
hour). After any other failure it is ``min(poll_interval_s * 2**n, max_backoff_s)`` later, ``n`` being
the number of consecutive failures (no jitter: each validator polls with its own key).

Usage on the application's loop::

    stop = asyncio.Event()
    task = asyncio.create_task(PriceFetcher(config, pairs, cache).run(stop))
    ...
    stop.set(); await task
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any
from urllib.parse import quote

import aiohttp

from abci_app.pricefeed.cache import PriceCache, parse_pair_id
from abci_app.pricefeed.config import FeedConfig, FeedConfigError, mask_key
from abci_app.pricefeed.decimal18 import JsonNumber, PriceParseError, loads_no_float, parse_price

log = logging.getLogger("abci_app.pricefeed")

MAX_BODY_BYTES = 1 << 20
"""Largest response body read; a bigger one is a failure (a real answer for 100 pairs is ~5 KB)."""
MAX_RETRY_AFTER_S = 3600.0
USER_AGENT = "taskmaster-chain-pricefeed/1"
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_UNIX_SECONDS = re.compile(r"\d{1,12}")


class _BodyTooLarge(Exception):
    pass


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date); None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(int(text[:12])), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, when.timestamp() - now), MAX_RETRY_AFTER_S)


def _snippet(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _error_detail(body: str) -> str:
    """A short description of an error body: CoinGecko's error message, an HTML title, or a snippet."""
    try:
        data = loads_no_float(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        status = data.get("status")
        if isinstance(status, dict) and isinstance(status.get("error_message"), str):
            code = status.get("error_code")
            return f"error_code {code}: {_snippet(status['error_message'])}"
        if isinstance(data.get("error"), str):
            return _snippet(data["error"])
    title = _TITLE.search(body)
    if title:
        return f"an HTML page titled {_snippet(title.group(1), 80)!r}"
    if body.lstrip().startswith("<"):
        return "an HTML page"
    return repr(_snippet(body, 80)) if body.strip() else "an empty body"


class PriceFetcher:
    """Polls CoinGecko's ``/simple/price`` for ``pairs`` and writes fresh quotes into ``cache``."""

    def __init__(
        self,
        config: FeedConfig,
        pairs: Sequence[str],
        cache: PriceCache,
        *,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """Validate the pair ids; ``session`` (optional) is used as given and not closed by the fetcher."""
        if isinstance(pairs, str):
            raise TypeError("pairs must be a sequence of pair ids, not a single string")
        self.config = config
        self.pairs: tuple[str, ...] = tuple(sorted(set(pairs)))
        if not self.pairs:
            raise ValueError("no pairs to fetch: give at least one '<coingecko id>/<quote currency>'")
        split = [parse_pair_id(p) for p in self.pairs]
        self.coin_ids: tuple[str, ...] = tuple(sorted({c for c, _ in split}))
        self.quotes: tuple[str, ...] = tuple(sorted({q for _, q in split}))
        self.cache = cache
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        self._key: str | None = None  # only for redaction of log lines; never logged
        self.state = "idle"
        """Short name of the current situation: ok, partial, rate-limited, auth, timeout, ... ."""
        self.message = ""
        """The log line of the current state."""
        self.consecutive_failures = 0
        self.next_delay_s = float(config.poll_interval_s)
        """Seconds :meth:`run` waits before the next poll, set by every :meth:`fetch_once`."""

    def __repr__(self) -> str:
        """The fetcher's target and state (the key is never shown)."""
        return f"PriceFetcher(pairs={list(self.pairs)}, config={self.config!r}, state={self.state!r})"

    @property
    def url(self) -> str:
        """The full request URL: sorted coin ids and quote currencies, comma-joined."""
        ids = quote(",".join(self.coin_ids), safe=",")
        vs = quote(",".join(self.quotes), safe=",")
        return (
            f"{self.config.base_url}/simple/price?ids={ids}&vs_currencies={vs}&include_last_updated_at=true"
        )

    # -- logging -------------------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        if self._key and self._key in text:
            text = text.replace(self._key, mask_key(self._key))
        return text

    def _transition(self, state: str, level: int, message: str) -> None:
        """Log ``message`` when the state (including its details) differs from the previous one."""
        message = self._redact(message)
        if state != self.state:
            log.log(level, "%s", message)
        self.state = state
        self.message = message

    def _fail(
        self, state: str, message: str, *, level: int = logging.WARNING, delay: float | None = None
    ) -> int:
        """Record a failed poll: counters, last error, back-off (or ``delay``), one log line per state."""
        self.consecutive_failures += 1
        self.cache.count("failures")
        message = self._redact(message)
        self.cache.last_error = message
        if delay is None:
            backoff = self.config.poll_interval_s * 2.0 ** min(self.consecutive_failures, 32)
            delay = min(backoff, self.config.max_backoff_s)
            message = f"{message}; retrying in {delay:g}s"
            # The state name, not the delay, decides whether this is a new situation worth a line.
        self.next_delay_s = delay
        self._transition(state, level, message)
        return 0

    # -- HTTP ----------------------------------------------------------------------------------------

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise RuntimeError("the aiohttp session given to PriceFetcher is closed")
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        """Close the HTTP session if the fetcher created it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

    async def __aenter__(self) -> PriceFetcher:
        """Use as ``async with PriceFetcher(...) as fetcher`` to close its session afterwards."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the session the fetcher created."""
        await self.close()

    @staticmethod
    async def _read_body(resp: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        total = 0
        async for chunk in resp.content.iter_chunked(65536):
            total += len(chunk)
            if total > MAX_BODY_BYTES:
                raise _BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    async def fetch_once(self) -> int:
        """Poll once; return the number of pairs written to the cache. Never raises for feed trouble.

        Sets :attr:`next_delay_s` (when to poll next), :attr:`state`, the cache's ``last_error`` and
        counters, and logs a line when the situation changes.
        """
        try:
            headers = self.config.header()
        except FeedConfigError as exc:
            return self._fail("no-key", f"price feed cannot poll: {exc}", level=logging.ERROR)
        self._key = next(iter(headers.values()))
        headers["Accept"] = "application/json"
        headers["User-Agent"] = USER_AGENT
        session = await self._get_session()
        host = self.config.base_url
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        self.cache.count("requests")
        try:
            async with session.get(self.url, headers=headers, timeout=timeout, allow_redirects=False) as resp:
                status = resp.status
                content_type = resp.headers.get("Content-Type", "")
                retry_after = resp.headers.get("Retry-After")
                raw = await self._read_body(resp)
        except TimeoutError:
            return self._fail(
                "timeout", f"CoinGecko request to {host} timed out after {self.config.timeout_s:g}s"
            )
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc)
            return self._fail("connection", f"cannot connect to CoinGecko at {host}: {reason}")
        except _BodyTooLarge:
            return self._fail("too-large", f"CoinGecko response from {host} exceeds {MAX_BODY_BYTES} bytes")
        except aiohttp.ClientError as exc:
            return self._fail(
                "client-error", f"CoinGecko request to {host} failed: {type(exc).__name__}: {exc}"
            )
        body = raw.decode("utf-8", errors="replace")
        if status == 200:
            return self._handle_ok(body, content_type)
        detail = _error_detail(body)
        if status in (401, 403):
            self.cache.count("auth_rejected")
            return self._fail(
                "auth",
                f"API key rejected by CoinGecko at {host} (HTTP {status}, key {mask_key(self._key)} sent in "
                f"{self.config.header_name}): {detail}; check api_key/api_key_env and plan in pricefeed.json",
                level=logging.ERROR,
            )
        if status == 429:
            self.cache.count("rate_limited")
            wait = parse_retry_after(retry_after, self._clock())
            if wait is None:
                return self._fail(
                    "rate-limited", "CoinGecko rate limit hit (HTTP 429, no usable Retry-After)"
                )
            delay = max(wait, float(self.config.poll_interval_s))
            return self._fail(
                "rate-limited",
                f"CoinGecko rate limit hit (HTTP 429): waiting {delay:g}s as Retry-After asks; "
                "poll less often (poll_interval_s) or upgrade the plan",
                delay=delay,
            )
        kind = "server-error" if status >= 500 else "http-error"
        return self._fail(f"{kind}:{status}", f"CoinGecko answered HTTP {status} from {host}: {detail}")

    def _handle_ok(self, body: str, content_type: str) -> int:
        try:
            data = loads_no_float(body)
        except ValueError:
            if "html" in content_type.lower() or body.lstrip().startswith("<"):
                return self._fail(
                    "html", f"CoinGecko answered {_error_detail(body)} instead of JSON (HTTP 200)"
                )
            return self._fail(
                "not-json", f"CoinGecko answered invalid JSON (HTTP 200): {_snippet(body, 80)!r}"
            )
        if not isinstance(data, dict):
            return self._fail(
                "bad-shape", f"CoinGecko answered JSON that is not an object: {_snippet(body, 80)!r}"
            )
        self.cache.count("responses_ok")
        now = self._clock()
        max_age = self.config.max_price_age_s
        problems: dict[str, list[str]] = {}
        details: list[str] = []  # values change from poll to poll: in the message, not in the state
        updated = 0
        for pid in self.pairs:
            coin, quote_ccy = parse_pair_id(pid)
            reason = None
            entry = data.get(coin)
            if not isinstance(entry, dict):
                reason = "coin missing from the answer"
            elif quote_ccy not in entry:
                reason = "quote currency missing"
            elif entry[quote_ccy] is None:
                reason = "price is null"
            else:
                try:
                    price = parse_price(entry[quote_ccy])
                except PriceParseError as exc:
                    price = 0
                    reason = "bad price"
                    details.append(f"{pid}: {exc}")
                ts_token = entry.get(f"{quote_ccy}_last_updated_at")
                if reason is None:
                    if ts_token is None:
                        reason = "no last_updated_at"
                    elif not isinstance(ts_token, JsonNumber) or not _UNIX_SECONDS.fullmatch(ts_token):
                        reason = "bad last_updated_at"
                    else:
                        ts = int(ts_token)
                        if now - ts > max_age:
                            self.cache.count("quotes_stale")
                            reason = f"stale (older than max_price_age_s={max_age})"
                        elif ts - now > max_age:
                            reason = "last_updated_at in the future"
                        elif self.cache.update(pid, price, ts):
                            updated += 1
                            self.cache.count("quotes_updated")
            if reason is not None:
                if not reason.startswith("stale"):
                    self.cache.count("quotes_rejected")
                problems.setdefault(reason, []).append(pid)
        self.consecutive_failures = 0
        self.next_delay_s = float(self.config.poll_interval_s)
        if updated:
            self.cache.last_success_at = now
        if not problems:
            self.cache.last_error = None
            self._transition(
                "ok", logging.INFO, f"CoinGecko feed ok: {updated} of {len(self.pairs)} pairs updated"
            )
            return updated
        summary = "; ".join(f"{reason}: {', '.join(pids)}" for reason, pids in sorted(problems.items()))
        bad = sum(map(len, problems.values()))
        message = f"CoinGecko answer unusable for {bad} of {len(self.pairs)} pairs ({summary})"
        if details:
            message += f" [{'; '.join(details)}]"
        self.cache.last_error = self._redact(message)
        self._transition(f"partial:{summary}", logging.WARNING, message)
        return updated

    # -- loop ----------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; never raises (except cancellation). Closes its own session."""
        if not self.config.enabled:
            log.info("price feed disabled (enabled=false in pricefeed.json); not polling")
            return
        log.info(
            "price feed polling %s every %gs for %d pairs (plan %s)",
            self.config.base_url,
            self.config.poll_interval_s,
            len(self.pairs),
            self.config.plan,
        )
        try:
            while not stop.is_set():
                try:
                    await self.fetch_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug must not stop the feed, nor the node
                    self._fail(
                        "unexpected", f"price feed poll failed unexpectedly: {type(exc).__name__}: {exc}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.next_delay_s)
        finally:
            await self.close()
            log.info("price feed stopped")

    def snapshot(self) -> dict[str, Any]:
        """State for metrics and status output (no key)."""
        return {
            "state": self.state,
            "message": self.message,
            "consecutive_failures": self.consecutive_failures,
            "next_delay_s": self.next_delay_s,
            "counters": dict(self.cache.counters),
            "last_error": self.cache.last_error,
        }
