"""Four real validators (our app + CometBFT each) agree block after block and survive crashes.

The ``localnet`` fixture (conftest.py) runs node 3's application and CometBFT as separate processes so
that each can be SIGKILLed and restarted on its own. Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import signal
from dataclasses import dataclass

import pytest

from abci_app.app import FAILPOINT_ENV
from abci_app.store.errors import ProofError
from abci_app.store.proofs import verify_query_proof
from abci_app.tx.address import from_bech32, to_bech32
from tests.integration.conftest import SPLIT_NODE
from tests.integration.localnet_harness import (
    APP_HASH_MISMATCH,
    Cluster,
    block_app_hash,
    proof_ops,
    run_cli,
    wait_for,
    wait_for_height,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OTHERS = [i for i in range(4) if i != SPLIT_NODE]
AMOUNT = 12_345


def _status(cluster: Cluster, i: int) -> tuple[int, str]:
    sync = cluster.client(i).status()["sync_info"]
    return int(sync["latest_block_height"]), str(sync["latest_app_hash"]).upper()


def _app_info(cluster: Cluster, i: int) -> tuple[int, str]:
    """Node ``i``'s application: last committed height and the app hash it computed for it."""
    info = cluster.client(i).call("abci_info")["response"]
    return int(info["last_block_height"]), base64.b64decode(info["last_block_app_hash"]).hex().upper()


def _assert_status_matches_chain(cluster: Cluster, i: int) -> None:
    """Node ``i``'s own app hash after its latest block equals the next block's header on node 0.

    (``/status``'s ``latest_app_hash`` is the header's, i.e. the state *before* that block, so the
    application's own figure comes from ``abci_info``.)
    """
    height, app_hash = _app_info(cluster, i)
    wait_for_height(cluster.rpc(0), height + 1, 15)
    assert block_app_hash(cluster.rpc(0), height + 1) == app_hash, f"node{i} diverged at height {height}"


def _assert_same_blocks(cluster: Cluster, heights: range) -> None:
    for h in heights:
        hashes = {i: block_app_hash(cluster.rpc(i), h) for i in range(cluster.size)}
        assert len(set(hashes.values())) == 1, f"app hashes differ at height {h}: {hashes}"


def test_every_node_reaches_the_same_height_with_the_same_app_hash(localnet: Cluster) -> None:
    target = max(localnet.heights()) + 3
    localnet.wait_for_height(target, 30)
    _assert_same_blocks(localnet, range(1, target + 1))

    # /status of all four at one height: same latest_app_hash (retry until their heights coincide).
    seen: dict[int, set[str]] = {}
    together = False
    for _ in range(60):
        statuses = [_status(localnet, i) for i in range(localnet.size)]
        for height, app_hash in statuses:
            seen.setdefault(height, set()).add(app_hash)
        if len({h for h, _ in statuses}) == 1:
            together = True
            break
    assert together, f"the nodes never reported the same height at once: {sorted(seen)}"
    assert all(len(hashes) == 1 for hashes in seen.values()), f"diverging /status app hashes: {seen}"
    for i in range(localnet.size):
        _assert_status_matches_chain(localnet, i)


@dataclass(frozen=True)
class Sent:
    recipient: str
    amount: int
    height: int


@pytest.fixture(scope="module")
def sent(localnet: Cluster) -> Sent:
    """A bank send of AMOUNT from the faucet to a fresh address, through node 0 with the real CLI."""
    recipient = to_bech32(os.urandom(20))
    result = run_cli(
        "tx",
        "bank",
        "send",
        "faucet",
        recipient,
        f"{AMOUNT}utask",
        node=localnet.rpc(0),
        home=localnet.keyring_home,
    )
    answer = json.loads(result.stdout)
    assert int(answer["check_tx"].get("code", 0)) == 0, answer
    assert int(answer["tx_result"].get("code", 0)) == 0, answer
    return Sent(recipient, AMOUNT, int(answer["height"]))


def _balance(cluster: Cluster, i: int, address: str, via_grpc: bool = False) -> int:
    extra = ["--grpc", cluster.grpc(i)] if via_grpc else []
    out = run_cli("query", "bank", "balance", address, *extra, node=cluster.rpc(i)).stdout
    return int(json.loads(out).get("balance", {}).get("amount", "0"))


def test_bank_send_through_one_node_is_visible_on_all(localnet: Cluster, sent: Sent) -> None:
    localnet.wait_for_height(sent.height, 20)
    for i in range(localnet.size):
        assert _balance(localnet, i, sent.recipient) == AMOUNT, f"node{i} (abci_query)"
        assert _balance(localnet, i, sent.recipient, via_grpc=True) == AMOUNT, f"node{i} (gRPC)"


def test_store_query_proofs_verify_against_the_next_block_header(localnet: Cluster, sent: Sent) -> None:
    node = 1  # not the node the tx went through
    localnet.wait_for_height(sent.height, 20, [node])
    client = localnet.client(node)

    key = b"\x01" + from_bech32(sent.recipient) + b"utask"
    answer = client.abci_query("/store/bank/key", key, prove=True)
    assert answer.code == 0, answer.log
    assert int.from_bytes(answer.value, "big") == AMOUNT
    ops = proof_ops(answer.proof_ops)
    assert [op.type for op in ops] == ["ics23:iavl", "ics23:simple"]
    wait_for_height(localnet.rpc(node), answer.height + 1, 15)
    app_hash = bytes.fromhex(block_app_hash(localnet.rpc(node), answer.height + 1))
    verify_query_proof(app_hash, "bank", key, answer.value, ops)

    tampered = (AMOUNT + 1).to_bytes(len(answer.value), "big")
    with pytest.raises(ProofError):
        verify_query_proof(app_hash, "bank", key, tampered, ops)
    with pytest.raises(ProofError):
        verify_query_proof(bytes([app_hash[0] ^ 1]) + app_hash[1:], "bank", key, answer.value, ops)
    with pytest.raises(ProofError):
        verify_query_proof(app_hash, "bank", key, None, ops)  # existence proof is no absence proof

    unused = b"\x01" + os.urandom(20) + b"utask"
    absent = client.abci_query("/store/bank/key", unused, prove=True)
    assert absent.code == 0, absent.log
    assert absent.value == b""
    absent_ops = proof_ops(absent.proof_ops)
    wait_for_height(localnet.rpc(node), absent.height + 1, 15)
    absent_hash = bytes.fromhex(block_app_hash(localnet.rpc(node), absent.height + 1))
    verify_query_proof(absent_hash, "bank", unused, None, absent_ops)
    with pytest.raises(ProofError):
        verify_query_proof(absent_hash, "bank", unused, AMOUNT.to_bytes(32, "big"), absent_ops)


def _others_keep_going(cluster: Cluster) -> None:
    before = max(cluster.heights(OTHERS))
    cluster.wait_for_height(before + 3, 30, OTHERS)


def _assert_caught_up(cluster: Cluster, log_offset: int) -> None:
    n = SPLIT_NODE
    target = max(cluster.heights(OTHERS)) + 1
    cluster.wait_for_height(target, 90, [n])
    wait_for(lambda: not cluster.client(n).status()["sync_info"]["catching_up"], 30, f"node{n} to leave sync")
    _assert_same_blocks(cluster, range(max(1, target - 8), target + 1))
    _assert_status_matches_chain(cluster, n)
    log = cluster.cometbft_log_since(n, log_offset)
    mismatch = APP_HASH_MISMATCH.search(log)
    assert mismatch is None, (
        f"node{n}'s CometBFT reported: {log[mismatch.start() - 200 : mismatch.end() + 400]}"
    )
    assert cluster.app_running(n), f"node{n}'s app exited after the restart\n{cluster.logs([n])}"
    # it keeps following the chain
    cluster.wait_for_height(target + 2, 20, [n])


def _restart_split_node(cluster: Cluster) -> int:
    """Start the split node's app and CometBFT again, check it catches up; its log offset before."""
    n = SPLIT_NODE
    offset = cluster.cometbft_log_size(n)
    cluster.start_app(n)
    cluster.start_cometbft(n)
    _assert_caught_up(cluster, offset)
    return offset


def test_sigkill_of_one_app_process_chain_continues_and_node_catches_up(localnet: Cluster) -> None:
    n = SPLIT_NODE
    localnet.wait_for_height(max(localnet.heights()), 20)
    localnet.kill_app(n)
    _others_keep_going(localnet)

    # CometBFT stops itself when its ABCI connections break ("Did the application crash?");
    # stop it ourselves if it has not, since it would not reconnect to a new app.
    if not localnet.wait_until_cometbft_exits(n, 15):
        localnet.stop_cometbft(n)
    _restart_split_node(localnet)


def test_sigkill_of_one_cometbft_process_chain_continues_and_node_catches_up(localnet: Cluster) -> None:
    n = SPLIT_NODE
    localnet.wait_for_height(max(localnet.heights()), 20)
    localnet.kill_cometbft(n)
    _others_keep_going(localnet)
    assert localnet.app_running(n), f"node{n}'s app exited when its CometBFT was killed\n{localnet.logs([n])}"

    offset = localnet.cometbft_log_size(n)
    localnet.start_cometbft(n)  # the same app process: CometBFT's handshake replays what it lacks
    _assert_caught_up(localnet, offset)


def test_app_killed_between_finalize_and_commit_is_replayed_by_the_handshake(localnet: Cluster) -> None:
    n = SPLIT_NODE
    localnet.wait_for_height(max(localnet.heights()), 20)
    crash_at = max(localnet.heights()) + 4
    localnet.stop_cometbft(n)
    app = localnet.procs[n].app
    assert app is not None
    app.send_signal(signal.SIGTERM)
    app.wait(20)
    # restart the app so that it kills itself after FinalizeBlock(crash_at), before persisting it
    localnet.start_app(n, env={FAILPOINT_ENV: f"before-commit:{crash_at}"})
    localnet.start_cometbft(n)
    crashing = localnet.procs[n].app
    assert crashing is not None
    wait_for(lambda: crashing.poll() is not None, 60, f"node{n}'s app to die before committing {crash_at}")
    assert crashing.returncode == -signal.SIGKILL
    assert f"failpoint before-commit at height {crash_at}" in localnet.net.log_file(n).read_text()
    _others_keep_going(localnet)
    if not localnet.wait_until_cometbft_exits(n, 15):
        localnet.stop_cometbft(n)
    offset = _restart_split_node(localnet)
    handshake = localnet.cometbft_log_since(n, offset)
    assert f"appHeight={crash_at - 1}" in handshake, "the handshake should find the app one block behind"


def test_hard_rollback_of_one_validator_refetches_the_block_from_its_peers(localnet: Cluster) -> None:
    n = SPLIT_NODE
    localnet.wait_for_height(max(localnet.heights()), 20)
    localnet.stop_cometbft(n)
    app = localnet.procs[n].app
    assert app is not None
    app.send_signal(signal.SIGTERM)
    app.wait(20)
    out = run_cli("rollback", "--hard", node=localnet.rpc(0), home=localnet.home(n))
    result = json.loads(out.stdout)
    assert result["block_removed"] is True and result["consistent"] is True, result
    _others_keep_going(localnet)
    _restart_split_node(localnet)
    # the dropped block came back from the peers: the same block and app hash as everyone's
    height = result["height"] + 1
    assert block_app_hash(localnet.rpc(n), height + 1) == block_app_hash(localnet.rpc(0), height + 1)
