"""The tasks side of the chain as metrics: the fee pools and the tasks whose bond is running out.

A commit listener reads the version just committed, like ``oracle_liveness.py``: what it reports is
what every node's state says. Nothing here writes state or touches consensus.

* ``taskmaster_tasks_fee_pool_utask``: the tasks fee pool's balance (``module_address("tasks_fee_pool")``,
  the protocol fee of every execution), and ``taskmaster_fee_collector_utask``: the tx fee collector's.
* ``taskmaster_tasks_low_bond``: among the next :data:`MAX_SCANNED` due tasks (the due index from the
  next height on, in execution order), the active ones whose bond will not pay for the run after their
  next one: ``bond < 2 x cost`` while two or more executions are left. The task executes once more
  and then goes inactive for its bond unless its owner tops it up (``tx tasks bond``). The walk is
  bounded, so the work per commit is ``O(log n + MAX_SCANNED)`` however many tasks there are; beyond
  the first MAX_SCANNED due tasks it does not look (``taskmaster_tasks_low_bond_scanned`` says how
  many it read). A task already out of bond is inactive and off the due index: those show as the
  ``TaskInactiveDueToInsufficientBonds`` events of ``taskmaster_block_events_total``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from itertools import islice

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from abci_app.app import Application
from abci_app.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.tasks import keeper as tasks
from abci_app.modules.tasks.keys import DUE, STORE
from abci_app.tx.ante import FEE_COLLECTOR

MAX_SCANNED = 500  # due tasks read per commit for taskmaster_tasks_low_bond


def low_bond(ctx: Context, height: int, limit: int = MAX_SCANNED) -> tuple[int, int]:
    """(tasks with a low bond, due entries read) among the first ``limit`` due after ``height``."""
    found = scanned = 0
    for entry in islice(DUE.in_range(ctx.store(STORE), height + 1, 2**63 - 1), limit):
        scanned += 1
        info = tasks.get_task(ctx, entry.id)
        if info is None or info.status != tasks.ACTIVE or info.executions_left < 2:
            continue
        if tasks.bond_of(info) < 2 * tasks.info_cost(info):
            found += 1
    return found, scanned


class TasksMetrics(Collector):
    """Follows the committed state; a Prometheus collector of the fee pools and of low bonds."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self._lock = threading.Lock()  # commits on the event loop, scrapes on the metrics thread
        self.values: dict[str, float] = {}
        app.commit_listeners.append(self.on_commit)

    def on_commit(self, height: int, app_hash: bytes) -> None:
        """Commit listener: read the balances and the low bonds of the version just committed."""
        ctx = self.app._context(self.app.store.branch(height), height)
        low, scanned = low_bond(ctx, height)
        values = {
            "fee_pool": float(bank.balance(ctx, tasks.FEE_POOL, tasks.DENOM)),
            "fee_collector": float(bank.balance(ctx, FEE_COLLECTOR, bank.NATIVE_DENOM)),
            "low": float(low),
            "scanned": float(scanned),
        }
        with self._lock:
            self.values = values

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges of the last commit (nothing before the first one)."""
        with self._lock:
            values = dict(self.values)
        if not values:
            return
        yield GaugeMetricFamily(
            "taskmaster_tasks_fee_pool_utask",
            "Balance of the tasks fee pool (protocol fees of task executions), utask",
            value=values["fee_pool"],
        )
        yield GaugeMetricFamily(
            "taskmaster_fee_collector_utask",
            "Balance of the tx fee collector, utask (native denom)",
            value=values["fee_collector"],
        )
        yield GaugeMetricFamily(
            "taskmaster_tasks_low_bond",
            f"Active tasks among the next {MAX_SCANNED} due whose bond will not pay the run after the next",
            value=values["low"],
        )
        yield GaugeMetricFamily(
            "taskmaster_tasks_low_bond_scanned",
            "Due tasks read for taskmaster_tasks_low_bond at the last commit",
            value=values["scanned"],
        )

    def register(self, registry: CollectorRegistry) -> TasksMetrics:
        """Add these gauges to a node's metrics registry; returns self."""
        registry.register(self)
        return self
