"""The fee pools and the tasks whose bond is running out, as metrics of the committed state."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from abci_app.modules.bank import keeper as bank
from abci_app.modules.tasks import keeper
from abci_app.node.tasks_metrics import TasksMetrics, low_bond
from abci_app.tx.ante import FEE_COLLECTOR
from tests.unit.tasks.task_chain import TaskChain, definition, put, schedule_msg, start, task_hash_of

SMALL_COST = 100_000  # small tier cap x gas price 1


def _scrape(registry: CollectorRegistry) -> dict[str, float]:
    return {
        s.name: s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }


def _schedule(tc: TaskChain, start_at: int, interval: int, executions: int) -> str:
    owner = tc.addr("user0")
    d = definition(
        owner, put(owner, b"k", b"v"), tc.nonce("user0"), start_at, interval=interval, executions=executions
    )
    result = tc.run("user0", schedule_msg(d))
    assert result.code == 0, result.log
    return task_hash_of(result)


def test_fee_pools_and_low_bonds_follow_the_committed_state(tmp_path: Path) -> None:
    tc = start(str(tmp_path / "db"))
    registry = CollectorRegistry()
    TasksMetrics(tc.app).register(registry)
    assert _scrape(registry) == {}  # nothing before the first commit
    funded = _schedule(tc, 5, 2, 3)  # bond for its 3 runs: never low
    doomed = _schedule(tc, 6, 2, 3)
    ctx = tc.ctx()  # a branch of the committed state, to shape a record as a drained bond leaves it
    got = _scrape(registry)
    assert got["taskmaster_tasks_low_bond"] == 0 and got["taskmaster_tasks_low_bond_scanned"] == 2
    info = keeper.get_task(ctx, bytes.fromhex(doomed))
    assert info is not None
    assert low_bond(ctx, tc.height) == (0, 2)
    keeper.set_bond(ctx, info, SMALL_COST)  # pays the next run, not the one after (3 are left)
    keeper.put_task(ctx, info)
    assert low_bond(ctx, tc.height) == (1, 2)
    assert low_bond(ctx, tc.height, limit=1) == (0, 1)  # bounded: only the first due task is read
    tc.advance_to(5)
    got = _scrape(registry)
    assert got["taskmaster_tasks_fee_pool_utask"] == bank.balance(tc.ctx(), keeper.FEE_POOL, keeper.DENOM)
    assert got["taskmaster_tasks_fee_pool_utask"] == SMALL_COST // 10  # one run of `funded`
    assert got["taskmaster_fee_collector_utask"] == bank.balance(tc.ctx(), FEE_COLLECTOR, bank.NATIVE_DENOM)
    assert funded
