"""One real CometBFT node with our application: sends change balances; bad input is rejected.

Everything goes through CometBFT's RPC (``broadcast_tx_*``, ``abci_query``) and the ``taskmaster``
CLI, exactly as a user would.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from taskmaster.bank.v1 import bank_pb2

from abci_app.client import RpcClient
from abci_app.node.keyring import Key, Keyring
from abci_app.tx.codec import build_tx
from tests.integration.localnet_harness import SingleNode, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "abci_app.cli"]


@dataclass
class Node:
    home: Path
    rpc: str
    grpc: str
    client: RpcClient
    faucet: Key
    chain_id: str
    metrics: str


@pytest.fixture(scope="module")
def node(single_node: SingleNode) -> Node:
    """The shared single-validator node, with the faucet key loaded."""
    return Node(
        single_node.home,
        single_node.rpc,
        single_node.grpc,
        single_node.client(),
        Keyring(single_node.keyring_home).get(single_node.faucet_key),
        single_node.chain_id,
        f"http://127.0.0.1:{single_node.cluster.net.ports[0].metrics}/metrics",
    )


def _cli(node: Node, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [*CLI, *args, "--home", str(node.home), "--node", node.rpc, "--output", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    data: dict[str, object] = json.loads(out.stdout)
    return data


def _balance(node: Node, address: str) -> int:
    data = _cli(node, "query", "bank", "balance", address)
    balance = data["balance"]
    assert isinstance(balance, dict)
    return int(balance["amount"])


def _faucet_tx(node: Node, msg: bank_pb2.MsgSend, **overrides: object) -> bytes:
    account = node.client.account(node.faucet.address)
    assert account is not None
    params: dict[str, object] = {
        "chain_id": node.chain_id,
        "account_number": account.account_number,
        "sequence": account.sequence,
        "fee": 500,
        "gas_limit": 200_000,
    }
    params.update(overrides)
    return build_tx(node.faucet.signing_key, [msg], **params)  # type: ignore[arg-type]


def _stale_sequence_tx(node: Node) -> bytes:
    """A faucet tx at a sequence already used: one below the account's, after a first committed tx if
    the faucet has none yet (the module's node may be fresh: which tests ran before is not fixed)."""
    account = node.client.account(node.faucet.address)
    assert account is not None
    if account.sequence == 0:
        first = node.client.broadcast_watched(_faucet_tx(node, _send(node, node.faucet.address, "1")))
        assert int(first.get("tx_result", {}).get("code", -1)) == 0, first
        account = node.client.account(node.faucet.address)
        assert account is not None and account.sequence >= 1
    # another amount than the first tx's: the same bytes would be refused by CometBFT's cache instead
    return _faucet_tx(node, _send(node, node.faucet.address, "17"), sequence=account.sequence - 1)


def _send(node: Node, to: str, amount: str, denom: str = "utask") -> bank_pb2.MsgSend:
    return bank_pb2.MsgSend(
        from_address=node.faucet.address, to_address=to, amount=[bank_pb2.Coin(denom=denom, amount=amount)]
    )


def test_cli_send_changes_balances(node: Node) -> None:
    recipient = Keyring(node.home).add("alice").address
    before = _balance(node, node.faucet.address)
    result = _cli(node, "tx", "bank", "send", "faucet", recipient, "12345utask", "--fee", "600")
    assert result["tx_result"]["code"] == 0  # type: ignore[index]
    assert _balance(node, recipient) == 12345
    assert _balance(node, node.faucet.address) == before - 12345 - 600


def test_grpc_query_matches_abci_query(node: Node) -> None:
    via_rpc = _cli(node, "query", "bank", "balance", node.faucet.address)
    via_grpc = _cli(node, "query", "bank", "balance", node.faucet.address, "--grpc", node.grpc)
    assert via_rpc["balance"]["denom"] == via_grpc["balance"]["denom"] == "utask"  # type: ignore[index]


def test_broadcast_tx_commit_of_signed_send(node: Node) -> None:
    recipient = Keyring(node.home).add("bob").address
    result = node.client.broadcast(_faucet_tx(node, _send(node, recipient, "777")), "commit")
    assert result["check_tx"]["code"] == 0 and result["tx_result"]["code"] == 0
    assert _balance(node, recipient) == 777
    events = {e["type"] for e in result["tx_result"]["events"]}
    assert {"tx", "transfer", "message"} <= events


def _scrape(node: Node) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the node's Prometheus endpoint: (name, sorted labels) -> value."""
    with urllib.request.urlopen(node.metrics, timeout=10) as resp:
        text = resp.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_prometheus_metrics_follow_the_chain(node: Node) -> None:
    before = _scrape(node)
    ok_txs = ("taskmaster_block_txs_total", (("result", "ok"),))
    rejected = ("taskmaster_check_txs_total", (("result", "rejected"), ("type", "new")))
    result = node.client.broadcast(_faucet_tx(node, _send(node, node.faucet.address, "5")), "commit")
    assert result["tx_result"]["code"] == 0
    assert node.client.broadcast(b"\x0a\xff\xff", "sync")["code"] != 0
    after = _scrape(node)
    assert after[ok_txs] >= before.get(ok_txs, 0) + 1
    assert after[rejected] >= before.get(rejected, 0) + 1
    assert after[("taskmaster_block_height", ())] >= int(result["height"])
    assert after[("taskmaster_block_events_total", (("type", "transfer"),))] >= 1
    finalize_count = ("taskmaster_abci_request_seconds_count", (("method", "finalize_block"),))
    assert after[finalize_count] > before.get(finalize_count, 0)

    # the validator's price feed polls the localnet's CoinGecko simulator (it starts a few seconds in)
    def feeding() -> bool:
        now = _scrape(node)
        return (
            now.get(("taskmaster_pricefeed_fetching", ()), 0) == 1
            and now.get(("taskmaster_pricefeed_requests_total", ()), 0) > 0
        )

    wait_for(feeding, 30.0, "the price feed metrics to show a running fetcher")


BAD_INPUTS = [
    ("malformed bytes", lambda n: b"\x0a\xff\xff", "sdk", 2),
    ("unknown message type", None, "sdk", 6),
    ("oversized tx", lambda n: _faucet_tx(n, _send(n, n.faucet.address, "1"), memo="x" * 300_000), "sdk", 21),
    (
        "wrong chain id",
        lambda n: _faucet_tx(n, _send(n, n.faucet.address, "1"), chain_id="other-chain"),
        "sdk",
        4,  # the chain id is only in the SignDoc: a tx for another chain has a wrong signature
    ),
    ("stale sequence", lambda n: _stale_sequence_tx(n), "sdk", 32),
    ("future sequence", lambda n: _faucet_tx(n, _send(n, n.faucet.address, "1"), sequence=10**6), "sdk", 32),
    ("zero amount", lambda n: _faucet_tx(n, _send(n, n.faucet.address, "0")), "bank", 2),
    ("negative amount", lambda n: _faucet_tx(n, _send(n, n.faucet.address, "-5")), "bank", 2),
    ("invalid address", lambda n: _faucet_tx(n, _send(n, "task1notanaddress", "1")), "sdk", 7),
]


def _unknown_type_tx(node: Node) -> bytes:
    from cosmos.tx.v1beta1 import tx_pb2
    from google.protobuf.any_pb2 import Any as AnyProto

    good = tx_pb2.TxRaw.FromString(_faucet_tx(node, _send(node, node.faucet.address, "1")))
    body = tx_pb2.TxBody.FromString(good.body_bytes)
    body.messages[0].CopyFrom(AnyProto(type_url="/cosmos.gov.v1beta1.MsgVote", value=b""))
    good.body_bytes = body.SerializeToString()
    return good.SerializeToString()


@pytest.mark.parametrize(("name", "make", "codespace", "code"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_rejected_with_its_code(node: Node, name: str, make, codespace: str, code: int) -> None:  # type: ignore[no-untyped-def]
    tx = _unknown_type_tx(node) if make is None else make(node)
    before = _balance(node, node.faucet.address)
    account_before = node.client.account(node.faucet.address)
    result = node.client.broadcast(tx, "sync")
    assert (result["codespace"], result["code"]) == (codespace, code), result
    assert result["log"], "the log must say what is wrong"
    assert _balance(node, node.faucet.address) == before
    assert node.client.account(node.faucet.address) == account_before


def test_a_send_above_the_balance_passes_check_tx_and_fails_in_its_block_paying_its_fee(node: Node) -> None:
    """CheckTx runs no message handler (docs/security.md): a send the balance cannot cover is found
    in its block, where the tx pays its fee and moves its sequence on, as on Cosmos SDK chains."""
    before = _balance(node, node.faucet.address)
    sequence = node.client.account(node.faucet.address).sequence  # type: ignore[union-attr]
    result = node.client.broadcast(_faucet_tx(node, _send(node, node.faucet.address, str(10**30))), "commit")
    assert result["check_tx"]["code"] == 0, result
    assert (result["tx_result"]["codespace"], result["tx_result"]["code"]) == ("bank", 3), result
    assert _balance(node, node.faucet.address) == before - 500
    assert node.client.account(node.faucet.address).sequence == sequence + 1  # type: ignore[union-attr]


def test_bad_signature_is_rejected(node: Node) -> None:
    from cosmos.tx.v1beta1 import tx_pb2

    tx = tx_pb2.TxRaw.FromString(_faucet_tx(node, _send(node, node.faucet.address, "1")))
    tx.signatures[0] = bytes(64)
    result = node.client.broadcast(tx.SerializeToString(), "sync")
    assert (result["codespace"], result["code"]) == ("sdk", 4)
    assert "signature verification failed" in result["log"]


def test_grpc_reflection_lists_every_query_service(node: Node) -> None:
    import grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(node.grpc) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        answers = list(stub.ServerReflectionInfo(iter([request]), timeout=10))
    services = {s.name for s in answers[0].list_services_response.service}
    expected = {
        "taskmaster.auth.v1.Query",
        "taskmaster.bank.v1.Query",
        "taskmaster.staking.v1.Query",
        "taskmaster.tasks.v1.Query",
        "taskmaster.oracle.v1.Query",
        "taskmaster.taskmaster.v1.Query",
        "cosmos.tx.v1beta1.Service",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert expected <= services


def test_the_tx_service_simulates_broadcasts_and_finds_a_tx_over_grpc(node: Node) -> None:
    """cosmpy's path: Simulate, BroadcastTx (sync), then GetTx until the tx is indexed, GetTxsEvent."""
    import re
    import time

    import grpc
    from cosmos.tx.v1beta1 import service_pb2, service_pb2_grpc

    recipient = Keyring(node.home).add("tx-service").address
    raw = _faucet_tx(node, _send(node, recipient, "17"))
    tx_hash = hashlib.sha256(raw).hexdigest().upper()
    with grpc.insecure_channel(node.grpc) as channel:
        stub = service_pb2_grpc.ServiceStub(channel)
        simulated = stub.Simulate(service_pb2.SimulateRequest(tx_bytes=raw), timeout=10)
        assert simulated.gas_info.gas_used > 0
        with pytest.raises(grpc.RpcError) as missing:
            stub.GetTx(service_pb2.GetTxRequest(hash=tx_hash), timeout=10)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert missing.value.details() == f"tx not found: {tx_hash}"
        sent = stub.BroadcastTx(
            service_pb2.BroadcastTxRequest(tx_bytes=raw, mode=service_pb2.BROADCAST_MODE_SYNC), timeout=10
        )
        assert (sent.tx_response.code, sent.tx_response.txhash) == (0, tx_hash), sent
        deadline = time.monotonic() + 30
        while True:
            try:
                found = stub.GetTx(service_pb2.GetTxRequest(hash=tx_hash), timeout=10)
                break
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND and time.monotonic() < deadline
                time.sleep(0.3)
        response = found.tx_response
        assert response.code == 0 and response.height > 0 and response.txhash == tx_hash
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", response.timestamp), (
            response.timestamp
        )
        assert found.tx.body.messages[0].type_url == "/taskmaster.bank.v1.MsgSend"
        assert any(e.type == "transfer" for e in response.events)
        search = stub.GetTxsEvent(
            service_pb2.GetTxsEventRequest(query=f"tx.hash='{tx_hash}'", limit=5), timeout=10
        )
        assert [r.txhash for r in search.tx_responses] == [tx_hash] and search.total == 1
        with pytest.raises(grpc.RpcError) as too_many:
            stub.GetTxsEvent(
                service_pb2.GetTxsEventRequest(query=f"tx.hash='{tx_hash}'", limit=101), timeout=10
            )
        assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        block = stub.GetBlockWithTxs(service_pb2.GetBlockWithTxsRequest(height=response.height), timeout=10)
        assert block.block.header.height == response.height and block.block.header.chain_id == node.chain_id
        assert raw in block.block.data.txs and found.tx in block.txs
        assert block.block_id.hash and block.block.header.time.seconds > 0
    assert _balance(node, recipient) == 17


def test_unknown_grpc_lookup_is_not_found(node: Node) -> None:
    out = subprocess.run(
        [
            *CLI,
            "query",
            "auth",
            "account",
            "task1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqruuaaw",
            "--grpc",
            node.grpc,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "NOT_FOUND" in out.stderr and "does not exist" in out.stderr


def _cometbft_validators(node: Node) -> dict[str, int]:
    """CometBFT's own validator set (``/validators``): base64 ed25519 key -> voting power."""
    answer = node.client.call("validators", {"per_page": "100"})
    return {v["pub_key"]["value"]: int(v["voting_power"]) for v in answer["validators"]}


def test_a_validator_created_with_the_cli_joins_cometbfts_set_and_leaves_when_it_undelegates(
    node: Node,
) -> None:
    """A second validator below 1/3 of the power: the chain goes on while it is in the set and after."""
    from nacl.signing import SigningKey

    joiner = Keyring(node.home).add("joiner")
    _cli(node, "tx", "bank", "send", "faucet", joiner.address, "50000000utask")
    pubkey = base64.b64encode(bytes(SigningKey.generate().verify_key)).decode()
    created = _cli(
        node,
        "tx",
        "staking",
        "create-validator",
        "--from",
        "joiner",
        "--amount",
        "10000000utask",
        "--moniker",
        "joiner",
        "--pubkey",
        pubkey,
    )
    assert created["tx_result"]["code"] == 0  # type: ignore[index]
    wait_for(lambda: _cometbft_validators(node).get(pubkey) == 10, 30, "the joiner in CometBFT's /validators")
    record = _cli(node, "query", "staking", "validator", joiner.address)["validator"]
    assert record["active"] is True and record["moniker"] == "joiner"  # type: ignore[index]
    left = _cli(node, "tx", "staking", "undelegate", joiner.address, "9500000utask", "--from", "joiner")
    assert left["tx_result"]["code"] == 0  # type: ignore[index]
    wait_for(lambda: pubkey not in _cometbft_validators(node), 30, "the joiner to leave CometBFT's set")
    entries = _cli(node, "query", "staking", "unbonding", joiner.address)["entries"]
    assert isinstance(entries, list) and [e["balance"] for e in entries] == ["9500000"]
    height = node.client.height()
    wait_for(lambda: node.client.height() >= height + 2, 30, "blocks after the joiner left")
