"""PriceFetcher against the CoinGecko simulator (real aiohttp servers on 127.0.0.1), mode by mode."""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from abci_app.pricefeed.cache import PriceCache
from abci_app.pricefeed.client import MAX_BODY_BYTES, PriceFetcher, parse_retry_after
from abci_app.pricefeed.config import FeedConfig
from devtools.coingecko_simulator import SimulatedPrices
from tests.unit.pricefeed.pricefeed_helpers import SIM_NOW, canned_server, run, sim_config, simulator

KEY = "CG-Val0-SECRET-9f8e7d"
PAIRS = ["ethereum/usd", "bitcoin/usd", "bitcoin/eur"]
LOGGER = "abci_app.pricefeed"


def fixed_clock() -> float:
    return SIM_NOW


def make_config(base_url: str, **overrides: Any) -> FeedConfig:
    settings: dict[str, Any] = {
        "base_url": base_url,
        "api_key": KEY,
        "poll_interval_s": 0.05,
        "timeout_s": 1.0,
        "max_backoff_s": 0.4,
    }
    settings.update(overrides)
    return FeedConfig(**settings)


async def fetch(
    settings: dict[str, Any], *, clock: Any = fixed_clock, pairs: list[str] | None = None, **cfg: Any
) -> tuple[PriceFetcher, int, dict[str, Any]]:
    """One fetch against a simulator whose only key is KEY with ``settings``; the sim's view after."""
    config = sim_config(**{KEY: settings})
    async with simulator(config, clock=clock) as (sim, base_url):
        cache = PriceCache()
        async with PriceFetcher(make_config(base_url, **cfg), pairs or PAIRS, cache, clock=clock) as fetcher:
            n = await fetcher.fetch_once()
        return fetcher, n, {"requests": dict(sim.requests), "last": dict(sim.last_request), "sim": sim}


def test_ok_fills_the_cache_with_exact_integers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fetcher, n, seen = run(fetch({}))
    assert n == 3 and fetcher.state == "ok"
    ts = int(SIM_NOW)
    assert fetcher.cache.fresh(ts, 120) == {
        "bitcoin/eur": 62_001_500_000_000_000_000_000,
        "bitcoin/usd": 67_187_330_000_000_000_000_000,
        "ethereum/usd": 3_500_123_456_789_012_345_678,
    }
    assert {p: q.updated_at for p, q in fetcher.cache.snapshot().items()} == dict.fromkeys(PAIRS, ts)
    assert seen["last"][KEY] == {
        "path": "/api/v3/simple/price",
        "query": "ids=bitcoin,ethereum&vs_currencies=eur,usd&include_last_updated_at=true&precision=full",
        "plan": "demo",
    }
    assert fetcher.cache.counters["quotes_updated"] == 3 and fetcher.cache.last_error is None
    assert fetcher.next_delay_s == 0.05
    assert "3 of 3 pairs updated" in caplog.text


def test_paths_drift_skew_and_exponent_match_simulated_prices() -> None:
    settings = {
        "skew": "1000",
        "exponent": True,
        "drift_per_s": {"bitcoin/usd": "-0.000000001"},
        "paths": {"ethereum/usd": ["1.5e-7", "3000.25", "2999"]},
    }
    fetcher, n, seen = run(fetch(settings))
    assert n == 3
    expected = SimulatedPrices(seen["sim"].config).prices(KEY, int(SIM_NOW), PAIRS)
    assert fetcher.cache.fresh(int(SIM_NOW), 120) == expected
    # t = 100 s: ethereum path index 100 % 3 = 1 -> 3000.25 * 1000; bitcoin 67187.33 - 100e-9, x1000
    assert expected["ethereum/usd"] == 3_000_250 * 10**18
    assert expected["bitcoin/usd"] == 671_873_299_999 * 10**14


def test_header_and_plan(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fetcher, n, seen = run(fetch({"plan": "pro"}, plan="pro"))
    assert n == 3 and seen["last"][KEY]["plan"] == "pro"
    # a demo key sent as a pro key: CoinGecko's 10011, shown as a rejected key
    fetcher, n, seen = run(fetch({"plan": "demo"}, plan="pro"))
    assert n == 0 and fetcher.state == "auth"
    assert "API key rejected" in caplog.text and "10011" in caplog.text and "x-cg-pro-api-key" in caplog.text
    assert KEY not in caplog.text


def test_unauthorized_is_logged_and_nothing_updated(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fetcher, n, _ = run(fetch({"mode": "unauthorized"}))
    assert n == 0 and fetcher.state == "auth" and fetcher.cache.snapshot() == {}
    assert fetcher.cache.counters["auth_rejected"] == 1
    assert "API key rejected" in caplog.text and "10002" in caplog.text and "<redacted>" in caplog.text
    assert KEY not in caplog.text and KEY not in (fetcher.cache.last_error or "") and KEY not in repr(fetcher)
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(records) == 1


def test_unknown_key_is_rejected() -> None:
    async def go() -> PriceFetcher:
        async with simulator(sim_config(other={})) as (_, base_url):
            fetcher = PriceFetcher(make_config(base_url), PAIRS, PriceCache())
            async with fetcher:
                await fetcher.fetch_once()
            return fetcher

    assert run(go()).state == "auth"


def test_rate_limited_respects_retry_after() -> None:
    async def go() -> tuple[float, int]:
        config = sim_config(**{KEY: {"mode": "rate_limited", "retry_after": 1}})
        async with simulator(config) as (sim, base_url):
            fetcher = PriceFetcher(make_config(base_url), PAIRS, PriceCache())
            assert await fetcher.fetch_once() == 0
            delay = fetcher.next_delay_s
            sim.requests.clear()
            stop = asyncio.Event()
            task = asyncio.create_task(fetcher.run(stop))
            await asyncio.sleep(1.5)  # polls at ~0 s and ~1 s, not every 0.05 s
            stop.set()
            await task
            assert fetcher.cache.counters["rate_limited"] >= 2
            return delay, sim.requests[KEY]

    delay, requests = run(go())
    assert delay == 1.0
    assert requests == 2


def test_rate_limited_with_http_date() -> None:
    fetcher, n, _ = run(fetch({"mode": "rate_limited", "retry_after": 30, "retry_after_format": "http-date"}))
    assert n == 0 and fetcher.state == "rate-limited"
    assert 29.0 <= fetcher.next_delay_s <= 31.0


def test_parse_retry_after() -> None:
    now = 1_711_356_300.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after("Mon, 25 Mar 2024 08:45:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 25 Mar 2024 08:00:00 GMT", now) == 0.0  # in the past
    assert parse_retry_after("99999999", now) == 3600.0  # capped
    for bad in (None, "", "soon", "-5", "1.5"):
        assert parse_retry_after(bad, now) is None


def test_rate_limited_without_retry_after_backs_off() -> None:
    async def go() -> PriceFetcher:
        async with canned_server(429, b'{"status": {"error_code": 429}}') as base_url:
            fetcher = PriceFetcher(make_config(base_url), PAIRS, PriceCache())
            async with fetcher:
                await fetcher.fetch_once()
            return fetcher

    fetcher = run(go())
    assert fetcher.state == "rate-limited" and fetcher.next_delay_s == 0.1


def test_server_errors_are_probed_every_poll_interval_then_recover(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    async def go() -> tuple[list[float], PriceFetcher]:
        async with simulator(sim_config(**{KEY: {"mode": "error500"}})) as (_, base_url):
            delays = []
            async with PriceFetcher(make_config(base_url), PAIRS, PriceCache()) as fetcher:
                for _ in range(5):
                    assert await fetcher.fetch_once() == 0
                    delays.append(fetcher.next_delay_s)
                # switch the key back to ok through the admin endpoint, as a localnet test would
                async with (
                    aiohttp.ClientSession() as admin,
                    admin.post(
                        f"{base_url.removesuffix('/api/v3')}/_sim/keys/{KEY}", json={"mode": "ok"}
                    ) as r,
                ):
                    assert r.status == 200
                assert await fetcher.fetch_once() == 3
                delays.append(fetcher.next_delay_s)
            return delays, fetcher

    delays, fetcher = run(go())
    # The provider's own failure does not grow the wait: the validator probes at its usual rate and
    # reports again as soon as the source is back (issue 21: the old 2**n back-off kept one out 117 s).
    assert delays == [0.05, 0.05, 0.05, 0.05, 0.05, 0.05]
    assert fetcher.state == "ok" and fetcher.consecutive_failures == 0
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert sum("HTTP 500" in line for line in lines) == 1  # once per state change, not per poll
    assert any("3 of 3 pairs updated" in line for line in lines)


def test_timeout() -> None:
    start = time.monotonic()
    fetcher, n, _ = run(fetch({"mode": "timeout", "hang_s": 10}, timeout_s=0.3))
    assert n == 0 and fetcher.state == "timeout" and "timed out after 0.3s" in fetcher.message
    assert time.monotonic() - start < 3.0  # neither the client nor the simulator's shutdown hangs


def test_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> PriceFetcher:
        async with PriceFetcher(
            make_config(f"http://127.0.0.1:{port}/api/v3"), PAIRS, PriceCache()
        ) as fetcher:
            await fetcher.fetch_once()
            return fetcher

    fetcher = run(go())
    assert fetcher.state == "connection" and "cannot connect" in fetcher.message
    assert fetcher.cache.counters["failures"] == 1


@pytest.mark.parametrize(("status", "state"), [(503, "server-error:503"), (200, "html"), (403, "auth")])
def test_html_error_pages(status: int, state: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fetcher, n, _ = run(fetch({"mode": "html", "html_status": status}))
    assert n == 0 and fetcher.state == state and fetcher.cache.snapshot() == {}
    assert "HTML page" in caplog.text and "Service temporarily unavailable" in caplog.text


def test_garbage() -> None:
    fetcher, n, _ = run(fetch({"mode": "garbage"}))
    assert n == 0 and fetcher.state == "not-json" and "invalid JSON" in fetcher.message


def test_nulls_only_skip_the_null_pairs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fetcher, n, _ = run(fetch({"mode": "nulls", "null_pairs": ["bitcoin/eur"]}))
    assert n == 2 and set(fetcher.cache.snapshot()) == {"bitcoin/usd", "ethereum/usd"}
    assert "price is null: bitcoin/eur" in caplog.text
    fetcher, n, _ = run(fetch({"mode": "nulls"}))
    assert n == 0 and fetcher.cache.counters["quotes_rejected"] == 3


def test_missing_coins_updates_only_present_coins(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fetcher, n, _ = run(fetch({"mode": "missing_coins"}))  # default: the last requested coin is left out
    assert n == 2 and set(fetcher.cache.snapshot()) == {"bitcoin/eur", "bitcoin/usd"}
    assert "coin missing from the answer: ethereum/usd" in caplog.text
    assert fetcher.state.startswith("partial:") and fetcher.next_delay_s == 0.05
    fetcher, n, _ = run(fetch({"mode": "missing_coins", "missing": ["bitcoin"]}))
    assert n == 1 and set(fetcher.cache.snapshot()) == {"ethereum/usd"}


def test_coins_unknown_to_coingecko_are_missing() -> None:
    fetcher, n, _ = run(fetch({}, pairs=["bitcoin/usd", "not-a-coin/usd", "bitcoin/jpy"]))
    assert n == 1
    assert "coin missing from the answer: not-a-coin/usd" in fetcher.message
    assert "quote currency missing: bitcoin/jpy" in fetcher.message


def test_stale_quotes_are_dropped() -> None:
    fetcher, n, _ = run(fetch({"mode": "stale", "stale_age_s": 121}))
    assert n == 0 and fetcher.cache.snapshot() == {} and fetcher.cache.counters["quotes_stale"] == 3
    assert "stale" in fetcher.message
    # the clock is 0.25 s past the served second: 119 s old is within max_price_age_s=120
    fetcher, n, _ = run(fetch({"mode": "stale", "stale_age_s": 119}))
    assert n == 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"bitcoin": {"usd": 67187.33}}', "no last_updated_at"),
        # the key our simulator once invented: not CoinGecko's, so not a timestamp
        (b'{"bitcoin": {"usd": 67187.33, "usd_last_updated_at": 1711356400}}', "no last_updated_at"),
        (b'{"bitcoin": {"usd": 67187.33, "last_updated_at": "1711356400"}}', "bad last_updated_at"),
        (b'{"bitcoin": {"usd": 67187.33, "last_updated_at": 1711356400.5}}', "bad last_updated_at"),
        (b'{"bitcoin": {"usd": 67187.33, "last_updated_at": -1}}', "bad last_updated_at"),
        (b'{"bitcoin": {"usd": 67187.33, "last_updated_at": true}}', "bad last_updated_at"),
        (b'{"bitcoin": {"usd": 67187.33, "last_updated_at": 1' + b"0" * 5000 + b"}}", "bad last_updated_at"),
        (b'{"bitcoin": {"usd": -5, "last_updated_at": 1711356400}}', "negative"),
        (b'{"bitcoin": {"usd": 0, "last_updated_at": 1711356400}}', "zero"),
        (b'{"bitcoin": {"usd": NaN, "last_updated_at": 1711356400}}', "finite"),
        (b'{"bitcoin": {"usd": Infinity, "last_updated_at": 1711356400}}', "finite"),
        (b'{"bitcoin": {"usd": 1e999999, "last_updated_at": 1711356400}}', "exponent out of range"),
        (b'{"bitcoin": {"usd": 9' + b"9" * 5000 + b', "last_updated_at": 1711356400}}', "too long"),
        (b'{"bitcoin": {"usd": true, "last_updated_at": 1711356400}}', "price is not a JSON number"),
        (b'{"bitcoin": {"usd": "cheap", "last_updated_at": 1711356400}}', "price is not a JSON number"),
        (b'{"bitcoin": {"usd": {"v": 1}, "last_updated_at": 1711356400}}', "price is not a JSON number"),
        (b'{"bitcoin": {"usd": [1], "last_updated_at": 1711356400}}', "price is not a JSON number"),
        (b'{"bitcoin": {"usd": null, "last_updated_at": 1711356400}}', "price is null"),
        (b'{"bitcoin": {"usd": 1, "last_updated_at": 1811356400}}', "future"),
        (b'{"bitcoin": {"eur": 1, "last_updated_at": 1711356400}}', "quote currency missing"),
        (b'{"bitcoin": []}', "coin missing"),
        (b'{"bitcoin": "67187.33"}', "coin missing"),
        (b"{}", "coin missing"),
    ],
)
def test_bad_quotes_in_a_200(body: bytes, reason: str) -> None:
    async def go() -> tuple[PriceFetcher, int]:
        async with canned_server(200, body) as base_url:
            fetcher = PriceFetcher(make_config(base_url), ["bitcoin/usd"], PriceCache(), clock=fixed_clock)
            async with fetcher:
                return fetcher, await fetcher.fetch_once()

    fetcher, n = run(go())
    assert n == 0 and fetcher.cache.snapshot() == {} and reason in fetcher.message
    assert fetcher.state.startswith("partial:") and len(fetcher.message) < 400


def test_quoted_prices_are_refused() -> None:
    body = b'{"bitcoin": {"usd": "1.5e-7", "last_updated_at": 1711356400}}'

    async def go() -> PriceFetcher:
        async with canned_server(200, body) as base_url:
            cache = PriceCache()
            async with PriceFetcher(make_config(base_url), ["bitcoin/usd"], cache, clock=fixed_clock) as f:
                assert await f.fetch_once() == 0
            return f

    fetcher = run(go())
    assert "price is not a JSON number: bitcoin/usd" in fetcher.message and "a JSON string" in fetcher.message


@pytest.mark.parametrize(
    ("body", "state"),
    [
        (b"[1, 2]", "bad-shape"),
        (b'"bitcoin"', "bad-shape"),
        (b"", "not-json"),
        (b"{'bitcoin': 1}", "not-json"),
        (b'{"bitcoin": {"usd": 1, "last_updated_at": 1711356400}, "bitcoin": {}}', "not-json"),  # duplicate
        (b"[" * 200_000 + b"]" * 200_000, "not-json"),  # deeper than the JSON parser can go
        (b'{"bitcoin": {"usd": 1}}\xff', "not-json"),
        (b"x" * (MAX_BODY_BYTES + 10), "too-large"),
        (b"{" * (MAX_BODY_BYTES + 10), "too-large"),
    ],
)
def test_bodies_that_are_not_an_answer(body: bytes, state: str) -> None:
    async def go() -> PriceFetcher:
        async with canned_server(200, body) as base_url:
            fetcher = PriceFetcher(make_config(base_url), PAIRS, PriceCache())
            async with fetcher:
                await fetcher.fetch_once()
            return fetcher

    fetcher = run(go())
    assert fetcher.state == state and fetcher.cache.snapshot() == {}
    assert fetcher.cache.counters["failures"] == 1 and len(fetcher.message) < 400


@pytest.mark.parametrize(
    ("content_type", "state"),
    [("text/plain", "content-type"), ("application/octet-stream", "content-type"), ("text/html", "html")],
)
def test_a_200_that_is_not_application_json_is_refused(content_type: str, state: str) -> None:
    body = b'{"bitcoin": {"usd": 1, "last_updated_at": 1711356400}}'

    async def go() -> PriceFetcher:
        async with canned_server(200, body, content_type=content_type) as base_url:
            fetcher = PriceFetcher(make_config(base_url), ["bitcoin/usd"], PriceCache(), clock=fixed_clock)
            async with fetcher:
                assert await fetcher.fetch_once() == 0
            return fetcher

    fetcher = run(go())
    assert fetcher.state == state and fetcher.cache.snapshot() == {}
    if state == "content-type":
        assert content_type in fetcher.message and "instead of application/json" in fetcher.message


def test_hostile_error_bodies_give_a_short_printable_reason() -> None:
    body = (
        b'{"status": {"error_code": 1'
        + b"0" * 5000
        + b', "error_message": "a\\u001b[31mred\\nline'
        + b"x" * 5000
        + b'"}}'
    )

    async def go() -> PriceFetcher:
        async with canned_server(500, body) as base_url:
            fetcher = PriceFetcher(make_config(base_url), PAIRS, PriceCache())
            async with fetcher:
                await fetcher.fetch_once()
            return fetcher

    fetcher = run(go())
    assert fetcher.state == "server-error:500"
    assert "\x1b" not in fetcher.message and "\n" not in fetcher.message and len(fetcher.message) < 400
    assert "error_code" not in fetcher.message  # a 5001-digit code is not shown


def test_a_retry_after_in_unicode_digits_is_ignored() -> None:
    assert parse_retry_after("\u00b2", 0.0) is None  # str.isdigit says yes, int() says no
    assert parse_retry_after("Mon, 25 Mar 99999 08:45:30 GMT", 0.0) is None
    assert parse_retry_after("1" * 65, 0.0) is None


def test_missing_key_is_reported_without_a_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TM_TEST_NO_SUCH_KEY", raising=False)

    async def go() -> tuple[PriceFetcher, dict[str, int]]:
        async with simulator(sim_config(**{KEY: {}})) as (sim, base_url):
            cfg = FeedConfig(base_url=base_url, api_key_env="TM_TEST_NO_SUCH_KEY")
            async with PriceFetcher(cfg, PAIRS, PriceCache()) as fetcher:
                assert await fetcher.fetch_once() == 0
            return fetcher, sim.requests

    fetcher, requests = run(go())
    assert fetcher.state == "no-key" and requests == {}
    assert "api_key" in fetcher.message and "TM_TEST_NO_SUCH_KEY" in fetcher.message


def test_run_survives_a_bug_and_stops_promptly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)

    async def go() -> tuple[int, float]:
        async with simulator(sim_config(**{KEY: {}})) as (_, base_url):
            fetcher = PriceFetcher(make_config(base_url, poll_interval_s=5), PAIRS, PriceCache())
            (poller,) = fetcher.pollers
            calls = 0
            real = poller.fetch_once

            async def flaky() -> int:
                nonlocal calls
                calls += 1
                if calls == 1:
                    raise RuntimeError("boom")
                return await real()

            poller.fetch_once = flaky  # type: ignore[method-assign]
            poller.config = make_config(base_url, poll_interval_s=5, max_backoff_s=0.05)
            stop = asyncio.Event()
            task = asyncio.create_task(fetcher.run(stop))
            await asyncio.sleep(0.4)
            stop.set()
            started = time.monotonic()
            await task  # waiting out a 5 s poll interval must not delay the stop
            return calls, time.monotonic() - started

    calls, stop_latency = run(go())
    assert calls == 2 and stop_latency < 0.5
    assert "unexpectedly: RuntimeError: boom" in caplog.text and "price feed stopped" in caplog.text


def test_run_disabled_returns_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    fetcher = PriceFetcher(make_config("http://127.0.0.1:9", enabled=False), PAIRS, PriceCache())
    run(fetcher.run(asyncio.Event()), timeout=2)
    assert "disabled" in caplog.text


def test_a_given_session_is_used_and_left_open() -> None:
    async def go() -> bool:
        async with simulator(sim_config(**{KEY: {}})) as (_, base_url), aiohttp.ClientSession() as session:
            fetcher = PriceFetcher(make_config(base_url), PAIRS, PriceCache(), session=session)
            assert await fetcher.fetch_once() == 3
            await fetcher.close()
            return session.closed

    assert run(go()) is False


def test_the_key_never_reaches_logs_in_any_mode(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    modes: list[dict[str, Any]] = [
        {"mode": m}
        for m in (
            "ok",
            "error500",
            "unauthorized",
            "rate_limited",
            "html",
            "garbage",
            "nulls",
            "missing_coins",
            "stale",
        )
    ]
    modes.append({"mode": "timeout", "hang_s": 5})
    for settings in modes:
        fetcher, _, _ = run(fetch(settings, timeout_s=0.2))
        assert KEY not in repr(fetcher) and KEY not in (fetcher.cache.last_error or "")
        assert KEY not in str(fetcher.snapshot())
    assert caplog.records and KEY not in caplog.text


def test_bad_pairs() -> None:
    with pytest.raises(ValueError, match="no pairs"):
        PriceFetcher(make_config("http://127.0.0.1:9"), [], PriceCache())
    with pytest.raises(ValueError, match="coingecko id"):
        PriceFetcher(make_config("http://127.0.0.1:9"), ["BTC-USD"], PriceCache())
    with pytest.raises(TypeError):
        PriceFetcher(make_config("http://127.0.0.1:9"), "bitcoin/usd", PriceCache())


def test_a_compressed_bomb_is_cut_at_the_body_limit() -> None:
    bomb = gzip.compress(b" " * (64 * MAX_BODY_BYTES))  # 64 MiB of spaces in ~64 KiB

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    async def go() -> PriceFetcher:
        app = web.Application()
        app.router.add_get("/api/v3/simple/price", handler)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v3"
            async with PriceFetcher(make_config(base_url), PAIRS, PriceCache()) as fetcher:
                await fetcher.fetch_once()
            return fetcher
        finally:
            await runner.cleanup()

    fetcher = run(go())
    assert fetcher.state == "too-large" and fetcher.cache.snapshot() == {}
