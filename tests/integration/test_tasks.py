"""The task manager on a real four-validator localnet, driven through the ``taskmaster`` CLI.

The shared genesis gets small task params (min_interval 2), so the
recurring, retrying and bond scenarios finish in a few dozen blocks. All scenarios are scheduled up
front and checked as their heights pass; every check that reads state reads it from all four nodes.

Nothing depends on how many blocks a command takes (a busy machine may need many): each start block is
chosen by the CLI from the height it reads just before its own tx (``--start-in``), a tx that lands too
late for it is sent again with a wider margin, and every expected height is computed from the start
block the chain actually recorded (the ``next_block`` of the tx's event).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.localnet_harness import Cluster, run_cli, wait_for_height

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

NODES = 4
TASK_PARAMS = {
    "minInterval": "2",
    "maxBlockTaskGas": "20000000",
    "blockTaskGasReserve": "1000000",
    "gasPrice": "1",
    "protocolFeeBps": "1000",
}
COST = 100_000  # small tier cap x gas price
TX = ["--gas", "600000", "--fee", "3000"]
MARGIN = 6  # blocks from the height the CLI reads to the start block: signing, broadcast, inclusion
START_NOT_IN_FUTURE = 3
FAR = "1000"  # a start no scenario reaches


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster.create(
        tmp_path_factory.mktemp("tasks-localnet"),
        NODES,
        timeout_commit="400ms",
        app_state={"tasks": {"params": TASK_PARAMS}},
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def cli(net: Cluster, *args: str, node: int = 0, check: bool = True) -> dict[str, Any]:
    result = run_cli(*args, node=net.rpc(node), home=net.keyring_home, check=check)
    out: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    out["_rc"] = result.returncode
    return out


def tx_code(out: dict[str, Any]) -> int:
    """The tx's code: CheckTx's, the block's, or the re-check's of a tx the mempool dropped."""
    return (
        int(out.get("check_tx", {}).get("code", 0))
        or int(out.get("tx_result", {}).get("code", 0))
        or int(out.get("evicted", {}).get("code", 0))
    )


def event_attr(out: dict[str, Any], kind: str, key: str) -> str:
    for event in out["tx_result"]["events"]:
        if event["type"] == kind:
            return str(next(a["value"] for a in event["attributes"] if a["key"] == key))
    raise AssertionError(f"no {kind} event in {out}")


def with_start(net: Cluster, *args: str) -> dict[str, Any]:
    """Run a tx command whose start block is ``--start-in`` blocks after the height the CLI reads.

    On a busy machine the tx may land after that block (START_NOT_IN_FUTURE, at CheckTx, in the
    block or when the mempool re-checks it); it is then sent again with twice the margin.
    """
    margin = MARGIN
    for _ in range(4):
        out = cli(net, *args, "--start-in", str(margin), *TX, check=False)
        if tx_code(out) != START_NOT_IN_FUTURE:
            assert out["_rc"] == 0 and tx_code(out) == 0, out
            return out
        margin *= 2
    raise AssertionError(f"{args} kept landing after its start block, last margin {margin // 2}: {out}")


def executed_heights(net: Cluster, hash_: str, node: int) -> list[int]:
    result = net.client(node).call(
        "block_search", {"query": f"TaskExecuted.task_id='{hash_}'", "per_page": "100", "order_by": "asc"}
    )
    return sorted(int(b["block"]["header"]["height"]) for b in result["blocks"])


def info_everywhere(net: Cluster, hash_: str, at: int = 0) -> dict[str, Any]:
    """GetTaskInfo from every node, equal on all; at height ``at`` (0: each node's latest).

    Pass ``at`` whenever the task may still change: four CLI runs take several blocks on a busy
    machine, so "latest" on the last node can be past a block the first node had not reached.
    """
    pinned = ["--height", str(at)] if at else []
    if at:
        net.wait_for_height(at, 120)
    infos = [cli(net, "query", "tasks", "info", hash_, *pinned, node=i) for i in range(NODES)]
    for i in infos:
        i.pop("_rc")
    assert all(i == infos[0] for i in infos), f"GetTaskInfo differs across nodes: {infos}"
    return infos[0]["info"]  # type: ignore[no-any-return]


def height(net: Cluster) -> int:
    return int(net.client(0).status()["sync_info"]["latest_block_height"])


@pytest.fixture(scope="module")
def accounts(net: Cluster) -> dict[str, str]:
    names = {}
    for name in ("alice", "bob", "carol"):
        names[name] = cli(net, "keys", "add", name)["address"]
        assert tx_code(cli(net, "tx", "bank", "send", "faucet", names[name], "50000000utask", *TX)) == 0
    return names


def schedule(net: Cluster, owner: str, *flags: str) -> tuple[str, int]:
    """Schedule a task starting a margin after now; (task hash, the start block it got)."""
    out = with_start(net, "tx", "tasks", "schedule", owner, *flags)
    return event_attr(out, "TaskScheduled", "task_id"), int(event_attr(out, "TaskScheduled", "next_block"))


def update_start(net: Cluster, owner: str, hash_: str) -> tuple[int, int]:
    """Move a task's start to a margin after now (active); (the start block it got, the tx's height)."""
    out = with_start(net, "tx", "tasks", "update", owner, hash_, "--active", "true")
    return int(event_attr(out, "TaskConfigUpdated", "next_block")), int(out["height"])


def test_task_manager_scenarios_on_four_validators(net: Cluster, accounts: dict[str, str]) -> None:
    alice, bob = accounts["alice"], accounts["bob"]

    recurring, s_recurring = schedule(net, "alice", "--kv-put", "r=1", "--interval", "3", "--executions", "3")
    # 5,000 bytes of data: the small tier's cap cannot pay for them, the medium tier's can
    failing, s_failing = schedule(net, "alice", "--kv-put", "big=" + "x" * 5000, "--task-gas", "250000")
    # the retries need their bond before the first execution: bond a far task, then bring it near
    far = ["--start", FAR, *TX]
    out = cli(net, "tx", "tasks", "schedule", "bob", "--kv-delete", "absent", "--env", "rescheduling", *far)
    assert tx_code(out) == 0, out
    retrying = event_attr(out, "TaskScheduled", "task_id")
    assert tx_code(cli(net, "tx", "tasks", "bond", "bob", retrying, f"{3 * COST}utask", *TX)) == 0
    s_retrying, _ = update_start(net, "bob", retrying)
    starving, s_starving = schedule(net, "carol", "--kv-delete", "absent", "--env", "rescheduling")
    out = cli(net, "tx", "tasks", "schedule", "alice", "--kv-put", "e=1", "--env", "minimal", *far)
    assert tx_code(out) == 0, out
    env_task = event_attr(out, "TaskScheduled", "task_id")

    # unauthorized cancel is rejected with its code; an environment canceller may cancel
    out = cli(net, "tx", "tasks", "cancel", "carol", env_task, *TX, check=False)
    assert out["_rc"] == 1 and tx_code(out) == 12, out
    assert tx_code(cli(net, "tx", "tasks", "add-env-canceller", "alice", "minimal", bob, *TX)) == 0
    assert tx_code(cli(net, "tx", "tasks", "cancel", "bob", env_task, *TX)) == 0
    assert info_everywhere(net, env_task)["status"] == "TASK_STATUS_CANCELLED"

    last = max(s_recurring + 6, s_failing, s_retrying + 15, s_starving)
    wait_for_height(net.rpc(0), last + 1, 180)

    # the recurring task runs at exactly start, start+3, start+6 on every node
    for node in range(NODES):
        assert executed_heights(net, recurring, node) == [s_recurring, s_recurring + 3, s_recurring + 6]
    info = info_everywhere(net, recurring)
    assert info["status"] == "TASK_STATUS_COMPLETED" and info["metrics"]["success_count"] == "3"
    assert cli(net, "query", "kv", "get", alice, "r")["found"] is True

    # the failing task left no write
    failed = info_everywhere(net, failing)
    assert failed["metrics"]["failure_count"] == "1" and "invalid value" in failed["metrics"]["last_error"]
    assert cli(net, "query", "kv", "get", alice, "big").get("found", False) is False

    # the rescheduling environment retried 3 times, 5 blocks apart
    for node in range(NODES):
        assert executed_heights(net, retrying, node) == [s_retrying + 5 * i for i in range(4)]
    assert info_everywhere(net, retrying)["metrics"]["failure_count"] == "4"

    # carol's bond covered one execution: the retry found no bond and the task went inactive
    starved = info_everywhere(net, starving)
    assert starved["status"] == "TASK_STATUS_INACTIVE"
    found = net.client(0).call(
        "block_search", {"query": f"TaskInactiveDueToInsufficientBonds.task_id='{starving}'"}
    )
    assert int(found["total_count"]) == 1
    # top up and update: it resumes at the start block the update got
    assert tx_code(cli(net, "tx", "tasks", "bond", "carol", starving, f"{COST}utask", *TX)) == 0
    resume, updated_at = update_start(net, "carol", starving)
    assert resume > updated_at
    assert info_everywhere(net, starving, at=updated_at)["status"] == "TASK_STATUS_ACTIVE"
    wait_for_height(net.rpc(0), resume + 2, 60)
    for node in range(NODES):
        assert executed_heights(net, starving, node)[-1] == resume
    assert info_everywhere(net, starving)["metrics"]["failure_count"] == "2"
