"""State sync onto a chain with history, under real CometBFT, through the operator's own command.

A 4-validator localnet runs for more than 200 blocks with recurring and one-shot tasks, oracle rounds
every other block, and a validator whose feed fails until the oracle jails it (it then unjails), all
four taking snapshots every ``SNAPSHOT_INTERVAL`` blocks in small chunks. Validator 1 serves corrupted
chunks (its snapshot files are damaged on disk as soon as they appear). A fifth node then joins with
``localnet.join(state_sync=True)`` (what ``scripts/localnet.sh join --state-sync`` runs):

- it restores a snapshot (its first block follows a snapshot height) and reaches the head;
- the corrupted chunk it was served is refused, its sender (validator 1, and only it) is rejected, and
  the sync completes from the other peers;
- at every height it has, the app hash it computed itself (``block_results``) is the validators';
- every query of every module, asked of it and of a validator at the same height, answers the same;
  balances, tasks and prices come with proofs that verify against each node's own header;
- restarted, it resumes from its state without a second restore or any block before the snapshot.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from abci_app.client import RpcClient
from abci_app.modules.bank.keys import balance_key
from abci_app.modules.oracle.keys import latest_key
from abci_app.modules.tasks.keys import task_key
from abci_app.node.home import _node_id
from abci_app.router import default_router
from abci_app.store.proofs import verify_query_proof
from abci_app.tx.address import from_bech32
from devtools import localnet
from tests.app.genesis_queries import requests_for
from tests.integration.localnet_harness import Cluster, block_app_hash, proof_ops, run_cli, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1500)]

SNAPSHOT_INTERVAL = 50
CHUNK_SIZE = 128  # many chunks, so the corrupting peer is all but certain to be asked for one
HISTORY = 205  # blocks before the fifth node joins
ORACLE = {
    "intervalBlocks": "2",
    "startHeight": "2",
    "maxPriceAgeSeconds": "4",
    "window": "8",
    "minValidBps": "5000",
    "jailDuration": "6",
    "slashBps": "100",
    "graceRounds": "2",
    "historySize": "20",
}
TASKS = {"minInterval": "2", "maxBlockTaskGas": "20000000", "blockTaskGasReserve": "1000000"}
TX = ["--gas", "600000", "--fee", "3000"]
PAIRS = ("bitcoin/usd", "ethereum/usd")
REQUESTS_PER_QUERY = 40


def _cli(net: Cluster, *args: str, home: Path | None = None, node: int = 0) -> dict[str, Any]:
    result = run_cli(*args, node=net.rpc(node), home=home or net.keyring_home, check=False)
    out: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
    out["_rc"] = result.returncode
    out["_err"] = result.stderr
    return out


def _code(out: dict[str, Any]) -> int:
    return int(out.get("check_tx", {}).get("code", 0)) or int(out.get("tx_result", {}).get("code", 0))


def _event(out: dict[str, Any], kind: str, key: str) -> str:
    for event in out["tx_result"]["events"]:
        if event["type"] == kind:
            return str(next(a["value"] for a in event["attributes"] if a["key"] == key))
    raise AssertionError(f"no {kind} event in {out}")


def _schedule(net: Cluster, *args: str) -> str:
    """A task starting a margin after now (wider again if a loaded machine lands it late); its hash."""
    margin = 6
    for _ in range(4):
        out = _cli(net, "tx", "tasks", "schedule", "alice", *args, "--start-in", str(margin), *TX)
        if _code(out) != 3:  # 3: the start block is no longer in the future
            assert out["_rc"] == 0 and _code(out) == 0, out
            return _event(out, "TaskScheduled", "task_id")
        margin *= 2
    raise AssertionError(f"{args} kept landing after its start block")


def _powers(net: Cluster) -> dict[str, int]:
    validators = net.client(0).call("validators", {"per_page": "100"})["validators"]
    return {v["address"]: int(v["voting_power"]) for v in validators}


class ChunkCorrupter:
    """Damages every chunk file of a node's snapshots as soon as it is published (a byzantine peer)."""

    def __init__(self, home: Path) -> None:
        self.root = home / "data" / "snapshots"
        self.done: set[Path] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ChunkCorrupter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for chunk in sorted(self.root.glob("0*/chunk-*")):
                if chunk in self.done:
                    continue
                try:
                    data = bytearray(chunk.read_bytes())
                    data[len(data) // 2] ^= 0xFF
                    tmp = chunk.with_name(chunk.name + ".bad")
                    tmp.write_bytes(bytes(data))
                    os.replace(tmp, chunk)
                except OSError:  # pruned meanwhile
                    pass
                self.done.add(chunk)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster.create(
        tmp_path / "net",
        4,
        timeout_commit="100ms",
        app_state={"oracle": {"params": ORACLE}, "tasks": {"params": TASKS}},
    )
    for i in range(4):
        path = cluster.home(i) / "config" / "app.json"
        settings = json.loads(path.read_text()) if path.exists() else {}
        settings.update(
            snapshot_interval=SNAPSHOT_INTERVAL, snapshot_keep_recent=4, snapshot_chunk_size=CHUNK_SIZE
        )
        path.write_text(json.dumps(settings))
    try:
        yield cluster
    finally:
        for joined in sorted(cluster.net.root.glob("join*")):
            pid = localnet._join_pid(joined)
            if pid is not None:
                localnet.stop_pids([pid])
            localnet.stop_pids(localnet.cometbft_pids(joined), groups=False)
        cluster.close()


def _history(net: Cluster) -> dict[str, Any]:
    """Run the chain past HISTORY blocks with tasks, oracle rounds and a jailing; what was made."""
    net.start()
    net.set_feed(3, {"mode": "error500"})  # validator 3's feed fails until the oracle jails it
    jailed = json.loads((net.home(3) / "config" / "priv_validator_key.json").read_text())["address"]
    alice = _cli(net, "keys", "add", "alice")["address"]
    bob = _cli(net, "keys", "add", "bob")["address"]
    for to in (alice, bob):
        assert _code(_cli(net, "tx", "bank", "send", "faucet", to, "50000000utask", *TX)) == 0
    tasks = [
        _schedule(net, "--kv-put", "tick=1", "--interval", "4", "--executions", "30"),
        _schedule(net, "--send", f"{bob}:1234"),
        _schedule(net, "--kv-put", "once=1"),
    ]
    far = _cli(net, "tx", "tasks", "schedule", "alice", "--kv-put", "far=1", "--start", "5000", *TX)
    assert _code(far) == 0, far
    tasks.append(_event(far, "TaskScheduled", "task_id"))

    wait_for(lambda: jailed not in _powers(net), 120.0, "validator 3 to be jailed by the oracle", 1.0)
    net.set_feed(3, {"mode": "ok"})

    def unjailed() -> bool:
        out = _cli(net, "tx", "oracle", "unjail", "validator", home=net.home(3), node=3)
        return out["_rc"] == 0 and _code(out) == 0

    wait_for(unjailed, 120.0, "validator 3's unjail to land", 2.0)
    wait_for(lambda: jailed in _powers(net), 60.0, "validator 3 back in the set", 1.0)
    net.wait_for_height(HISTORY, 600.0, nodes=[0, 1, 2])
    return {"alice": alice, "bob": bob, "tasks": tasks}


def test_a_node_joins_a_chain_with_history_by_state_sync_past_a_corrupting_peer(net: Cluster) -> None:
    made = _history(net)
    for i in range(4):  # every validator has written the snapshot that HISTORY passed
        snapshots = net.home(i) / "data" / "snapshots"
        wait_for(partial(_has_snapshot, snapshots), 120.0, f"validator {i}'s first snapshot")
    with ChunkCorrupter(net.home(1)) as corrupter:
        wait_for(lambda: bool(corrupter.done), 30.0, "validator 1's chunks to be corrupted")
        home = localnet.join(net.net.root, state_sync=True, timeout=600.0)
    joined = _rpc_of(home)

    # it restored a snapshot: its first block follows a snapshot height
    status = joined.status()
    earliest = int(status["sync_info"]["earliest_block_height"])
    snapshot_height = earliest - 1
    assert snapshot_height >= SNAPSHOT_INTERVAL * 3 and snapshot_height % SNAPSHOT_INTERVAL == 0, earliest
    log = (home / "node.log").read_text(errors="replace")
    assert log.count("state sync: restored height") == 1 and f"restored height {snapshot_height}" in log

    # the corrupted chunk was refused and its sender rejected; no honest peer was blamed
    bad = _node_id(net.home(1))
    refused = [line for line in log.splitlines() if "state sync: chunk" in line and "refused (RETRY)" in line]
    assert refused, "validator 1 was never asked for a chunk:\n" + log[-3000:]
    assert all(f"sent by peer {bad}:" in line for line in refused), refused

    # its own app hash at every height equals the validators'
    top = min(joined.height(), net.client(0).height())
    for height in range(earliest, top + 1):
        ours = net.client(0).call("block_results", {"height": str(height)})["app_hash"]
        theirs = joined.call("block_results", {"height": str(height)})["app_hash"]
        assert theirs == ours, f"height {height}: joined node {theirs}, validator 0 {ours}"

    # every query answers the same at the same height
    at = top - 1
    genesis = json.loads((net.home(0) / "config" / "genesis.json").read_text())["app_state"]
    state = {
        "auth": {
            "accounts": genesis["auth"]["accounts"] + [{"address": made["alice"]}, {"address": made["bob"]}]
        },
        "staking": genesis["staking"],
        "tasks": {"tasks": [{"task_hash": h} for h in made["tasks"]]},
        "kv": {"entries": [{"key": base64.b64encode(k).decode()} for k in (b"tick", b"once", b"far")]},
    }
    asked = 0
    for path, route in sorted(default_router().queries.items()):
        for n, request in enumerate(requests_for(route.request_type, state)):
            if n == REQUESTS_PER_QUERY:
                break
            data = request.SerializeToString()
            a = net.client(0).abci_query(path, data, at)
            b = joined.abci_query(path, data, at)
            assert (a.code, a.codespace, a.value) == (b.code, b.codespace, b.value), (path, request)
            asked += 1
    assert asked > 100

    # balances, tasks and prices with proofs verified against each node's own header
    alice = from_bech32(made["alice"], "alice")
    keys = [
        ("bank", balance_key(alice, "utask")),
        ("tasks", task_key(bytes.fromhex(made["tasks"][-1]))),
        *[("oracle", latest_key(pair)) for pair in PAIRS],
    ]
    for store, key in keys:
        values = []
        for rpc, client in ((net.rpc(0), net.client(0)), (joined.node, joined)):
            answer = client.abci_query(f"/store/{store}/key", key, at, prove=True)
            assert answer.code == 0 and answer.value, (store, answer.log)
            verify_query_proof(
                bytes.fromhex(block_app_hash(rpc, at + 1)),
                store,
                key,
                answer.value,
                proof_ops(answer.proof_ops),
            )
            values.append(answer.value)
        assert values[0] == values[1], store

    # restarted, it resumes: no second restore, nothing before the snapshot fetched or replayed
    pid = localnet._join_pid(home)
    assert pid is not None
    localnet.stop_pids([pid])
    localnet.stop_pids(localnet.cometbft_pids(home), groups=False)
    _restart(home)
    head = net.client(0).height()
    wait_for(lambda: _height(joined) >= head + 3, 180.0, "the restarted node to pass the head it left")
    assert int(joined.status()["sync_info"]["earliest_block_height"]) == earliest
    assert (home / "node.log").read_text(errors="replace").count("state sync: restored height") == 1


def _has_snapshot(root: Path) -> bool:
    return any(root.glob("0*/snapshot.json"))


def _rpc_of(home: Path) -> RpcClient:
    """The RPC client of a joined node (its ``[rpc] laddr``)."""
    config = (home / "config" / "config.toml").read_text()
    rpc = config[config.index("[rpc]") :]
    return RpcClient(rpc[rpc.index("laddr = ") :].split('"')[1], timeout=10.0)


def _height(client: RpcClient) -> int:
    try:
        return client.height()
    except Exception:  # restarting
        return -1


def _restart(home: Path) -> None:
    with open(home / "node.log", "ab") as log:
        proc = subprocess.Popen(
            [*localnet.taskmaster_command(), "start", "--home", str(home), "--quiet"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=localnet._node_env(),
            cwd=home,
        )
    (home / localnet.JOIN_PID).write_text(f"{proc.pid}\n")
