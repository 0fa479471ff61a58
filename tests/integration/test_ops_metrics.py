"""The Grafana dashboard and the alert rules use only metrics a real node exports.

One validator started like ``single_node`` (tests/integration/conftest.py), with CometBFT's own
Prometheus endpoint turned on (``[instrumentation] prometheus = true``, ``prometheus_listen_addr`` in
its ``config.toml``, as docs/metrics.md tells operators to). Every metric name in
deploy/grafana/taskmaster.json and deploy/prometheus/alerts.yml must be exported by the app's
``/metrics`` or by CometBFT's once the chain runs, a task executed and an oracle round landed.
"""

from __future__ import annotations

import re
import socket
import urllib.request
from collections.abc import Iterator

import pytest

from abci_app.node.home import patch_toml
from tests.integration.localnet_harness import Cluster, wait_for
from tests.unit.test_ops_deploy import metric_names

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def _exported(url: str) -> set[str]:
    """Sample names and family names (``# TYPE`` lines) of one /metrics answer."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    names = {m.group(1) for m in re.finditer(r"^# TYPE (\S+) \S+$", text, re.M)}
    names |= {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M)}
    return names


def _known(name: str, exported: set[str]) -> bool:
    if name in exported:
        return True
    return any(name.endswith(s) and name[: -len(s)] in exported for s in SUFFIXES)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, str, str]]:
    root = tmp_path_factory.mktemp("ops")
    cluster = Cluster.create(root, 1, chain_id="taskmaster-ops", timeout_commit="300ms")
    comet_port = _free_port()
    config = cluster.home(0) / "config" / "config.toml"
    config.write_text(
        patch_toml(
            config.read_text(),
            {
                ("instrumentation", "prometheus"): "true",
                ("instrumentation", "prometheus_listen_addr"): f'"127.0.0.1:{comet_port}"',
            },
        )
    )
    try:
        cluster.start()
        app_metrics = f"http://127.0.0.1:{cluster.net.ports[0].metrics}/metrics"
        yield cluster, app_metrics, f"http://127.0.0.1:{comet_port}/metrics"
    finally:
        cluster.close()


def test_every_metric_of_the_dashboard_and_the_alerts_is_exported(node: tuple[Cluster, str, str]) -> None:
    cluster, app_url, comet_url = node
    wanted = metric_names()
    assert any(n.startswith("cometbft_") for n in wanted) and any(n.startswith("taskmaster_") for n in wanted)
    missing: list[str] = []

    def all_exported() -> bool:
        exported = _exported(app_url) | _exported(comet_url)
        missing[:] = sorted(n for n in wanted if not _known(n, exported))
        return not missing

    try:
        # the oracle gauges come with the first round that lands a price (the localnet's simulator)
        wait_for(all_exported, 120.0, "every metric of the dashboard and the alerts")
    except Exception:
        pytest.fail(f"not exported by the node: {missing}\n{cluster.logs([0])}")


def test_the_price_and_last_reported_round_follow_the_chain(node: tuple[Cluster, str, str]) -> None:
    _, app_url, _ = node
    with urllib.request.urlopen(app_url, timeout=10) as response:
        text = response.read().decode()
    prices = dict(re.findall(r'^taskmaster_oracle_price\{pair="([^"]+)"\} (\S+)$', text, re.M))
    assert prices and all(float(v) > 0 for v in prices.values()), text[:2000]
    reported = re.search(r"^taskmaster_oracle_last_reported_height (\S+)$", text, re.M)
    assert reported is not None and float(reported.group(1)) > 0
