"""pricefeed.json's providers and per-pair names: validation, backward compatibility, `taskmaster config`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from abci_app.cli_support import CliError
from abci_app.node import node_config
from abci_app.pricefeed.cache import PriceCache
from abci_app.pricefeed.client import PriceFetcher
from abci_app.pricefeed.config import FeedConfig, FeedConfigError, config_path

PAIRS = ["bitcoin/usd", "ethereum/usd"]


def test_a_file_written_before_providers_existed_means_coingecko_alone(tmp_path: Path) -> None:
    old = {
        "api_key": "CG-x",
        "base_url": "https://api.coingecko.com/api/v3",
        "enabled": True,
        "max_backoff_s": 300.0,
        "max_price_age_s": 120,
        "plan": "demo",
        "poll_interval_s": 10.0,
        "timeout_s": 5.0,
    }
    config_path(tmp_path).parent.mkdir(parents=True)
    config_path(tmp_path).write_text(json.dumps(old))
    config = FeedConfig.load(tmp_path)
    assert config.enabled_providers() == ("coingecko",)
    assert [p.name for p in PriceFetcher(config, PAIRS, PriceCache()).pollers] == ["coingecko"]
    config.save(tmp_path)
    assert json.loads(config_path(tmp_path).read_text()) == old  # rewritten unchanged: no new fields


def test_providers_and_pairs_are_validated_with_what_to_change() -> None:
    def error(**fields: Any) -> str:
        with pytest.raises(FeedConfigError) as exc:
            FeedConfig(api_key="k", **fields)
        return str(exc.value)

    assert "unknown provider 'coinbase'" in error(providers={"coinbase": {}})
    assert "CoinGecko's settings are the top-level fields" in error(
        providers={"coingecko": {"base_url": "x"}}
    )
    assert "http(s) URL" in error(providers={"kraken": {"base_url": "ftp://x"}})
    assert 'add "kraken": {}' in error(pairs={"bitcoin/usd": {"kraken": "XBTUSD"}})
    assert "CoinGecko needs no name" in error(
        providers={"kraken": {}}, pairs={"bitcoin/usd": {"coingecko": "x"}}
    )
    assert "upper-case name" in error(providers={"kraken": {}}, pairs={"bitcoin/usd": {"kraken": "xbt usd"}})
    assert "bad pair id" in error(providers={"kraken": {}}, pairs={"Bitcoin": {"kraken": "XBTUSD"}})


def test_coingecko_can_be_switched_off_and_exchanges_get_their_documented_roots() -> None:
    config = FeedConfig(
        providers={"coingecko": {"enabled": False}, "kraken": {}, "binance": {}},
        pairs={"bitcoin/usd": {"kraken": "XBTUSD", "binance": "BTCUSDT"}},
    )
    assert config.enabled_providers() == ("kraken", "binance")
    assert config.provider_base_url("kraken") == "https://api.kraken.com"
    assert config.provider_base_url("binance") == "https://data-api.binance.vision"
    fetcher = PriceFetcher(config, PAIRS, PriceCache())
    assert {p.name: p.pairs for p in fetcher.pollers} == {
        "kraken": ("bitcoin/usd",),
        "binance": ("bitcoin/usd",),
    }


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    node_config.add_flags(parser)
    return parser.parse_args(list(argv))


def test_taskmaster_config_sets_providers_and_pair_names(tmp_path: Path) -> None:
    FeedConfig(api_key="CG-secret").save(tmp_path)
    args = parse(
        "--pricefeed-provider",
        "kraken",
        "--pricefeed-provider",
        "binance=http://127.0.0.1:9000/binance/v0",
        "--pricefeed-pair",
        "bitcoin/usd:kraken=XBTUSD,binance=BTCUSDT",
        "--pricefeed-pair",
        "ethereum/usd:kraken=ETHUSD",
    )
    changed = node_config._feed_changes(args, tmp_path)
    assert changed is not None
    changed.save(tmp_path)
    saved = FeedConfig.load(tmp_path)
    assert saved.api_key == "CG-secret"  # the key is kept
    assert saved.enabled_providers() == ("coingecko", "kraken", "binance")
    assert saved.provider_base_url("binance") == "http://127.0.0.1:9000/binance/v0"
    assert saved.pairs == {
        "bitcoin/usd": {"kraken": "XBTUSD", "binance": "BTCUSDT"},
        "ethereum/usd": {"kraken": "ETHUSD"},
    }
    # removing a name, then a provider that no pair names any more
    again = node_config._feed_changes(parse("--pricefeed-pair", "bitcoin/usd:binance="), tmp_path)
    assert again is not None
    again.save(tmp_path)
    final = node_config._feed_changes(parse("--pricefeed-provider", "binance=off"), tmp_path)
    assert final is not None and final.enabled_providers() == ("coingecko", "kraken")


def test_taskmaster_config_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    FeedConfig(api_key="k", providers={"kraken": {}}, pairs={"bitcoin/usd": {"kraken": "XBTUSD"}}).save(
        tmp_path
    )
    with pytest.raises(CliError, match="must be one of coingecko, kraken, binance"):
        node_config._feed_changes(parse("--pricefeed-provider", "coinbase"), tmp_path)
    with pytest.raises(CliError, match="PAIR:PROVIDER=NAME"):
        node_config._feed_changes(parse("--pricefeed-pair", "bitcoin/usd"), tmp_path)
    with pytest.raises(CliError, match='add "kraken"'):  # a pair still names it
        node_config._feed_changes(parse("--pricefeed-provider", "kraken=off"), tmp_path)
