"""The task manager on a real four-validator localnet, driven through the ``taskmaster`` CLI.

The shared genesis gets small task params (min_interval 2), so the
recurring, retrying and bond scenarios finish in a few dozen blocks. All scenarios are scheduled up
front and checked as their heights pass; every check that reads state reads it from all four nodes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.localnet_harness import Cluster, run_cli, wait_for_height

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

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
    return int(out.get("check_tx", {}).get("code", 0)) or int(out.get("tx_result", {}).get("code", 0))


def task_hash(out: dict[str, Any]) -> str:
    for event in out["tx_result"]["events"]:
        if event["type"] == "TaskScheduled":
            return str(next(a["value"] for a in event["attributes"] if a["key"] == "task_id"))
    raise AssertionError(f"no TaskScheduled event in {out}")


def executed_heights(net: Cluster, hash_: str, node: int) -> list[int]:
    result = net.client(node).call(
        "block_search", {"query": f"TaskExecuted.task_id='{hash_}'", "per_page": "100", "order_by": "asc"}
    )
    return sorted(int(b["block"]["header"]["height"]) for b in result["blocks"])


def info_everywhere(net: Cluster, hash_: str) -> dict[str, Any]:
    infos = [cli(net, "query", "tasks", "info", hash_, node=i) for i in range(NODES)]
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


def schedule(net: Cluster, owner: str, *flags: str) -> str:
    out = cli(net, "tx", "tasks", "schedule", owner, *flags, *TX)
    assert tx_code(out) == 0, out
    return task_hash(out)


def test_task_manager_scenarios_on_four_validators(net: Cluster, accounts: dict[str, str]) -> None:
    alice, bob = accounts["alice"], accounts["bob"]
    now = height(net)
    start = now + 10

    recurring = schedule(
        net, "alice", "--kv-put", "r=1", "--start", str(start), "--interval", "3", "--executions", "3"
    )
    failing = schedule(net, "alice", "--kv-put", "big=" + "x" * 5000, "--start", str(start))
    retrying = schedule(net, "bob", "--kv-delete", "absent", "--env", "rescheduling", "--start", str(start))
    assert tx_code(cli(net, "tx", "tasks", "bond", "bob", retrying, f"{3 * COST}utask", *TX)) == 0
    starving = schedule(net, "carol", "--kv-delete", "absent", "--env", "rescheduling", "--start", str(start))
    env_task = schedule(net, "alice", "--kv-put", "e=1", "--env", "minimal", "--start", str(start + 100))

    # unauthorized cancel is rejected with its code; an environment canceller may cancel
    out = cli(net, "tx", "tasks", "cancel", "carol", env_task, *TX, check=False)
    assert out["_rc"] == 1 and tx_code(out) == 12, out
    assert tx_code(cli(net, "tx", "tasks", "add-env-canceller", "alice", "minimal", bob, *TX)) == 0
    assert tx_code(cli(net, "tx", "tasks", "cancel", "bob", env_task, *TX)) == 0
    assert info_everywhere(net, env_task)["status"] == "TASK_STATUS_CANCELLED"

    # the recurring task runs at exactly start, start+3, start+6 on every node
    wait_for_height(net.rpc(0), start + 16, 60)
    for node in range(NODES):
        assert executed_heights(net, recurring, node) == [start, start + 3, start + 6]
    info = info_everywhere(net, recurring)
    assert info["status"] == "TASK_STATUS_COMPLETED" and info["metrics"]["success_count"] == "3"
    assert cli(net, "query", "kv", "get", alice, "r")["found"] is True

    # the failing task left no write
    failed = info_everywhere(net, failing)
    assert failed["metrics"]["failure_count"] == "1" and "invalid value" in failed["metrics"]["last_error"]
    assert cli(net, "query", "kv", "get", alice, "big").get("found", False) is False

    # the rescheduling environment retried 3 times, 5 blocks apart
    for node in range(NODES):
        assert executed_heights(net, retrying, node) == [start, start + 5, start + 10, start + 15]
    assert info_everywhere(net, retrying)["metrics"]["failure_count"] == "4"

    # carol's bond covered one execution: the retry found no bond and the task went inactive
    starved = info_everywhere(net, starving)
    assert starved["status"] == "TASK_STATUS_INACTIVE"
    found = net.client(0).call(
        "block_search", {"query": f"TaskInactiveDueToInsufficientBonds.task_id='{starving}'"}
    )
    assert int(found["total_count"]) == 1
    # top up and update: it resumes
    assert tx_code(cli(net, "tx", "tasks", "bond", "carol", starving, f"{COST}utask", *TX)) == 0
    resume = height(net) + 4
    assert tx_code(cli(net, "tx", "tasks", "update", "carol", starving, "--start", str(resume), *TX)) == 0
    assert info_everywhere(net, starving)["status"] == "TASK_STATUS_ACTIVE"
    wait_for_height(net.rpc(0), resume + 2, 30)
    for node in range(NODES):
        assert executed_heights(net, starving, node)[-1] == resume
    assert info_everywhere(net, starving)["metrics"]["failure_count"] == "2"
