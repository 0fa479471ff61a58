"""The CoinGecko ``/simple/price`` poller: an aiohttp client running on the application's event loop.

:class:`PriceFetcher` polls ``{base_url}/simple/price?ids=..&vs_currencies=..&include_last_updated_at=true
&precision=full`` for the configured pairs with this validator's API key and fills a
:class:`~abci_app.pricefeed.cache.PriceCache`. The answer is read by
:mod:`abci_app.pricefeed.simple_price` as CoinGecko documents it (one ``last_updated_at`` per coin) and
as hostile input: the body is capped at :data:`MAX_BODY_BYTES`, and no exception leaves
:meth:`PriceFetcher.fetch_once` or :meth:`PriceFetcher.run`. The key is never logged. Every kind of
trouble (HTTP errors, 401/403, 429, timeouts, refused connections, HTML, wrong content type, garbage
bodies, ``null`` or non-numeric prices, missing coins, missing or old ``last_updated_at``) is logged once
per change of state on the ``abci_app.pricefeed`` logger, with a line saying what happened and what to
change, and gives no quote for the pairs concerned.

Scheduling: after a usable answer the next poll is ``poll_interval_s`` later. After a 429 with a usable
``Retry-After`` (CoinGecko documents none, but a proxy may send one) it is ``max(Retry-After,
poll_interval_s)`` later (in seconds or as an HTTP date; capped at an hour). After any other failure,
a 429 without that header included, it is ``min(poll_interval_s * 2**n, max_backoff_s)`` later, ``n``
being the number of consecutive failures (no jitter: each validator polls with its own key).

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

import aiohttp

from abci_app.pricefeed.cache import PriceCache, parse_pair_id
from abci_app.pricefeed.config import FeedConfig, FeedConfigError, mask_key
from abci_app.pricefeed.simple_price import AnswerError, error_detail, parse_answer, request_query

log = logging.getLogger("abci_app.pricefeed")

MAX_BODY_BYTES = 1 << 20
"""Largest response body read; a bigger one is a failure (a real answer for 100 pairs is ~5 KB)."""
MAX_RETRY_AFTER_S = 3600.0
USER_AGENT = "taskmaster-chain-pricefeed/1"
_DELTA_SECONDS = re.compile(r"[0-9]{1,32}")
_RETRY_AFTER_CHARS = 64


class _BodyTooLarge(Exception):
    pass


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date); None if unusable.

    Capped at :data:`MAX_RETRY_AFTER_S`. Only ASCII digits count as delta seconds (``"\u00b2"`` is a digit
    to ``str.isdigit`` but not to ``int``), and a header longer than 64 characters is ignored.
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _RETRY_AFTER_CHARS:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return min(float(int(text)), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)


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
        """The full request URL (see :func:`~abci_app.pricefeed.simple_price.request_query`)."""
        return f"{self.config.base_url}/simple/price?{request_query(self.coin_ids, self.quotes)}"

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
        """Poll once; return the number of pairs written to the cache. Never raises (but cancellation).

        Sets :attr:`next_delay_s` (when to poll next), :attr:`state`, the cache's ``last_error`` and
        counters, and logs a line when the situation changes. The answer is read as hostile input: a
        bug it triggers is still reported as a failed poll (state ``unexpected``), not raised.
        """
        try:
            return await self._poll()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return self._fail(
                "unexpected", f"price feed poll failed unexpectedly: {type(exc).__name__}: {exc}"
            )

    async def _poll(self) -> int:
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
        if status == 200:
            return self._handle_ok(raw, content_type)
        return self._handle_error(status, error_detail(raw), retry_after)

    def _handle_error(self, status: int, detail: str, retry_after: str | None) -> int:
        """A non-200 answer: 401/403 (key or access), 429 (rate limit), anything else; ``detail`` is safe."""
        host = self.config.base_url
        sent = f"key {mask_key(self._key)} sent in {self.config.header_name}"
        if status == 401:
            self.cache.count("auth_rejected")
            return self._fail(
                "auth",
                f"API key rejected by CoinGecko at {host} (HTTP 401, {sent}): {detail}; "
                "check api_key/api_key_env and plan in pricefeed.json",
                level=logging.ERROR,
            )
        if status == 403:
            self.cache.count("auth_rejected")
            return self._fail(
                "auth",
                f"CoinGecko at {host} blocked the request (HTTP 403, {sent}): {detail}; check the key's plan "
                "and that this host may reach CoinGecko (its CDN answers 403/1020 to blocked addresses)",
                level=logging.ERROR,
            )
        if status == 429:
            self.cache.count("rate_limited")
            wait = parse_retry_after(retry_after, self._clock())
            if wait is None:
                return self._fail("rate-limited", f"CoinGecko rate limit hit (HTTP 429): {detail}")
            delay = max(wait, float(self.config.poll_interval_s))
            return self._fail(
                "rate-limited",
                f"CoinGecko rate limit hit (HTTP 429): {detail}; waiting {delay:g}s as Retry-After asks; "
                "poll less often (poll_interval_s) or upgrade the plan",
                delay=delay,
            )
        kind = "server-error" if status >= 500 else "http-error"
        return self._fail(f"{kind}:{status}", f"CoinGecko answered HTTP {status} from {host}: {detail}")

    def _handle_ok(self, raw: bytes, content_type: str) -> int:
        """A 200 answer: write every usable, fresh quote; one line lists the rejected pairs by reason."""
        try:
            answer = parse_answer(raw, content_type, self.pairs)
        except AnswerError as exc:
            return self._fail(exc.state, str(exc))
        self.cache.count("responses_ok")
        now = self._clock()
        max_age = self.config.max_price_age_s
        problems: dict[str, list[str]] = {}
        for pid, reason in answer.rejected.items():
            self.cache.count("quotes_rejected")
            problems.setdefault(reason, []).append(pid)
        updated = 0
        for pid, quote in answer.quotes.items():
            if now - quote.updated_at > max_age:
                self.cache.count("quotes_stale")
                problems.setdefault(f"stale (older than max_price_age_s={max_age})", []).append(pid)
            elif quote.updated_at - now > max_age:
                self.cache.count("quotes_rejected")
                problems.setdefault("last_updated_at in the future", []).append(pid)
            elif self.cache.update(pid, quote.price, quote.updated_at):
                updated += 1
                self.cache.count("quotes_updated")
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
        summary = "; ".join(
            f"{reason}: {', '.join(sorted(pids))}" for reason, pids in sorted(problems.items())
        )
        bad = sum(map(len, problems.values()))
        message = f"CoinGecko answer unusable for {bad} of {len(self.pairs)} pairs ({summary})"
        if answer.details:
            message += f" [{'; '.join(answer.details)}]"
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
