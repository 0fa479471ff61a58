"""The node-local price cache the fetcher fills and ExtendVote reads (memory only, never in state).

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


class PriceCache:
    """The newest quote per pair, plus the feed's last error and counters for metrics.

    Safe to use from several threads (one lock); all operations are O(number of pairs) at most.
    """

    def __init__(self, pairs: Iterable[str] | None = None) -> None:
        """Create an empty cache; ``pairs``, when given, restricts :meth:`update` to those pair ids."""
        self._lock = threading.Lock()
        self._quotes: dict[str, Quote] = {}
        self._allowed = frozenset(pairs) if pairs is not None else None
        if self._allowed is not None:
            for pid in self._allowed:
                parse_pair_id(pid)
        self.last_error: str | None = None
        """The last problem the fetcher reported (``None`` after a fully successful fetch)."""
        self.last_success_at: float | None = None
        """Local clock time of the last fetch that updated at least one pair."""
        self.counters: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)

    def update(self, pair_id: str, price: int, updated_at: int) -> bool:
        """Store a quote unless the cache already holds a newer one for that pair; True if stored.

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
            current = self._quotes.get(pair_id)
            if current is not None and current.updated_at > updated_at:
                return False
            self._quotes[pair_id] = Quote(price, updated_at)
            return True

    def get(self, pair_id: str) -> Quote | None:
        """The cached quote of a pair, fresh or not."""
        with self._lock:
            return self._quotes.get(pair_id)

    def snapshot(self) -> dict[str, Quote]:
        """Every cached quote, sorted by pair id."""
        with self._lock:
            return dict(sorted(self._quotes.items()))

    def fresh(self, now: int, max_age: int) -> dict[str, int]:
        """Prices whose ``updated_at`` is within ``max_age`` seconds of ``now`` (either side), by pair id.

        A quote dated more than ``max_age`` in the future is not fresh either (a lying or broken clock
        upstream). The result is sorted by pair id so it can be encoded deterministically.
        """
        with self._lock:
            items = [(pid, q.price) for pid, q in self._quotes.items() if abs(now - q.updated_at) <= max_age]
        return dict(sorted(items))

    def clear(self) -> None:
        """Forget every quote (counters and last error stay)."""
        with self._lock:
            self._quotes.clear()

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to a counter (see :data:`COUNTER_NAMES`)."""
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + n
