"""Each price provider's last success, error count and health, as the node's /metrics shows them."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import generate_latest

from abci_app.app import AppConfig, Application
from abci_app.node.metrics import NodeMetrics
from abci_app.node.oracle_service import OracleService
from abci_app.pricefeed.config import FeedConfig
from tests.unit.node.test_metrics import _samples


def test_provider_errors_last_success_and_health_are_exported_per_provider(tmp_path: Path) -> None:
    app = Application(AppConfig(db_path=str(tmp_path / "db")))
    try:
        config = FeedConfig(
            base_url="http://127.0.0.1:9/api/v3",
            api_key="k",
            providers={"kraken": {}},
            pairs={"bitcoin/usd": {"kraken": "XBTUSD"}},
        )
        service = OracleService(app, config)
        metrics = NodeMetrics()
        metrics.oracle = service
        cache = service.cache
        cache.provider_succeeded("kraken", 1_711_356_400.0)
        cache.provider_failed("coingecko")
        cache.provider_failed("coingecko")
        got = _samples(generate_latest(metrics.registry).decode())
        assert got[("taskmaster_pricefeed_provider_errors_total", (("provider", "coingecko"),))] == 2
        assert got[("taskmaster_pricefeed_provider_errors_total", (("provider", "kraken"),))] == 0
        assert (
            got[("taskmaster_pricefeed_provider_last_success_timestamp_seconds", (("provider", "kraken"),))]
            == 1_711_356_400.0
        )
        assert (
            "taskmaster_pricefeed_provider_last_success_timestamp_seconds",
            (("provider", "coingecko"),),
        ) not in got
        assert got[("taskmaster_pricefeed_provider_up", (("provider", "kraken"),))] == 1
        assert got[("taskmaster_pricefeed_provider_up", (("provider", "coingecko"),))] == 0
        labels = {
            dict(lbl).get("provider") for name, lbl in got if name.startswith("taskmaster_pricefeed_provider")
        }
        assert labels == {"coingecko", "kraken"}  # only the fixed provider names, never a URL or a pair
    finally:
        app.close()
