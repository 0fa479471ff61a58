"""Property tests of the multi-provider feed: the cache's median and each poller's schedule.

The median (what ExtendVote reports) lies between the healthy providers' fresh quotes, ignores the order
quotes arrive in, and cannot be moved by one provider of three. The schedule never waits longer than
``max_backoff_s`` unless the provider asked for it (``Retry-After``), and a provider's own failure
never waits longer than the poll interval.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from abci_app.pricefeed.cache import PriceCache, median_price
from abci_app.pricefeed.client import ProviderPoller
from abci_app.pricefeed.config import FeedConfig
from abci_app.pricefeed.decimal18 import MAX_PRICE
from abci_app.pricefeed.provider import CoinGecko

PROVIDERS = ("coingecko", "kraken", "binance")
NOW = 1_711_356_400
prices = st.integers(min_value=1, max_value=MAX_PRICE)
quote = st.tuples(st.sampled_from(PROVIDERS), prices, st.integers(min_value=NOW - 200, max_value=NOW + 200))


@given(st.lists(quote, max_size=12), st.sets(st.sampled_from(PROVIDERS)), st.randoms())
def test_the_median_lies_between_the_healthy_fresh_quotes_whatever_the_order(
    quotes: list[tuple[str, int, int]], failing: set[str], rnd: object
) -> None:
    # one quote per provider and time (of two with the same time, the later one wins by design)
    quotes = list({(provider, at): (provider, price, at) for provider, price, at in quotes}.values())
    cache = PriceCache()
    for provider in failing:
        cache.provider_failed(provider)
    for provider, price, at in quotes:
        cache.update("bitcoin/usd", price, at, provider)
    latest = {
        p: q for p, q in cache.by_provider().get("bitcoin/usd", {}).items() if abs(NOW - q.updated_at) <= 120
    }
    got = cache.fresh(NOW, 120)
    if not latest:
        assert got == {}
        return
    healthy = [q.price for p, q in latest.items() if p not in failing]
    counted = healthy or [q.price for q in latest.values()]
    assert got == {"bitcoin/usd": median_price(counted)}
    assert min(counted) <= got["bitcoin/usd"] <= max(counted)
    shuffled = list(quotes)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    again = PriceCache()
    for provider in failing:
        again.provider_failed(provider)
    for provider, price, at in shuffled:
        again.update("bitcoin/usd", price, at, provider)
    assert again.fresh(NOW, 120) == got


@given(prices, prices, st.sampled_from(PROVIDERS))
def test_one_provider_of_three_cannot_move_the_median(honest: int, liar_price: int, liar: str) -> None:
    cache = PriceCache()
    for provider in PROVIDERS:
        cache.update("bitcoin/usd", liar_price if provider == liar else honest, NOW, provider)
    assert cache.fresh(NOW, 60) == {"bitcoin/usd": honest}


Outcome = tuple[str, int | None]
outcomes = st.one_of(
    st.tuples(st.just("ok"), st.none()),
    st.tuples(st.sampled_from(["http:500", "http:503", "http:404", "timeout", "garbage"]), st.none()),
    st.tuples(
        st.sampled_from(["http:429", "http:418", "http:401", "http:403", "kraken-rate-limit"]), st.none()
    ),
    st.tuples(st.just("retry-after"), st.integers(min_value=0, max_value=4000)),
)
OK_BODY = b'{"bitcoin": {"usd": 67187.33, "last_updated_at": 1711356400}}'


@given(
    st.lists(outcomes, min_size=1, max_size=40),
    st.sampled_from([0.05, 1.0, 10.0]),
    st.sampled_from([0.01, 2.0, 60.0, 300.0]),
)
def test_the_schedule_waits_only_as_long_as_the_provider_asks(
    history: list[Outcome], poll: float, cap: float
) -> None:
    config = FeedConfig(api_key="k", poll_interval_s=poll, max_backoff_s=cap)
    poller = ProviderPoller(
        CoinGecko(config, ["bitcoin/usd"]), config, ["bitcoin/usd"], PriceCache(), clock=lambda: NOW
    )
    failures = 0
    for kind, retry_after in history:
        if kind == "ok":
            poller._handle_ok(OK_BODY, "application/json")
            failures = 0
            assert poller.next_delay_s == poll
            continue
        failures += 1
        if kind == "retry-after":
            assert retry_after is not None
            poller._handle_error(429, "slow down", str(retry_after))
            asked = min(float(retry_after), 3600.0)  # capped at an hour
            assert poller.next_delay_s == max(asked, poll)
        elif kind in ("http:429", "http:418", "http:401", "http:403"):
            poller._handle_error(int(kind[5:]), "no", None)
            assert poller.next_delay_s == min(poll * 2.0**failures, cap)  # the request is the problem
        elif kind == "kraken-rate-limit":
            poller._fail("rate-limited", "EAPI:Rate limit exceeded", grow=True)
            assert poller.next_delay_s == min(poll * 2.0**failures, cap)
        elif kind.startswith("http:"):
            poller._handle_error(int(kind[5:]), "down", None)
            assert poller.next_delay_s == min(poll, cap)  # the provider's own failure: probe as usual
        elif kind == "garbage":
            poller._handle_ok(b"\xff<<", "application/json")
            assert poller.next_delay_s == min(poll, cap)
        else:
            poller._fail("timeout", "timed out")
            assert poller.next_delay_s == min(poll, cap)
        assert poller.consecutive_failures == failures
