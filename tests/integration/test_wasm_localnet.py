"""Wasm tasks on a real four-validator localnet with the CoinGecko simulator, through the CLI.

The limit-order example is uploaded and scheduled with a price trigger; the simulator's prices are
moved below its threshold on every validator's feed; the order executes in the block whose oracle
round wrote the crossing price, on every node with the same app hash, and its send is in every node's
balances. An infinite-loop module runs out of fuel and the chain goes on.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from taskmaster.oracle.v1 import oracle_pb2
from taskmaster.tasks.v1 import query_pb2

from abci_app.tx.address import to_bech32
from tests.integration.localnet_harness import Cluster, block_app_hash, run_cli, wait_for, wait_for_height

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "wasm"
BTC = "bitcoin/usd"
PAIRS = ["bitcoin/usd", "ethereum/usd"]
ORACLE = {"intervalBlocks": "1", "startHeight": "2", "maxPriceAgeSeconds": "3", "historySize": "20"}
TASKS = {"minInterval": "2", "maxBlockTaskGas": "20000000", "blockTaskGasReserve": "1000000"}
TX = ["--gas", "2000000", "--fee", "10000"]
RECIPIENT = to_bech32(b"\x42" * 20)
AMOUNT = 1_234


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    app_state = {"oracle": {"params": ORACLE}, "tasks": {"params": TASKS}}
    cluster = Cluster.create(tmp_path_factory.mktemp("wasm-localnet"), 4, app_state=app_state)
    try:
        cluster.start()
        for i in range(4):
            set_btc(cluster, i, "67000")
        yield cluster
    finally:
        cluster.close()


def set_btc(net: Cluster, i: int, dollars: str) -> None:
    """What the simulator serves to validator ``i``: ``dollars`` for bitcoin, no drift."""
    settings = {"prices": {BTC: dollars}, "drift_per_s": {p: "0" for p in PAIRS}}
    request = urllib.request.Request(
        f"{net.sim_admin}/keys/sim-node{i}",
        data=json.dumps(settings).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def cli(net: Cluster, *args: str, node: int = 0) -> dict[str, Any]:
    result = run_cli(*args, node=net.rpc(node), home=net.keyring_home)
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def tx_code(out: dict[str, Any]) -> int:
    return int(out.get("check_tx", {}).get("code", 0)) or int(out.get("tx_result", {}).get("code", 0))


def store(net: Cluster, name: str) -> str:
    """Upload ``examples/wasm/<name>.wat`` with the CLI; returns its code id, checked on every node."""
    path = EXAMPLES / f"{name}.wat"
    assert tx_code(cli(net, "tx", "wasm", "store", "faucet", str(path), *TX)) == 0
    code_id = hashlib.sha256(wasmtime.wat2wasm(path.read_text())).hexdigest()
    for i in range(4):
        assert cli(net, "query", "wasm", "code", code_id, node=i)["info"]["code_id"] == code_id
    return code_id


def task_info(net: Cluster, i: int, task_hash: str, height: int = 0) -> query_pb2.QueryGetTaskInfoResponse:
    answer = net.client(i).abci_query(
        "/taskmaster.tasks.v1.Query/GetTaskInfo",
        query_pb2.QueryGetTaskInfoRequest(task_hash=task_hash).SerializeToString(),
        height,
    )
    assert answer.code == 0, answer.log
    return query_pb2.QueryGetTaskInfoResponse.FromString(answer.value)


def faucet_tasks(net: Cluster) -> set[str]:
    address = cli(net, "keys", "show", "faucet")["address"]
    return set(cli(net, "query", "tasks", "account", address).get("task_hashes", []))


def only_task(net: Cluster, before: set[str]) -> str:
    (new,) = faucet_tasks(net) - before
    return new


def btc_at(net: Cluster, i: int, height: int) -> oracle_pb2.PriceRecord:
    answer = net.client(i).abci_query(
        "/taskmaster.oracle.v1.Query/Price",
        oracle_pb2.QueryPriceRequest(pair=BTC).SerializeToString(),
        height,
    )
    assert answer.code == 0, answer.log
    return oracle_pb2.QueryPriceResponse.FromString(answer.value).price


def test_a_triggered_limit_order_fills_on_every_node_after_the_price_crosses(
    net: Cluster, tmp_path: Path
) -> None:
    code_id = store(net, "limit_order")
    data = tmp_path / "order.bin"
    pair = BTC.encode()
    data.write_bytes(
        (60_000 * 10**6).to_bytes(8, "little")
        + AMOUNT.to_bytes(8, "little")
        + len(pair).to_bytes(4, "little")
        + pair
        + RECIPIENT.encode()
    )
    before = faucet_tasks(net)
    out = cli(
        net, "tx", "tasks", "schedule", "faucet", "--wasm", code_id, "--data-file", str(data),
        "--allowance", "5000utask", "--trigger", "bitcoin/usd,below,60000", "--task-gas", "100000",
        "--start-in", "3", *TX,
    )  # fmt: skip
    assert tx_code(out) == 0, out
    task = only_task(net, before)
    wait_for_height(net.rpc(0), net.client(0).height() + 4)
    assert task_info(net, 0, task).info.metrics.success_count == 0  # 67,000 is not below 60,000
    for i in range(4):
        set_btc(net, i, "59000")
    wait_for(lambda: task_info(net, 0, task).info.metrics.success_count == 1, 90.0, "the order to fill")
    executed_at = task_info(net, 0, task).info.metrics.last_executed_block
    record = btc_at(net, 0, executed_at)
    assert record.height == executed_at and int(record.price) < 60_000 * 10**18  # written in that block
    assert int(btc_at(net, 0, executed_at - 1).price) >= 60_000 * 10**18  # the crossing
    for i in range(4):
        wait_for_height(net.rpc(i), executed_at + 1)
    hashes = {block_app_hash(net.rpc(i), executed_at + 1) for i in range(4)}
    assert len(hashes) == 1, hashes
    for i in range(4):
        balance = cli(net, "query", "bank", "balance", RECIPIENT, node=i)
        assert int(balance["balance"]["amount"]) == AMOUNT
        info = task_info(net, i, task, executed_at).info
        # its one execution done: COMPLETED, the 3,766 left of the allowance refunded with the bond
        assert info.status == 3 and info.allowance_remaining == "0" and info.metrics.success_count == 1
    for i in range(4):
        set_btc(net, i, "67000")


def test_an_infinite_loop_runs_out_of_fuel_and_the_chain_goes_on(net: Cluster) -> None:
    code_id = store(net, "infinite_loop")
    before = faucet_tasks(net)
    out = cli(
        net,
        "tx",
        "tasks",
        "schedule",
        "faucet",
        "--wasm",
        code_id,
        "--task-gas",
        "100000",
        "--start-in",
        "3",
        *TX,
    )
    assert tx_code(out) == 0, out
    task = only_task(net, before)
    wait_for(lambda: task_info(net, 0, task).info.metrics.failure_count == 1, 60.0, "the loop to run")
    info = task_info(net, 0, task).info
    assert info.metrics.last_error.startswith("out of fuel") and info.metrics.total_gas_used == 100_000
    ran_at = info.metrics.last_executed_block
    for i in range(4):
        wait_for_height(net.rpc(i), ran_at + 3)  # every node goes on
    assert len({block_app_hash(net.rpc(i), ran_at + 1) for i in range(4)}) == 1
