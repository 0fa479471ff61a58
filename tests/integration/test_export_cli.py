"""``taskmaster export`` of a real node that ran a wasm task and holds a price-triggered one.

Until issue 20 a hand-kept JSON Schema refused every such export ("environment: 'wasm:...' is not one
of [...]", "'trigger' was unexpected"). Here the CLI exports the stopped node, the export validates
(``load_genesis``, then ``taskmaster validate-genesis``: InitChain on a scratch store), and the same
home restarted on it goes on: the wasm task keeps running, the trigger stays armed. ``start`` refuses a
genesis whose app_state is not the protos' shape, naming the field.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from taskmaster.tasks.v1 import query_pb2

from abci_app.node.genesis import load_genesis
from abci_app.node.home import cometbft_binary
from devtools import localnet
from tests.integration.localnet_harness import Cluster, run_cli, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "wasm"
TX = ["--gas", "2000000", "--fee", "10000"]
APP_STATE = {
    "oracle": {"params": {"intervalBlocks": "1", "startHeight": "2", "historySize": "20"}},
    "tasks": {
        "params": {"minInterval": "2", "maxBlockTaskGas": "20000000", "blockTaskGasReserve": "1000000"}
    },
}


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster.create(
        tmp_path_factory.mktemp("export-cli"),
        1,
        chain_id="export-1",
        timeout_commit="300ms",
        app_state=APP_STATE,
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def cli(net: Cluster, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(run_cli(*args, node=net.rpc(0), home=net.keyring_home).stdout)
    return out


def tx_code(out: dict[str, Any]) -> int:
    return int(out.get("check_tx", {}).get("code", 0)) or int(out.get("tx_result", {}).get("code", 0))


def faucet_tasks(net: Cluster) -> set[str]:
    address = cli(net, "keys", "show", "faucet")["address"]
    return set(cli(net, "query", "tasks", "account", address).get("task_hashes", []))


def schedule(net: Cluster, *flags: str) -> str:
    before = faucet_tasks(net)
    out = cli(net, "tx", "tasks", "schedule", "faucet", *flags, *TX)
    assert tx_code(out) == 0, out
    (task,) = faucet_tasks(net) - before
    return task


def task_info(net: Cluster, task_hash: str) -> query_pb2.QueryGetTaskInfoResponse:
    answer = net.client(0).abci_query(
        "/taskmaster.tasks.v1.Query/GetTaskInfo",
        query_pb2.QueryGetTaskInfoRequest(task_hash=task_hash).SerializeToString(),
        0,
    )
    assert answer.code == 0, answer.log
    return query_pb2.QueryGetTaskInfoResponse.FromString(answer.value)


def test_export_of_a_node_with_a_wasm_and_a_triggered_task_validates_and_restarts_the_chain(
    node: Cluster, tmp_path: Path
) -> None:
    out = cli(node, "tx", "wasm", "store", "faucet", str(EXAMPLES / "counter.wat"), *TX)
    assert tx_code(out) == 0, out
    code_id = out["code_id"]
    counter = schedule(node, "--wasm", code_id, "--interval", "2", "--executions", "500", "--start-in", "3")
    armed = schedule(node, "--wasm", code_id, "--trigger", "bitcoin/usd,below,1", "--start-in", "3")
    wait_for(lambda: task_info(node, counter).info.metrics.success_count >= 2, 90.0, "the wasm task to run")
    node.close()

    exported = tmp_path / "genesis.json"
    result = run_cli(
        "export", "--output-file", str(exported), node=node.rpc(0), home=node.home(0), check=False
    )
    assert result.returncode == 0, result.stderr  # refused before issue 20: the schema did not know wasm
    genesis = load_genesis(exported)
    tasks = {t["task_hash"]: t for t in genesis["app_state"]["tasks"]["tasks"]}
    assert tasks[counter]["definition"]["task"]["environment"] == f"wasm:{code_id}"
    assert tasks[armed]["definition"]["trigger"]["pair"] == "bitcoin/usd"
    ran = int(tasks[counter]["metrics"]["success_count"])
    checked = run_cli("validate-genesis", str(exported), node=node.rpc(0), home=node.home(0), check=False)
    assert checked.returncode == 0, checked.stderr

    home = node.home(0)
    subprocess.run(
        [cometbft_binary(), "unsafe-reset-all", "--home", str(home)], check=True, capture_output=True
    )
    shutil.rmtree(home / "data" / "app.db", ignore_errors=True)
    (home / "config" / "genesis.json").write_text(exported.read_text())
    node.start()
    first = int(genesis["initial_height"])
    assert min(node.heights()) >= first  # the new chain continues at the exported height + 1
    wait_for(
        lambda: task_info(node, counter).info.metrics.success_count > ran, 90.0, "the wasm task to run on"
    )
    info = task_info(node, armed).info
    assert info.definition.trigger.pair == "bitcoin/usd" and info.metrics.success_count == 0


def test_start_refuses_a_genesis_that_is_not_the_protos_shape_naming_the_field(tmp_path: Path) -> None:
    home = tmp_path / "node"
    subprocess.run(
        [*localnet.taskmaster_command(), "init", "--home", str(home), "--chain-id", "bad-1"],
        check=True,
        capture_output=True,
    )
    path = home / "config" / "genesis.json"
    genesis = json.loads(path.read_text())
    genesis["app_state"]["tasks"] = {"tasks": [{"definition": {"trigger": {"direction": "DOWN"}}}]}
    path.write_text(json.dumps(genesis))
    out = subprocess.run(
        [*localnet.taskmaster_command(), "start", "--home", str(home), "--no-cometbft"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert (
        f"error: {path}: app_state.tasks.tasks[0].definition.trigger.direction: 'DOWN' is not a "
        "TriggerDirection; give one of TRIGGER_DIRECTION_UNSPECIFIED"
    ) in out.stderr
    assert "taskmaster validate-genesis --home" in out.stderr
