"""The client and the simulator each against CoinGecko's documented answers (``tests/fixtures/coingecko/``).

The client reads the fixture files directly (its parser, and the fetcher over a server replaying them
byte for byte); the simulator's answers are compared with the same files key by key and type by type.
Neither is tested through the other.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from abci_app.pricefeed.cache import PriceCache, Quote
from abci_app.pricefeed.client import PriceFetcher
from abci_app.pricefeed.config import FeedConfig
from abci_app.pricefeed.decimal18 import loads_no_float
from abci_app.pricefeed.simple_price import error_detail, parse_answer, request_query
from tests.unit.pricefeed.pricefeed_helpers import (
    documented,
    documented_names,
    documented_server,
    run,
    shape_mismatches,
    simulator,
)

KEY = "CG-documented-key-123"
BTC_EXAMPLE_PRICE = 67_187_335_893_656_600_000_000  # 67187.3358936566 with 18 decimals
BTC_EXAMPLE_TS = 1_711_356_300
WBTC = "0x2260fac5e5542a773aa44fbcfedf7c193bc2c599"


def test_every_fixture_names_its_source_and_is_json() -> None:
    names = documented_names()
    assert len(names) >= 7
    for name in names:
        answer = documented(name)
        assert answer.source_url.startswith("https://"), name
        loads_no_float(answer.body)


# -- the client's parser, on the files ---------------------------------------------------------------


def test_the_documented_example_parses_to_the_exact_price_and_its_coin_timestamp() -> None:
    answer = documented("simple_price_demo_example")
    parsed = parse_answer(answer.body, answer.content_type, ["bitcoin/usd"])
    assert parsed.quotes == {"bitcoin/usd": Quote(BTC_EXAMPLE_PRICE, BTC_EXAMPLE_TS)}
    assert parsed.rejected == {} and parsed.details == ()


def test_the_documented_example_rejects_a_currency_it_does_not_carry() -> None:
    answer = documented("simple_price_demo_example")
    parsed = parse_answer(answer.body, answer.content_type, ["bitcoin/usd", "bitcoin/eur", "ethereum/usd"])
    assert set(parsed.quotes) == {"bitcoin/usd"}
    assert parsed.rejected == {
        "bitcoin/eur": "quote currency missing",
        "ethereum/usd": "coin missing from the answer",
    }


def test_a_price_printed_as_a_json_integer_is_read_exactly() -> None:
    answer = documented("simple_token_price_pro_example")
    parsed = parse_answer(answer.body, answer.content_type, [f"{WBTC}/usd"])
    assert parsed.quotes == {f"{WBTC}/usd": Quote(76_721 * 10**18, 1_779_094_527)}


def test_an_unknown_id_is_left_out_and_so_rejected() -> None:
    answer = documented("simple_price_unknown_id")
    parsed = parse_answer(answer.body, answer.content_type, ["bitcoin/usd"])
    assert parsed.quotes == {} and parsed.rejected == {"bitcoin/usd": "coin missing from the answer"}


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("error_429_rate_limited", "429"),
        ("error_401_10002_key_missing", "10002"),
        ("error_401_10010_pro_key_on_demo_root", "10010"),
        ("error_401_10011_demo_key_on_pro_root", "10011"),
    ],
)
def test_documented_error_bodies_are_read_with_their_code(name: str, code: str) -> None:
    answer = documented(name)
    message = loads_no_float(answer.body)["status"]["error_message"]
    assert error_detail(answer.body) == f"error_code {code}: {message[:117]}..."


def test_the_request_asks_for_full_precision_and_the_coin_timestamps() -> None:
    assert request_query(["ethereum", "bitcoin"], ["usd", "eur"]) == (
        "ids=bitcoin,ethereum&vs_currencies=eur,usd&include_last_updated_at=true&precision=full"
    )


# -- the fetcher, over a server replaying the files --------------------------------------------------


def _fetch(name: str, pairs: list[str], now: float) -> PriceFetcher:
    async def go() -> PriceFetcher:
        async with documented_server(documented(name)) as base_url:
            config = FeedConfig(base_url=base_url, api_key=KEY, poll_interval_s=10, max_backoff_s=300)
            async with PriceFetcher(config, pairs, PriceCache(), clock=lambda: now) as fetcher:
                await fetcher.fetch_once()
            return fetcher

    return run(go())


def test_the_fetcher_caches_the_documented_example() -> None:
    fetcher = _fetch("simple_price_demo_example", ["bitcoin/usd"], BTC_EXAMPLE_TS + 30.5)
    assert fetcher.state == "ok"
    assert fetcher.cache.snapshot() == {"bitcoin/usd": Quote(BTC_EXAMPLE_PRICE, BTC_EXAMPLE_TS)}


def test_the_fetcher_drops_the_documented_example_once_stale() -> None:
    fetcher = _fetch("simple_price_demo_example", ["bitcoin/usd"], BTC_EXAMPLE_TS + 121)
    assert fetcher.cache.snapshot() == {} and "stale" in fetcher.message


@pytest.mark.parametrize(
    ("name", "state", "counter"),
    [
        ("error_429_rate_limited", "rate-limited", "rate_limited"),
        ("error_401_10002_key_missing", "auth", "auth_rejected"),
        ("error_401_10010_pro_key_on_demo_root", "auth", "auth_rejected"),
        ("error_401_10011_demo_key_on_pro_root", "auth", "auth_rejected"),
    ],
)
def test_the_fetcher_reports_documented_errors(
    name: str, state: str, counter: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="abci_app.pricefeed")
    fetcher = _fetch(name, ["bitcoin/usd"], BTC_EXAMPLE_TS)
    code = name.split("_")[2] if state == "auth" else "429"
    assert fetcher.state == state and fetcher.cache.counters[counter] == 1
    assert f"error_code {code}" in fetcher.message and fetcher.cache.snapshot() == {}
    assert fetcher.next_delay_s == 20  # no Retry-After is documented: back off
    assert KEY not in caplog.text


# -- the simulator, compared with the files ----------------------------------------------------------


def _sim_config() -> dict[str, Any]:
    return {
        "start_time": BTC_EXAMPLE_TS,
        "coins": {"bitcoin": {"usd": "67187.3358936566"}},
        "drift_per_s": {"bitcoin/usd": "0.0001"},
        "keys": {
            KEY: {},
            "limited": {"mode": "rate_limited"},
            "pro-key": {"plan": "pro"},
            "demo-key": {"plan": "demo"},
        },
    }


async def _ask(query: str, headers: dict[str, str]) -> tuple[int, str, Any]:
    async with (
        simulator(_sim_config(), clock=lambda: BTC_EXAMPLE_TS + 60.0) as (_, base_url),
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/simple/price?{query}", headers=headers) as resp,
    ):
        return resp.status, resp.headers.get("Content-Type", ""), loads_no_float(await resp.read())


@pytest.mark.parametrize("name", ["simple_price_demo_example", "simple_price_unknown_id"])
def test_the_simulator_answers_with_the_documented_shape(name: str) -> None:
    answer = documented(name)
    assert answer.query is not None
    status, content_type, body = run(_ask(answer.query, {"x-cg-demo-api-key": KEY}))
    assert status == answer.status and content_type.startswith(answer.content_type)
    assert shape_mismatches(body, loads_no_float(answer.body)) == []


@pytest.mark.parametrize(
    ("name", "headers"),
    [
        ("error_429_rate_limited", {"x-cg-demo-api-key": "limited"}),
        ("error_401_10002_key_missing", {}),
        ("error_401_10002_key_missing", {"x-cg-demo-api-key": "nobody-knows-me"}),
        ("error_401_10010_pro_key_on_demo_root", {"x-cg-demo-api-key": "pro-key"}),
        ("error_401_10011_demo_key_on_pro_root", {"x-cg-pro-api-key": "demo-key"}),
    ],
)
def test_the_simulator_errors_are_the_documented_ones(name: str, headers: dict[str, str]) -> None:
    answer = documented(name)
    status, content_type, body = run(_ask("ids=bitcoin&vs_currencies=usd", headers))
    assert status == answer.status and content_type.startswith(answer.content_type)
    assert body == loads_no_float(answer.body)  # same code, same message text


def test_the_simulator_serves_every_digit_with_precision_full() -> None:
    query = "ids=bitcoin&vs_currencies=usd&include_last_updated_at=true&precision=full"
    _, _, body = run(_ask(query, {"x-cg-demo-api-key": KEY}))
    assert body == {"bitcoin": {"usd": "67187.3418936566", "last_updated_at": str(BTC_EXAMPLE_TS + 60)}}
