"""NodeMetrics: what the ABCI server reports becomes Prometheus samples; a bad report never raises."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.node.metrics import NodeMetrics
from abci_app.node.oracle_service import OracleService
from abci_app.pricefeed.config import FeedConfig

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _scrape(metrics: NodeMetrics) -> Samples:
    return _samples(generate_latest(metrics.registry).decode())


def _event(kind: str, **attrs: str) -> abci.Event:
    return abci.Event(type=kind, attributes=[abci.EventAttribute(key=k, value=v) for k, v in attrs.items()])


def test_finalize_block_results_events_and_tasks_are_counted() -> None:
    metrics = NodeMetrics()
    request = abci.Request(finalize_block=abci.RequestFinalizeBlock(height=7))
    response = abci.Response(
        finalize_block=abci.ResponseFinalizeBlock(
            tx_results=[
                abci.ExecTxResult(code=0, events=[_event("transfer")]),
                abci.ExecTxResult(code=5),
                abci.ExecTxResult(code=0, events=[_event("transfer")]),
            ],
            events=[_event("TasksExecuted", executed="4", failed="1"), _event("TaskExecuted")],
        )
    )
    metrics.observe("finalize_block", request, response, 0.02)
    metrics.observe(
        "commit", abci.Request(commit=abci.RequestCommit()), abci.Response(commit=abci.ResponseCommit()), 0.01
    )
    got = _scrape(metrics)
    assert got[("taskmaster_block_height", ())] == 7
    assert got[("taskmaster_committed_height", ())] == 7
    assert got[("taskmaster_block_txs_total", (("result", "ok"),))] == 2
    assert got[("taskmaster_block_txs_total", (("result", "failed"),))] == 1
    assert got[("taskmaster_block_events_total", (("type", "transfer"),))] == 2
    assert got[("taskmaster_tasks_executed_total", (("outcome", "success"),))] == 3
    assert got[("taskmaster_tasks_executed_total", (("outcome", "failure"),))] == 1
    assert got[("taskmaster_block_tasks", (("outcome", "success"),))] == 3
    assert got[("taskmaster_block_tasks", (("outcome", "failure"),))] == 1
    assert got[("taskmaster_abci_request_seconds_count", (("method", "finalize_block"),))] == 1
    # a block without task executions sets the last block's gauges to 0; the counters stay
    empty = abci.Request(finalize_block=abci.RequestFinalizeBlock(height=8))
    metrics.observe("finalize_block", empty, abci.Response(finalize_block=abci.ResponseFinalizeBlock()), 0.01)
    got = _scrape(metrics)
    assert got[("taskmaster_block_tasks", (("outcome", "success"),))] == 0
    assert got[("taskmaster_block_tasks", (("outcome", "failure"),))] == 0
    assert got[("taskmaster_tasks_executed_total", (("outcome", "success"),))] == 3


def test_check_tx_proposals_and_exceptions() -> None:
    metrics = NodeMetrics()
    for kind, code in [(abci.NEW, 0), (abci.NEW, 3), (abci.RECHECK, 0)]:
        metrics.observe(
            "check_tx",
            abci.Request(check_tx=abci.RequestCheckTx(type=kind)),
            abci.Response(check_tx=abci.ResponseCheckTx(code=code)),
            0.0001,
        )
    metrics.observe(
        "process_proposal",
        abci.Request(process_proposal=abci.RequestProcessProposal()),
        abci.Response(
            process_proposal=abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
        ),
        0.001,
    )
    metrics.observe(
        "query",
        abci.Request(query=abci.RequestQuery()),
        abci.Response(exception=abci.ResponseException(error="boom")),
        0.001,
    )
    got = _scrape(metrics)
    assert got[("taskmaster_check_txs_total", (("result", "ok"), ("type", "new")))] == 1
    assert got[("taskmaster_check_txs_total", (("result", "rejected"), ("type", "new")))] == 1
    assert got[("taskmaster_check_txs_total", (("result", "ok"), ("type", "recheck")))] == 1
    assert got[("taskmaster_process_proposal_total", (("status", "reject"),))] == 1
    assert got[("taskmaster_abci_exceptions_total", (("method", "query"),))] == 1


def test_a_malformed_report_is_logged_not_raised() -> None:
    metrics = NodeMetrics()
    bad = abci.Response(
        finalize_block=abci.ResponseFinalizeBlock(events=[_event("TasksExecuted", executed="many")])
    )
    metrics.observe(
        "finalize_block", abci.Request(finalize_block=abci.RequestFinalizeBlock(height=1)), bad, 0.1
    )
    assert _scrape(metrics)[("taskmaster_block_height", ())] == 1


def test_price_feed_counters_and_quote_ages_are_exported(tmp_path: Path) -> None:
    app = Application(AppConfig(db_path=str(tmp_path / "db")))
    try:
        service = OracleService(app, FeedConfig(base_url="http://127.0.0.1:9/api/v3", api_key="k"))
        metrics = NodeMetrics()
        assert not any(name.startswith("taskmaster_pricefeed") for name, _ in _scrape(metrics))
        metrics.oracle = service
        service.cache.count("requests", 3)
        service.cache.count("rate_limited")
        service.cache.update("bitcoin/usd", 10**18, updated_at=1)
        got = _scrape(metrics)
        assert got[("taskmaster_pricefeed_requests_total", ())] == 3
        assert got[("taskmaster_pricefeed_rate_limited_total", ())] == 1
        assert got[("taskmaster_pricefeed_fetching", ())] == 0
        assert got[("taskmaster_pricefeed_quote_age_seconds", (("pair", "bitcoin/usd"),))] > 1e9
    finally:
        app.close()


def test_serves_metrics_over_http_and_stops() -> None:
    metrics = NodeMetrics()
    metrics.observe(
        "finalize_block",
        abci.Request(finalize_block=abci.RequestFinalizeBlock(height=3)),
        abci.Response(finalize_block=abci.ResponseFinalizeBlock()),
        0.01,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = metrics.serve(f"127.0.0.1:{port}")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert _samples(resp.read().decode())[("taskmaster_block_height", ())] == 3
    finally:
        stop()
