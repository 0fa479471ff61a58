"""Kraken and Binance: their parsers on the documented answers (tests/fixtures/kraken and binance),
the simulator's answers against the same documents, and their pollers against the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from abci_app.pricefeed import binance, kraken
from abci_app.pricefeed.cache import PriceCache
from abci_app.pricefeed.client import PriceFetcher
from abci_app.pricefeed.config import FeedConfig
from abci_app.pricefeed.decimal18 import loads_no_float, parse_price
from abci_app.pricefeed.simple_price import AnswerError
from devtools.coingecko_simulator import SimulatedPrices
from tests.unit.pricefeed.pricefeed_helpers import (
    SIM_NOW,
    canned_server,
    run,
    shape_mismatches,
    sim_config,
    simulator,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
NOW = int(SIM_NOW)
PAIRS = ["bitcoin/usd", "ethereum/usd"]
KRAKEN_NAMES = {"bitcoin/usd": "XBTUSD", "ethereum/usd": "ETHUSD"}
BINANCE_SYMBOLS = {"bitcoin/usd": "BTCUSDT", "ethereum/usd": "ETHUSDT"}


def fixture(provider: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / provider / f"{name}.json").read_text(encoding="utf-8"))
    assert data["source"]["url"].startswith("https://") and data["source"]["quoted"]
    return data


def exchange_sim_config(**keys: dict[str, Any]) -> dict[str, Any]:
    """The test coins, with Kraken's and Binance's names for them (Kraken answers XBTUSD as XXBTZUSD)."""
    return {
        **sim_config(**keys),
        "symbols": {
            "kraken": {"XBTUSD": "bitcoin/usd", "ETHUSD": "ethereum/usd"},
            "binance": {"BTCUSDT": "bitcoin/usd", "ETHUSDT": "ethereum/usd"},
        },
        "kraken_answer_names": {"XBTUSD": "XXBTZUSD", "ETHUSD": "XETHZUSD"},
    }


def exchange_config(root: str, **overrides: Any) -> FeedConfig:
    """CoinGecko with key ``cg`` plus both exchanges on the simulator as tenant ``v0``."""
    settings: dict[str, Any] = {
        "base_url": f"{root}/api/v3",
        "api_key": "cg",
        "poll_interval_s": 0.05,
        "timeout_s": 1.0,
        "providers": {
            "kraken": {"base_url": f"{root}/kraken/v0"},
            "binance": {"base_url": f"{root}/binance/v0"},
        },
        "pairs": {p: {"kraken": KRAKEN_NAMES[p], "binance": BINANCE_SYMBOLS[p]} for p in PAIRS},
    }
    settings.update(overrides)
    return FeedConfig(**settings)


# -- the parsers on the documented answers -----------------------------------------------------------


def test_kraken_reads_the_documented_ticker_answered_under_krakens_own_name() -> None:
    doc = fixture("kraken", "ticker_documented_example")
    expected = doc["expected"]
    names = {expected["pair"]: expected["name"]}
    answer = kraken.parse_ticker(doc["body"].encode(), doc["content_type"], names, NOW)
    assert answer.rejected == {}
    (quote,) = answer.quotes.values()
    assert quote.price == parse_price(expected["price"]) == 30_303_200_000_000_000_000_000
    assert quote.updated_at == NOW  # Kraken's ticker has no time: dated on receipt
    # asked by the name Kraken answers with, the entry is found among several
    both = {expected["pair"]: "XXBTZUSD", "ethereum/usd": "XETHZUSD"}
    answer = kraken.parse_ticker(doc["body"].encode(), doc["content_type"], both, NOW)
    assert set(answer.quotes) == {"bitcoin/usd"}
    assert answer.rejected == {"ethereum/usd": "pair missing from the answer"}
    assert any("XXBTZUSD" in d for d in answer.details)  # tells the operator which names Kraken uses


def test_kraken_errors_are_answer_errors_and_rate_limits_are_told_apart() -> None:
    unknown = fixture("kraken", "error_unknown_asset_pair")
    with pytest.raises(AnswerError) as err:
        kraken.parse_ticker(unknown["body"].encode(), unknown["content_type"], KRAKEN_NAMES, NOW)
    assert err.value.state == "provider-error" and "EQuery:Unknown asset pair" in str(err.value)
    limited = fixture("kraken", "error_rate_limit")
    with pytest.raises(AnswerError) as err:
        kraken.parse_ticker(limited["body"].encode(), limited["content_type"], KRAKEN_NAMES, NOW)
    assert err.value.state == "rate-limited"
    assert kraken.error_detail(unknown["body"].encode()) == "EQuery:Unknown asset pair"


def test_kraken_refuses_a_price_that_is_a_json_number() -> None:
    body = b'{"error": [], "result": {"XBTUSD": {"c": [30303.2, "1"]}}}'
    answer = kraken.parse_ticker(body, "application/json", {"bitcoin/usd": "XBTUSD"}, NOW)
    assert answer.rejected == {"bitcoin/usd": "price is not a decimal string"}


@pytest.mark.parametrize("name", ["ticker_price_single_example", "ticker_price_array_example"])
def test_binance_reads_both_documented_forms(name: str) -> None:
    doc = fixture("binance", name)
    expected = doc["expected"]
    answer = binance.parse_ticker(
        doc["body"].encode(), doc["content_type"], {expected["pair"]: expected["name"]}, NOW
    )
    assert answer.rejected == {}
    assert answer.quotes[expected["pair"]].price == parse_price(expected["price"])
    assert answer.quotes[expected["pair"]].updated_at == NOW


def test_binance_error_body_and_missing_or_repeated_symbols() -> None:
    doc = fixture("binance", "error_invalid_symbol")
    assert binance.error_detail(doc["body"].encode()) == "code -1121: Invalid symbol."
    with pytest.raises(AnswerError) as err:
        binance.parse_ticker(doc["body"].encode(), doc["content_type"], BINANCE_SYMBOLS, NOW)
    assert err.value.state == "provider-error"
    twice = b'[{"symbol": "BTCUSDT", "price": "1"}, {"symbol": "BTCUSDT", "price": "2"}]'
    answer = binance.parse_ticker(twice, "application/json", BINANCE_SYMBOLS, NOW)
    assert answer.rejected == {
        "bitcoin/usd": "symbol answered twice",
        "ethereum/usd": "symbol missing from the answer",
    }


def test_request_urls_follow_the_documented_forms() -> None:
    assert kraken.ticker_url("https://api.kraken.com", ["XBTUSD", "ETHUSD"]) == (
        "https://api.kraken.com/0/public/Ticker?pair=ETHUSD,XBTUSD"
    )
    assert binance.ticker_url("https://data-api.binance.vision/", ["BTCUSDT", "BNBUSDT"]) == (
        "https://data-api.binance.vision/api/v3/ticker/price?symbols=%5B%22BNBUSDT%22%2C%22BTCUSDT%22%5D"
    )


# -- the simulator against the documents -------------------------------------------------------------


def test_the_simulator_answers_as_kraken_and_binance_document() -> None:
    import aiohttp

    async def go() -> dict[str, Any]:
        async with simulator(exchange_sim_config(), clock=lambda: SIM_NOW) as (_, base_url):
            root = base_url.removesuffix("/api/v3")
            out: dict[str, Any] = {}
            async with aiohttp.ClientSession() as http:
                for label, url in {
                    "kraken": f"{root}/kraken/v0/0/public/Ticker?pair=XBTUSD",
                    "kraken_unknown": f"{root}/kraken/v0/0/public/Ticker?pair=NOSUCH",
                    "binance_single": f"{root}/binance/v0/api/v3/ticker/price?symbol=BTCUSDT",
                    "binance_array": binance.ticker_url(f"{root}/binance/v0", ["BTCUSDT", "ETHUSDT"]),
                    "binance_unknown": f"{root}/binance/v0/api/v3/ticker/price?symbol=NOSUCH",
                }.items():
                    async with http.get(url) as resp:
                        out[label] = (resp.status, resp.content_type, await resp.text())
            return out

    got = run(go())
    doc = fixture("kraken", "ticker_documented_example")
    assert got["kraken"][:2] == (200, "application/json")
    assert shape_mismatches(loads_no_float(got["kraken"][2]), loads_no_float(doc["body"])) == []
    unknown = fixture("kraken", "error_unknown_asset_pair")
    assert loads_no_float(got["kraken_unknown"][2]) == loads_no_float(unknown["body"])
    single = fixture("binance", "ticker_price_single_example")
    assert shape_mismatches(loads_no_float(got["binance_single"][2]), loads_no_float(single["body"])) == []
    array = loads_no_float(got["binance_array"][2])
    assert [shape_mismatches(item, loads_no_float(single["body"])) for item in array] == [[], []]
    invalid = fixture("binance", "error_invalid_symbol")
    assert got["binance_unknown"][0] == invalid["status"]
    assert loads_no_float(got["binance_unknown"][2]) == loads_no_float(invalid["body"])


# -- the pollers against the simulator --------------------------------------------------------------


def test_every_provider_fills_the_cache_with_the_simulators_exact_prices() -> None:
    async def go() -> tuple[dict[str, dict[str, int]], dict[str, int]]:
        config = exchange_sim_config(
            cg={}, **{"kraken:v0": {"skew": "1.001"}, "binance:v0": {"skew": "0.999"}}
        )
        async with simulator(config, clock=lambda: SIM_NOW) as (sim, base_url):
            cache = PriceCache()
            feed = exchange_config(base_url.removesuffix("/api/v3"))
            async with PriceFetcher(feed, PAIRS, cache, clock=lambda: SIM_NOW) as fetcher:
                assert await fetcher.fetch_once() == 2
                assert [p.state for p in fetcher.pollers] == ["ok", "ok", "ok"]
            prices = SimulatedPrices(sim.config)
            expected = {key: prices.prices(key, NOW, PAIRS) for key in ("cg", "kraken:v0", "binance:v0")}
            return expected, cache.fresh(NOW, 120)

    expected, fresh = run(go())
    by_name = dict(zip(("coingecko", "kraken", "binance"), expected.values(), strict=True))
    assert fresh == {p: by_name["coingecko"][p] for p in PAIRS}  # the middle of 0.999x, 1x, 1.001x


def test_a_pair_without_a_name_is_left_to_the_providers_that_have_one() -> None:
    pairs = {"bitcoin/usd": {"kraken": "XBTUSD"}}
    config = exchange_config("http://127.0.0.1:9", pairs=pairs)
    fetcher = PriceFetcher(config, PAIRS, PriceCache())
    assert {p.name: p.pairs for p in fetcher.pollers} == {
        "coingecko": ("bitcoin/usd", "ethereum/usd"),
        "kraken": ("bitcoin/usd",),
    }


def test_binance_429_without_retry_after_backs_off_to_spare_its_rate_limit() -> None:
    async def go() -> PriceFetcher:
        body = b'{"code": -1003, "msg": "Too much request weight used"}'
        async with canned_server(429, body) as base_url:
            root = base_url.removesuffix("/api/v3")
            config = exchange_config(
                root,
                providers={"binance": {"base_url": root}, "coingecko": {"enabled": False}},
                pairs={p: {"binance": BINANCE_SYMBOLS[p]} for p in PAIRS},
            )
            async with PriceFetcher(config, PAIRS, PriceCache()) as fetcher:
                await fetcher.fetch_once()
            return fetcher

    fetcher = run(go())
    (poller,) = fetcher.pollers
    assert poller.name == "binance" and poller.state == "rate-limited"
    assert "code -1003" in poller.message
    assert poller.next_delay_s == 0.1  # 0.05 * 2: the provider says the request rate is the problem
