"""The node-local price cache the fetcher fills and ExtendVote reads (memory only, never in state).

It keeps the newest quote of each pair *per provider*; :meth:`PriceCache.fresh` gives, per pair, the
median of the providers' fresh quotes. A stale quote is left out, and so is the last quote of a provider
whose latest poll failed (or whose latest answer had nothing usable for that pair), as long as a
healthy provider has a fresh quote for the pair: one provider's outage (or one provider's wrong price)
changes nothing while the others answer, and a feed whose only provider fails for a poll or two still
reports its last quote until it is ``max_age`` old.

Pair ids are ``"<coingecko id>/<quote currency>"``, e.g. ``"bitcoin/usd"``: a CoinGecko coin id (lower
case letters, digits, ``-``, ``_``, ``.``) and a quote currency as CoinGecko's ``vs_currencies`` name
(lower case letters and digits).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

_COIN_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_QUOTE = re.compile(r"[a-z0-9]{1,20}")

COUNTER_NAMES = (
    "requests",  # HTTP requests sent
    "responses_ok",  # 200 responses whose body was a JSON object
    "failures",  # requests that produced no usable body (HTTP error, timeout, connection, bad body)
    "rate_limited",  # 429 answers
    "auth_rejected",  # 401/403 answers
    "quotes_updated",  # quotes written to the cache
    "quotes_rejected",  # quotes missing, null or not a positive number
    "quotes_stale",  # quotes dropped because last_updated_at is older than max_price_age_s
)


def parse_pair_id(pair_id: str) -> tuple[str, str]:
    """Split ``"bitcoin/usd"`` into ``("bitcoin", "usd")``; ``ValueError`` naming the expected format."""
    coin, sep, quote = pair_id.partition("/")
    if not sep or not _COIN_ID.fullmatch(coin) or not _QUOTE.fullmatch(quote):
        raise ValueError(
            f"bad pair id {pair_id!r}: expected '<coingecko id>/<quote currency>' in lower case, "
            "e.g. 'bitcoin/usd'"
        )
    return coin, quote


def pair_id(coin: str, quote: str) -> str:
    """The pair id of a CoinGecko coin id and a quote currency (validated)."""
    pid = f"{coin}/{quote}"
    parse_pair_id(pid)
    return pid


@dataclass(frozen=True)
class Quote:
    """One cached price: an integer with 18 decimals and the source's ``last_updated_at`` (unix s)."""

    price: int
    updated_at: int


DEFAULT_PROVIDER = "coingecko"


def median_price(prices: Iterable[int]) -> int:
    """The median of integer prices; of an even count, the mean of the middle two rounded down."""
    ordered = sorted(prices)
    if not ordered:
        raise ValueError("median of no prices")
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) // 2


class PriceCache:
    """The newest quote per pair and provider, the feed's last error, and counters for metrics.

    Safe to use from several threads (one lock); all operations are O(number of pairs) at most.
    """

    def __init__(self, pairs: Iterable[str] | None = None) -> None:
        """Create an empty cache; ``pairs``, when given, restricts :meth:`update` to those pair ids."""
        self._lock = threading.Lock()
        self._quotes: dict[tuple[str, str], Quote] = {}  # (pair id, provider) -> newest quote
        self._allowed = frozenset(pairs) if pairs is not None else None
        if self._allowed is not None:
            for pid in self._allowed:
                parse_pair_id(pid)
        self.last_error: str | None = None
        """The last problem the fetcher reported (``None`` after a fully successful fetch)."""
        self.last_success_at: float | None = None
        """Local clock time of the last fetch that updated at least one pair."""
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)
        self.provider_last_success: dict[str, float] = {}
        """Per provider: local clock time of its last poll that gave at least one usable quote."""
        self.provider_errors: dict[str, int] = {}
        """Per provider: failed polls so far."""
        self._failing: set[str] = set()  # providers whose latest poll gave no usable quote
        self._failing_pairs: set[tuple[str, str]] = set()  # (pair id, provider): its latest answer had none

    def update(self, pair_id: str, price: int, updated_at: int, provider: str = DEFAULT_PROVIDER) -> bool:
        """Store a provider's quote unless it already gave a newer one for that pair; True if stored.

        ``price`` must be a positive int (18 decimals), ``updated_at`` a unix time in seconds; a quote
        with the same ``updated_at`` as the cached one replaces it.
        """
        parse_pair_id(pair_id)
        if self._allowed is not None and pair_id not in self._allowed:
            raise ValueError(f"pair {pair_id!r} is not configured for this cache")
        if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
            raise ValueError(f"price must be a positive int with 18 decimals, got {price!r}")
        if isinstance(updated_at, bool) or not isinstance(updated_at, int) or updated_at < 0:
            raise ValueError(f"updated_at must be a non-negative int (unix seconds), got {updated_at!r}")
        with self._lock:
            current = self._quotes.get((pair_id, provider))
            if current is not None and current.updated_at > updated_at:
                return False
            self._quotes[(pair_id, provider)] = Quote(price, updated_at)
            self._failing_pairs.discard((pair_id, provider))
            return True

    def get(self, pair_id: str, provider: str | None = None) -> Quote | None:
        """A provider's cached quote of a pair (fresh or not); without ``provider``, the newest of any."""
        if provider is not None:
            with self._lock:
                return self._quotes.get((pair_id, provider))
        return self.snapshot().get(pair_id)

    def snapshot(self) -> dict[str, Quote]:
        """Per pair, the newest quote of any provider, sorted by pair id (ages for metrics)."""
        newest: dict[str, Quote] = {}
        with self._lock:
            for (pid, _), quote in sorted(self._quotes.items()):
                if pid not in newest or quote.updated_at > newest[pid].updated_at:
                    newest[pid] = quote
        return dict(sorted(newest.items()))

    def by_provider(self) -> dict[str, dict[str, Quote]]:
        """Every cached quote: ``{pair id: {provider: quote}}``, both levels sorted."""
        out: dict[str, dict[str, Quote]] = {}
        with self._lock:
            for (pid, provider), quote in sorted(self._quotes.items()):
                out.setdefault(pid, {})[provider] = quote
        return out

    def fresh(self, now: int, max_age: int) -> dict[str, int]:
        """Per pair, the median of the providers' quotes dated within ``max_age`` seconds of ``now``.

        A quote dated more than ``max_age`` in the future is not fresh either (a lying or broken clock
        upstream); a pair no provider has a fresh quote for is left out. The result is sorted by pair id
        so it can be encoded deterministically.
        """
        healthy: dict[str, list[int]] = {}
        failing: dict[str, list[int]] = {}
        with self._lock:
            for (pid, provider), quote in self._quotes.items():
                if abs(now - quote.updated_at) <= max_age:
                    down = provider in self._failing or (pid, provider) in self._failing_pairs
                    (failing if down else healthy).setdefault(pid, []).append(quote.price)
        pairs = sorted(set(healthy) | set(failing))
        return {pid: median_price(healthy.get(pid) or failing[pid]) for pid in pairs}

    def clear(self) -> None:
        """Forget every quote (counters and last error stay)."""
        with self._lock:
            self._quotes.clear()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter (see :data:`COUNTER_NAMES`)."""
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n

    def provider_failed(self, provider: str, *, count: bool = True) -> None:
        """Mark ``provider``'s latest poll as giving no usable quote (and count it as an error)."""
        with self._lock:
            self._failing.add(provider)
            if count:
                self.provider_errors[provider] = self.provider_errors.get(provider, 0) + 1

    def pair_failed(self, pair_id: str, provider: str) -> None:
        """Mark that ``provider``'s latest answer had no usable quote for ``pair_id`` (the rest may have)."""
        with self._lock:
            self._failing_pairs.add((pair_id, provider))

    def provider_succeeded(self, provider: str, at: float) -> None:
        """Record that ``provider`` gave a usable quote at local time ``at``."""
        with self._lock:
            self._failing.discard(provider)
            self.provider_last_success[provider] = at
            self.provider_errors.setdefault(provider, 0)

    def failing(self) -> frozenset[str]:
        """The providers whose latest poll gave no usable quote."""
        with self._lock:
            return frozenset(self._failing)
