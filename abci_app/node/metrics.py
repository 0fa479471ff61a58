"""Prometheus metrics of a running node's application, served on a node-local loopback address.

Nothing here is consensus-critical: the ABCI server reports each answered request (method, request,
response, seconds spent in the application) to :meth:`NodeMetrics.observe`, and the price feed's counters
are read at scrape time. Every metric lives in the node's own registry, so several nodes in one process
(tests) never share one. See ``docs/metrics.md`` for the list.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from tendermint.abci import types_pb2 as abci

from abci_app.pricefeed.cache import COUNTER_NAMES
from abci_app.pricefeed.config import PROVIDERS

if TYPE_CHECKING:
    from abci_app.node.oracle_service import OracleService

log = logging.getLogger("abci_app.metrics")

# ABCI calls take from microseconds (CheckTx) to about a second (a block of 10,000 due tasks)
_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _PriceFeedCollector(Collector):
    """The price feed's counters, state and quote ages, read from the oracle service at scrape time."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        service = self._metrics.oracle
        if service is None:
            return
        counters = dict(service.cache.counters)
        for name in COUNTER_NAMES:
            yield CounterMetricFamily(
                f"taskmaster_pricefeed_{name}", f"Price feed: {name.replace('_', ' ')}", value=counters[name]
            )
        fetcher = service.fetcher
        yield GaugeMetricFamily(
            "taskmaster_pricefeed_fetching",
            "1 while this node's validator is active and its fetcher runs",
            value=1 if fetcher is not None else 0,
        )
        yield GaugeMetricFamily(
            "taskmaster_pricefeed_consecutive_failures",
            "Failed polls since the last good one",
            value=fetcher.consecutive_failures if fetcher is not None else 0,
        )
        ages = GaugeMetricFamily(
            "taskmaster_pricefeed_quote_age_seconds",
            "Seconds since the source's last_updated_at of the cached quote, per pair",
            labels=["pair"],
        )
        now = time.time()
        for pair, quote in service.cache.snapshot().items():
            ages.add_metric([pair], max(0.0, now - quote.updated_at))
        yield ages
        yield from _provider_metrics(service)


def _provider_metrics(service: OracleService) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
    """Per provider (label values: the fixed names of PROVIDERS, so the set stays bounded)."""
    cache, fetcher = service.cache, service.fetcher
    polled = {p.name for p in fetcher.pollers} if fetcher is not None else set()
    names = [n for n in PROVIDERS if n in polled or n in cache.provider_errors]
    failing = cache.failing()
    errors = CounterMetricFamily(
        "taskmaster_pricefeed_provider_errors", "Failed polls of each price provider", labels=["provider"]
    )
    success = GaugeMetricFamily(
        "taskmaster_pricefeed_provider_last_success_timestamp_seconds",
        "Unix time of each provider's last poll that gave a usable quote",
        labels=["provider"],
    )
    up = GaugeMetricFamily(
        "taskmaster_pricefeed_provider_up",
        "1 while the provider's latest poll gave a usable quote (0: failing, left out of the median)",
        labels=["provider"],
    )
    for name in names:
        errors.add_metric([name], cache.provider_errors.get(name, 0))
        if name in cache.provider_last_success:
            success.add_metric([name], cache.provider_last_success[name])
        up.add_metric([name], 0 if name in failing or name not in cache.provider_last_success else 1)
    yield errors
    yield success
    yield up


class NodeMetrics:
    """The metrics of one node; ``observe`` is the ABCI server's hook."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.oracle: OracleService | None = None
        self._finalized_height = 0
        r = self.registry
        self.request_seconds = Histogram(
            "taskmaster_abci_request_seconds",
            "Time the application spent answering an ABCI request, by method",
            ["method"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.exceptions = Counter(
            "taskmaster_abci_exceptions",
            "ABCI requests answered with an exception, by method",
            ["method"],
            registry=r,
        )
        self.height = Gauge("taskmaster_block_height", "Height of the last block finalized", registry=r)
        self.committed_height = Gauge("taskmaster_committed_height", "Height of the last commit", registry=r)
        self.block_txs = Counter(
            "taskmaster_block_txs",
            "Txs executed in FinalizeBlock, by result (ok / failed)",
            ["result"],
            registry=r,
        )
        self.check_txs = Counter(
            "taskmaster_check_txs",
            "CheckTx answers, by type (new / recheck) and result (ok / rejected)",
            ["type", "result"],
            registry=r,
        )
        self.events = Counter(
            "taskmaster_block_events",
            "Events emitted in FinalizeBlock (block and tx level), by type",
            ["type"],
            registry=r,
        )
        self.tasks = Counter(
            "taskmaster_tasks_executed",
            "Scheduled task executions in FinalizeBlock, by outcome (success / failure)",
            ["outcome"],
            registry=r,
        )
        self.block_tasks = Gauge(
            "taskmaster_block_tasks",
            "Scheduled task executions in the last block finalized, by outcome (success / failure)",
            ["outcome"],
            registry=r,
        )
        self.proposals = Counter(
            "taskmaster_process_proposal",
            "ProcessProposal verdicts (accept / reject)",
            ["status"],
            registry=r,
        )
        r.register(_PriceFeedCollector(self))

    def observe(self, method: str, request: abci.Request, response: abci.Response, seconds: float) -> None:
        """Record one answered ABCI request (never raises)."""
        try:
            self._observe(method, request, response, seconds)
        except Exception:  # metrics must never take the node down
            log.exception("recording metrics for %s failed", method)

    def _observe(self, method: str, request: abci.Request, response: abci.Response, seconds: float) -> None:
        self.request_seconds.labels(method).observe(seconds)
        if response.WhichOneof("value") == "exception":
            self.exceptions.labels(method).inc()
            return
        if method == "check_tx":
            kind = "recheck" if request.check_tx.type == abci.RECHECK else "new"
            self.check_txs.labels(kind, "ok" if response.check_tx.code == 0 else "rejected").inc()
        elif method == "finalize_block":
            self._finalized(request.finalize_block, response.finalize_block)
        elif method == "commit":
            self.committed_height.set(self._finalized_height)
        elif method == "process_proposal":
            accepted = response.process_proposal.status == abci.ResponseProcessProposal.ACCEPT
            self.proposals.labels("accept" if accepted else "reject").inc()

    def _finalized(self, request: abci.RequestFinalizeBlock, response: abci.ResponseFinalizeBlock) -> None:
        self._finalized_height = request.height
        self.height.set(request.height)
        ok = sum(1 for r in response.tx_results if r.code == 0)
        if ok:
            self.block_txs.labels("ok").inc(ok)
        if len(response.tx_results) > ok:
            self.block_txs.labels("failed").inc(len(response.tx_results) - ok)
        counts: dict[str, int] = {}
        block_tasks = {"success": 0, "failure": 0}
        for event in response.events:
            counts[event.type] = counts.get(event.type, 0) + 1
            if event.type == "TasksExecuted":
                attrs = {a.key: a.value for a in event.attributes}
                executed, failed = int(attrs.get("executed", "0")), int(attrs.get("failed", "0"))
                if executed - failed > 0:
                    self.tasks.labels("success").inc(executed - failed)
                if failed:
                    self.tasks.labels("failure").inc(failed)
                block_tasks["success"] += max(0, executed - failed)
                block_tasks["failure"] += failed
        for outcome, n in block_tasks.items():
            self.block_tasks.labels(outcome).set(n)
        for result in response.tx_results:
            for event in result.events:
                counts[event.type] = counts.get(event.type, 0) + 1
        for kind, n in counts.items():
            self.events.labels(kind).inc(n)

    def serve(self, address: str) -> Callable[[], None]:
        """Serve ``/metrics`` on ``host:port`` in a background thread; returns the function that stops it."""
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"metrics_address {address!r} must be host:port, e.g. 127.0.0.1:26670")
        server: WSGIServer
        thread: threading.Thread
        server, thread = start_http_server(int(port), addr=host, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop
