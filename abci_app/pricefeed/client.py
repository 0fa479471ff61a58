"""The price pollers: aiohttp clients running on the application's event loop, one per provider.

:class:`PriceFetcher` is this validator's feed: one :class:`ProviderPoller` per configured provider
(CoinGecko with this validator's key first, then the keyless exchange APIs of ``pricefeed.json``'s
``providers``, :mod:`abci_app.pricefeed.provider`), each on its own schedule, all filling one
:class:`~abci_app.pricefeed.cache.PriceCache`, whose ``fresh()`` gives the median of the providers'
fresh quotes. Each answer is read by its provider's parser as documented and as hostile input: the
body is capped at :data:`MAX_BODY_BYTES`, and no exception leaves :meth:`ProviderPoller.fetch_once`
or :meth:`PriceFetcher.run`. A key is never logged. Every kind of trouble (HTTP errors, 401/403, 429,
timeouts, refused connections, HTML, wrong content type, garbage bodies, ``null`` or non-numeric
prices, missing pairs, missing or old ``last_updated_at``) is logged once per change of state on the
``abci_app.pricefeed`` logger, with a line naming the provider, saying what happened and what to
change, and gives no quote for the pairs concerned.

Scheduling, per provider. The back-off protects the provider's rate limit, not the validator's
record, so a provider that fails for any reason of its own (5xx, timeout, refused connection, a bad
body) is probed again after ``min(poll_interval_s, max_backoff_s)``: a validator reports again in the
first round after its source recovers. A usable answer: ``poll_interval_s`` later. A 429 or 418 with
a usable ``Retry-After`` (seconds or an HTTP date, capped at an hour): ``max(Retry-After,
poll_interval_s)`` later, as asked. Only when the provider says the request itself is the problem (a
429 or 418 without ``Retry-After``, a rate-limit error in the body, 401/403, no key) does the wait grow:
``min(poll_interval_s * 2**n, max_backoff_s)``, ``n`` being the consecutive failures.

Usage on the application's loop::

    stop = asyncio.Event()
    task = asyncio.create_task(PriceFetcher(config, pairs, cache).run(stop))   # every provider
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
from abci_app.pricefeed.provider import Provider, build_providers
from abci_app.pricefeed.simple_price import AnswerError

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


class ProviderPoller:
    """Polls one provider for the pairs it serves and writes its fresh quotes into ``cache``."""

    def __init__(
        self,
        provider: Provider,
        config: FeedConfig,
        pairs: Sequence[str],
        cache: PriceCache,
        *,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """``pairs``: the pairs this provider serves; ``session`` is used as given and not closed."""
        self.provider = provider
        self.config = config
        self.pairs: tuple[str, ...] = tuple(sorted(set(pairs)))
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
        self.updated: tuple[str, ...] = ()
        """The pairs the last poll wrote to the cache."""

    def __repr__(self) -> str:
        """The poller's provider, pairs and state (no key)."""
        return f"ProviderPoller({self.provider!r}, pairs={list(self.pairs)}, state={self.state!r})"

    @property
    def name(self) -> str:
        """The provider's name (``coingecko``, ``kraken``, ``binance``)."""
        return self.provider.name

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
        self,
        state: str,
        message: str,
        *,
        level: int = logging.WARNING,
        delay: float | None = None,
        grow: bool = False,
    ) -> int:
        """Record a failed poll: counters, last error, next probe (``delay``), one log line per state.

        Without ``delay`` the next probe is ``min(poll_interval_s, max_backoff_s)`` away, or, with
        ``grow`` (the provider blames the request: rate limit, key), ``min(poll_interval_s * 2**n,
        max_backoff_s)``.
        """
        self.consecutive_failures += 1
        self.updated = ()
        self.cache.count("failures")
        self.cache.provider_failed(self.name)
        message = self._redact(message)
        self.cache.last_error = message
        if delay is None:
            poll, cap = float(self.config.poll_interval_s), float(self.config.max_backoff_s)
            delay = min(poll * 2.0 ** min(self.consecutive_failures, 32), cap) if grow else min(poll, cap)
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
        """Close the HTTP session if the poller created it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()
        if self._owns_session:
            self._session = None

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
                "unexpected",
                f"{self.provider.title} poll failed unexpectedly: {type(exc).__name__}: {exc}",
            )

    async def _poll(self) -> int:
        title, host = self.provider.title, self.provider.base_url
        try:
            request = self.provider.request(self.pairs)
        except FeedConfigError as exc:
            return self._fail(
                "no-key", f"price feed cannot poll {title}: {exc}", level=logging.ERROR, grow=True
            )
        self._key = request.secret
        headers = {**request.headers, "Accept": "application/json", "User-Agent": USER_AGENT}
        session = await self._get_session()
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        self.cache.count("requests")
        try:
            async with session.get(
                request.url, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                status = resp.status
                content_type = resp.headers.get("Content-Type", "")
                retry_after = resp.headers.get("Retry-After")
                raw = await self._read_body(resp)
        except TimeoutError:
            return self._fail(
                "timeout", f"{title} request to {host} timed out after {self.config.timeout_s:g}s"
            )
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else str(exc)
            return self._fail("connection", f"cannot connect to {title} at {host}: {reason}")
        except _BodyTooLarge:
            return self._fail("too-large", f"{title} response from {host} exceeds {MAX_BODY_BYTES} bytes")
        except aiohttp.ClientError as exc:
            return self._fail(
                "client-error", f"{title} request to {host} failed: {type(exc).__name__}: {exc}"
            )
        if status == 200:
            return self._handle_ok(raw, content_type)
        return self._handle_error(status, self.provider.error_detail(raw), retry_after)

    def _handle_error(self, status: int, detail: str, retry_after: str | None) -> int:
        """A non-200 answer: 401/403 (key or access), 429/418 (rate limit), anything else."""
        title, host = self.provider.title, self.provider.base_url
        if status in (401, 403):
            self.cache.count("auth_rejected")
            message = self.provider.auth_message(status, detail, self._key)
            return self._fail("auth", message, level=logging.ERROR, grow=True)
        if status in (429, 418):
            self.cache.count("rate_limited")
            what = "rate limit hit" if status == 429 else "IP banned for ignoring rate limits"
            wait = parse_retry_after(retry_after, self._clock())
            if wait is None:
                return self._fail("rate-limited", f"{title} {what} (HTTP {status}): {detail}", grow=True)
            delay = max(wait, float(self.config.poll_interval_s))
            return self._fail(
                "rate-limited",
                f"{title} {what} (HTTP {status}): {detail}; waiting {delay:g}s as Retry-After asks; "
                "poll less often (poll_interval_s) or upgrade the plan",
                delay=delay,
            )
        kind = "server-error" if status >= 500 else "http-error"
        return self._fail(f"{kind}:{status}", f"{title} answered HTTP {status} from {host}: {detail}")

    def _handle_ok(self, raw: bytes, content_type: str) -> int:
        """A 200 answer: write every usable, fresh quote; one line lists the rejected pairs by reason."""
        title = self.provider.title
        now = self._clock()
        try:
            answer = self.provider.parse(raw, content_type, self.pairs, int(now))
        except AnswerError as exc:
            if exc.state == "rate-limited":
                self.cache.count("rate_limited")
            return self._fail(exc.state, str(exc), grow=exc.state == "rate-limited")
        self.cache.count("responses_ok")
        max_age = self.config.max_price_age_s
        problems: dict[str, list[str]] = {}
        for pid, reason in answer.rejected.items():
            self.cache.count("quotes_rejected")
            self.cache.pair_failed(pid, self.name)
            problems.setdefault(reason, []).append(pid)
        updated: list[str] = []
        for pid, quote in answer.quotes.items():
            if now - quote.updated_at > max_age:
                self.cache.count("quotes_stale")
                self.cache.pair_failed(pid, self.name)
                problems.setdefault(f"stale (older than max_price_age_s={max_age})", []).append(pid)
            elif quote.updated_at - now > max_age:
                self.cache.count("quotes_rejected")
                self.cache.pair_failed(pid, self.name)
                problems.setdefault("last_updated_at in the future", []).append(pid)
            elif self.cache.update(pid, quote.price, quote.updated_at, self.name):
                updated.append(pid)
                self.cache.count("quotes_updated")
        self.consecutive_failures = 0
        self.next_delay_s = float(self.config.poll_interval_s)
        self.updated = tuple(updated)
        if updated:
            self.cache.last_success_at = now
            self.cache.provider_succeeded(self.name, now)
        elif problems:
            self.cache.provider_failed(self.name, count=False)  # answered, but nothing usable
        if not problems:
            self.cache.last_error = None
            self._transition(
                "ok", logging.INFO, f"{title} feed ok: {len(updated)} of {len(self.pairs)} pairs updated"
            )
            return len(updated)
        summary = "; ".join(
            f"{reason}: {', '.join(sorted(pids))}" for reason, pids in sorted(problems.items())
        )
        bad = sum(map(len, problems.values()))
        message = f"{title} answer unusable for {bad} of {len(self.pairs)} pairs ({summary})"
        if answer.details:
            message += f" [{'; '.join(answer.details)}]"
        self.cache.last_error = self._redact(message)
        self._transition(f"partial:{summary}", logging.WARNING, message)
        return len(updated)

    # -- loop ----------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set, waiting :attr:`next_delay_s` between polls; never raises."""
        try:
            while not stop.is_set():
                try:
                    await self.fetch_once()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug must not stop the feed, nor the node
                    self._fail(
                        "unexpected",
                        f"{self.provider.title} poll failed unexpectedly: {type(exc).__name__}: {exc}",
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.next_delay_s)
        finally:
            await self.close()

    def snapshot(self) -> dict[str, Any]:
        """This provider's state for status output (no key)."""
        return {
            "state": self.state,
            "message": self.message,
            "consecutive_failures": self.consecutive_failures,
            "next_delay_s": self.next_delay_s,
            "pairs": list(self.pairs),
        }


class PriceFetcher:
    """This validator's price feed: one :class:`ProviderPoller` per configured provider, one cache.

    With CoinGecko alone (a ``pricefeed.json`` without ``providers``) it behaves as the single
    CoinGecko poller it wraps: :attr:`state`, :attr:`message`, :attr:`next_delay_s` and
    :attr:`consecutive_failures` are that poller's.
    """

    def __init__(
        self,
        config: FeedConfig,
        pairs: Sequence[str],
        cache: PriceCache,
        *,
        clock: Callable[[], float] = time.time,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        """Validate the pair ids and build the pollers; ``session`` (optional) is shared, never closed."""
        if isinstance(pairs, str):
            raise TypeError("pairs must be a sequence of pair ids, not a single string")
        self.config = config
        self.pairs: tuple[str, ...] = tuple(sorted(set(pairs)))
        if not self.pairs:
            raise ValueError("no pairs to fetch: give at least one '<coingecko id>/<quote currency>'")
        for pid in self.pairs:
            parse_pair_id(pid)
        self.cache = cache
        self.pollers: list[ProviderPoller] = [
            ProviderPoller(provider, config, served, cache, clock=clock, session=session)
            for provider in build_providers(config, self.pairs)
            if (served := provider.serves(self.pairs))
        ]

    def __repr__(self) -> str:
        """The feed's pairs, providers and state (no key)."""
        names = [p.name for p in self.pollers]
        return (
            f"PriceFetcher(pairs={list(self.pairs)}, providers={names}, config={self.config!r}, "
            f"state={self.state!r})"
        )

    @property
    def state(self) -> str:
        """The only poller's state, or ``name=state`` of each poller joined with ``; ``."""
        if len(self.pollers) == 1:
            return self.pollers[0].state
        return "; ".join(f"{p.name}={p.state}" for p in self.pollers) or "no-provider"

    @property
    def message(self) -> str:
        """The only poller's current log line, or each poller's, joined."""
        return " | ".join(p.message for p in self.pollers if p.message)

    @property
    def consecutive_failures(self) -> int:
        """Failed polls since the last good one of the provider that did best (the feed works if one does)."""
        return min((p.consecutive_failures for p in self.pollers), default=0)

    @property
    def next_delay_s(self) -> float:
        """Seconds until the next poll of any provider."""
        return min((p.next_delay_s for p in self.pollers), default=float(self.config.poll_interval_s))

    async def fetch_once(self) -> int:
        """Poll every provider once, together; the number of pairs some provider wrote. Never raises."""
        await asyncio.gather(*(p.fetch_once() for p in self.pollers))
        return len({pid for p in self.pollers for pid in p.updated})

    async def close(self) -> None:
        """Close the HTTP sessions the pollers created."""
        for poller in self.pollers:
            await poller.close()

    async def __aenter__(self) -> PriceFetcher:
        """Use as ``async with PriceFetcher(...) as fetcher`` to close its sessions afterwards."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the sessions the pollers created."""
        await self.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every provider's poller until ``stop`` is set; never raises (except cancellation)."""
        if not self.config.enabled:
            log.info("price feed disabled (enabled=false in pricefeed.json); not polling")
            return
        if not self.pollers:
            log.error(
                "price feed has no provider for any of %d pairs: enable CoinGecko or map the pairs in "
                '"pairs" of pricefeed.json',
                len(self.pairs),
            )
            return
        for poller in self.pollers:
            log.info(
                "price feed polling %s at %s every %gs for %d of %d pairs",
                poller.provider.title,
                poller.provider.base_url,
                self.config.poll_interval_s,
                len(poller.pairs),
                len(self.pairs),
            )
        unserved = sorted(set(self.pairs) - {pid for p in self.pollers for pid in p.pairs})
        if unserved:
            log.warning("price feed: no provider serves %s; map them in pricefeed.json", ", ".join(unserved))
        try:
            await asyncio.gather(*(p.run(stop) for p in self.pollers))
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
            "providers": {p.name: p.snapshot() for p in self.pollers},
        }
