"""The node-local price cache."""

from __future__ import annotations

import pytest

from abci_app.pricefeed.cache import PriceCache, Quote, pair_id, parse_pair_id


def test_keeps_the_newest_quote_per_pair() -> None:
    cache = PriceCache()
    assert cache.update("bitcoin/usd", 100, 1000)
    assert not cache.update("bitcoin/usd", 90, 999)  # older: ignored
    assert cache.get("bitcoin/usd") == Quote(100, 1000)
    assert cache.update("bitcoin/usd", 110, 1000)  # same time: replaced
    assert cache.update("bitcoin/usd", 120, 1005)
    assert cache.get("bitcoin/usd") == Quote(120, 1005)


def test_fresh_window_sorted_by_pair() -> None:
    cache = PriceCache()
    cache.update("ethereum/usd", 3, 1000)
    cache.update("bitcoin/usd", 1, 900)
    cache.update("bitcoin/eur", 2, 879)
    cache.update("solana/usd", 4, 1250)  # in the future by more than max_age
    fresh = cache.fresh(now=1000, max_age=100)
    assert fresh == {"bitcoin/usd": 1, "ethereum/usd": 3}
    assert list(fresh) == sorted(fresh)
    assert cache.fresh(now=1000, max_age=121) == {"bitcoin/eur": 2, "bitcoin/usd": 1, "ethereum/usd": 3}
    assert list(cache.snapshot()) == ["bitcoin/eur", "bitcoin/usd", "ethereum/usd", "solana/usd"]
    cache.clear()
    assert cache.fresh(1000, 100) == {}


@pytest.mark.parametrize(
    "bad", ["bitcoin", "Bitcoin/usd", "bitcoin/USD", "/usd", "bitcoin/", "a/b/c", "bit coin/usd"]
)
def test_pair_id_format(bad: str) -> None:
    with pytest.raises(ValueError, match="coingecko id"):
        parse_pair_id(bad)


def test_pair_id_parts() -> None:
    assert parse_pair_id("usd-coin/eur") == ("usd-coin", "eur")
    assert pair_id("1inch", "usd") == "1inch/usd"


@pytest.mark.parametrize(("price", "ts"), [(0, 1), (-1, 1), (True, 1), (1, -1)])
def test_rejects_bad_values(price: int, ts: int) -> None:
    with pytest.raises(ValueError):
        PriceCache().update("bitcoin/usd", price, ts)


def test_restricted_pairs_and_counters() -> None:
    cache = PriceCache(["bitcoin/usd"])
    with pytest.raises(ValueError, match="not configured"):
        cache.update("ethereum/usd", 1, 1)
    cache.count("requests")
    cache.count("requests", 2)
    assert cache.counters["requests"] == 3 and cache.counters["failures"] == 0
    assert cache.last_error is None
