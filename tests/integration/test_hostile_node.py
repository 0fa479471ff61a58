"""A real CometBFT node with our application survives hostile txs and queries.

Each bad input goes through CometBFT's RPC as an attacker would send it and must get an error code
(never a halt): a tx whose gas limit is 2^63, a module query at height -1, a bond estimate with a
5,000-digit gas price, then a burst of garbage and mutated txs and random queries. Afterwards the node
must still produce blocks and commit an ordinary signed send.
"""

from __future__ import annotations

import base64
import json
import random
import urllib.request
from typing import Any

import pytest
from cosmos.tx.v1beta1 import tx_pb2
from taskmaster.bank.v1 import bank_pb2
from taskmaster.tasks.v1 import query_pb2 as tasks_query_pb2
from taskmaster.tasks.v1 import types_pb2 as tasks_types_pb2

from abci_app.client import RpcClient, RpcError
from abci_app.node.keyring import Key, Keyring
from abci_app.tx.codec import build_tx
from tests.fuzz.differential import CONTAINED_CRASH
from tests.fuzz.mutations import mutate_bytes
from tests.fuzz.world import QUERY_PATHS, task_data
from tests.integration.localnet_harness import SingleNode, height_of, wait_for, wait_for_height

pytestmark = pytest.mark.integration

BURST_TXS = 300
BURST_QUERIES = 100
DEADLINE = 90.0
BATCH = 10  # CometBFT's default rpc.max_request_batch_size


@pytest.fixture(scope="module")
def faucet(single_node: SingleNode) -> Key:
    return Keyring(single_node.keyring_home).get(single_node.faucet_key)


def _send(single_node: SingleNode, faucet: Key, amount: str = "1", **overrides: Any) -> bytes:
    client = single_node.client()
    account = client.account(faucet.address)
    assert account is not None
    msg = bank_pb2.MsgSend(
        from_address=faucet.address,
        to_address=faucet.address,
        amount=[bank_pb2.Coin(denom="utask", amount=amount)],
    )
    params: dict[str, Any] = {
        "chain_id": single_node.chain_id,
        "account_number": account.account_number,
        "sequence": account.sequence,
        "fee": 500,
        "gas_limit": 200_000,
    }
    params.update(overrides)
    return build_tx(faucet.signing_key, [msg], **params)


def _batch(rpc: str, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One JSON-RPC batch; CometBFT answers each call in order."""
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    request = urllib.request.Request(
        rpc, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answers = json.loads(response.read())
    assert isinstance(answers, list), f"CometBFT answered the batch with {str(answers)[:2000]}"
    return sorted(answers, key=lambda a: int(a["id"]))


def _node_alive(single_node: SingleNode) -> bool:
    """The app process runs and none of its last-line guards caught an exception (a contained crash)."""
    log = single_node.cluster.net.log_file(0).read_text(errors="replace")
    found = CONTAINED_CRASH.search(log)
    assert found is None, log[found.start() :][:4000] if found else ""
    return single_node.cluster.app_running(0)


def test_a_gas_limit_of_two_to_the_63_is_an_error_code(single_node: SingleNode, faucet: Key) -> None:
    tx = tx_pb2.TxRaw.FromString(_send(single_node, faucet))
    auth_info = tx_pb2.AuthInfo.FromString(tx.auth_info_bytes)
    auth_info.fee.gas_limit = 2**63
    hostile = tx_pb2.TxRaw(
        body_bytes=tx.body_bytes,
        auth_info_bytes=auth_info.SerializeToString(deterministic=True),
        signatures=[bytes(64)],
    ).SerializeToString(deterministic=True)
    answer = single_node.client().broadcast(hostile, "sync")
    assert answer["code"] != 0 and answer["codespace"] in ("sdk", "tx")
    assert "gas_limit" in answer["log"]
    assert _node_alive(single_node)


def test_a_module_query_at_height_minus_one_is_an_error_code(single_node: SingleNode) -> None:
    request = tasks_query_pb2.QueryGetTasksInRangeRequest(start=1, end=100).SerializeToString()
    try:
        answer = single_node.client().abci_query(
            "/taskmaster.tasks.v1.Query/GetTasksInRange", request, height=-1
        )
    except RpcError as exc:  # CometBFT itself may refuse a negative height before the app sees it
        assert "height" in str(exc).lower()
    else:
        assert answer.code != 0 and answer.codespace == "query"
        assert "height" in answer.log
    assert _node_alive(single_node)


def test_a_bond_estimate_with_a_5000_digit_gas_price_is_an_error_code(
    single_node: SingleNode, faucet: Key
) -> None:
    definition = tasks_types_pb2.TaskDefinition(
        task=tasks_types_pb2.Task(
            from_address=faucet.address,
            gas=50_000,
            target="/taskmaster.kv.v1.MsgPut",
            data=task_data(faucet.address),
            environment="basic",
        ),
        schedule=tasks_types_pb2.TaskSchedule(start_block=10**6, executions=1, active=True),
    )
    request = tasks_query_pb2.QueryEstimateRequiredBondRequest(definition=definition, gas_price="9" * 5000)
    answer = single_node.client().abci_query(
        "/taskmaster.tasks.v1.Query/EstimateRequiredBond", request.SerializeToString()
    )
    assert answer.code != 0 and answer.codespace == "query"
    assert "gas_price" in answer.log and len(answer.log) < 1000
    sane = tasks_query_pb2.QueryEstimateRequiredBondRequest(definition=definition)
    ok = single_node.client().abci_query(
        "/taskmaster.tasks.v1.Query/EstimateRequiredBond", sane.SerializeToString()
    )
    assert ok.code == 0, ok.log
    assert _node_alive(single_node)


def _garbage_txs(rnd: random.Random, valid: bytes) -> list[bytes]:
    txs: list[bytes] = []
    while len(txs) < BURST_TXS:
        roll = rnd.random()
        if roll < 0.6:
            tx = mutate_bytes(rnd, valid)
        elif roll < 0.9:
            tx = rnd.randbytes(rnd.randint(1, 300))
        else:
            tx = b"\x00taskmaster/oracle-injection/v1\x00" + rnd.randbytes(rnd.randint(0, 50))
        if tx and tx != valid:
            txs.append(tx)
    return txs


def _random_queries(rnd: random.Random, latest: int) -> list[tuple[str, dict[str, Any]]]:
    calls = []
    for _ in range(BURST_QUERIES):
        path = rnd.choice((*QUERY_PATHS, "/store/bank/key", "/store/nope/key", "/", "x" * 300))
        height = rnd.choice((0, latest, latest + 1000, 2**62))
        data = rnd.randbytes(rnd.randint(0, 40)).hex()
        calls.append(
            ("abci_query", {"path": path, "data": data, "height": str(height), "prove": rnd.random() < 0.3})
        )
    return calls


def test_a_burst_of_garbage_txs_and_random_queries_leaves_the_node_producing_blocks(
    single_node: SingleNode, faucet: Key
) -> None:
    rnd = random.Random(2024)
    client = single_node.client()
    start = client.height()
    valid = _send(single_node, faucet)
    garbage = _garbage_txs(rnd, valid)
    rejected = 0
    for i in range(0, len(garbage), BATCH):
        calls = [
            ("broadcast_tx_sync", {"tx": base64.b64encode(tx).decode()}) for tx in garbage[i : i + BATCH]
        ]
        for answer in _batch(single_node.rpc, calls):
            # CometBFT may refuse a tx before the app (a duplicate in its cache, a tx over the size limit)
            assert "error" in answer or answer["result"]["code"] != 0, answer
            rejected += 1
    assert rejected == len(garbage)
    queries = _random_queries(rnd, start)
    for i in range(0, len(queries), BATCH):
        for answer in _batch(single_node.rpc, queries[i : i + BATCH]):
            assert "result" in answer or "error" in answer, answer  # an answer, whatever it says
    assert _node_alive(single_node), single_node.cluster.logs([0])

    wait_for_height(single_node.rpc, start + 3, timeout=DEADLINE)
    result = RpcClient(single_node.rpc, timeout=DEADLINE).broadcast(_send(single_node, faucet, "7"), "commit")
    assert result["check_tx"]["code"] == 0, result
    assert result["tx_result"]["code"] == 0, result
    committed_at = int(result["height"])
    wait_for(lambda: height_of(single_node.rpc) > committed_at, DEADLINE, "a block after the send")
    assert _node_alive(single_node)
