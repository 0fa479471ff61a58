"""State sync under real CometBFT: a validator that joins late restores a snapshot instead of replaying.

Three of four validators run with ``snapshot_interval`` set in their ``app.json`` (3 of 4 equal powers
is more than 2/3, so they make blocks alone). The fourth starts later from an empty home with CometBFT's
``[statesync]`` filled from a live node (two ``rpc_servers``, ``trust_height`` / ``trust_hash``), as an
operator would. It must restore a snapshot (no block below the snapshot in its block store), agree on
the app hash of every block it has, and then take part in consensus: sign commits (with its vote
extension, which this chain requires) and propose blocks.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from abci_app.node.home import patch_toml
from devtools import localnet
from tests.integration.localnet_harness import Cluster, wait_for

pytestmark = pytest.mark.integration
SNAPSHOT_INTERVAL = 5
# The absent fourth validator's turns to propose time out; 1 s instead of CometBFT's 3 s keeps the wait
# for the first snapshots short. State sync discovers snapshots for 5 s (CometBFT's minimum).
TIMEOUT_PROPOSE = '"1s"'
DISCOVERY_TIME = '"5s"'


def _rpc(cluster: Cluster, i: int, method: str, height: int | None = None) -> Any:
    return cluster.client(i).call(method, None if height is None else {"height": str(height)})


def test_a_late_validator_state_syncs_agrees_and_then_signs_and_proposes(tmp_path: Path) -> None:
    cluster = Cluster.create(tmp_path / "net", 4, timeout_commit="300ms")
    try:
        for i in range(4):
            path = cluster.home(i) / "config" / "app.json"
            settings = json.loads(path.read_text()) if path.exists() else {}
            settings.update(snapshot_interval=SNAPSHOT_INTERVAL, snapshot_keep_recent=2)
            path.write_text(json.dumps(settings))
            config = cluster.home(i) / "config" / "config.toml"
            config.write_text(
                patch_toml(config.read_text(), {("consensus", "timeout_propose"): TIMEOUT_PROPOSE})
            )
        cluster.simulator = localnet.start_simulator(cluster.net)
        for i in range(3):
            cluster.start_app(i)
        cluster.wait_for_height(3 * SNAPSHOT_INTERVAL + 5, 240.0, nodes=[0, 1, 2])

        trust_height = cluster.heights([0])[0] - 3
        commit = _rpc(cluster, 0, "commit", trust_height)
        trust_hash = commit["signed_header"]["commit"]["block_id"]["hash"]
        config = cluster.home(3) / "config" / "config.toml"
        statesync = {
            "enable": "true",
            "rpc_servers": f'"{cluster.rpc(0)},{cluster.rpc(1)}"',
            "trust_height": str(trust_height),
            "trust_hash": f'"{trust_hash}"',
            "trust_period": '"168h0m0s"',
            "discovery_time": DISCOVERY_TIME,
        }
        config.write_text(patch_toml(config.read_text(), {("statesync", k): v for k, v in statesync.items()}))
        cluster.start_app(3)
        head = cluster.heights([0])[0]
        cluster.wait_for_height(head + 5, 240.0, nodes=[3])

        status = _rpc(cluster, 3, "status")
        earliest = int(status["sync_info"]["earliest_block_height"])
        assert earliest > SNAPSHOT_INTERVAL, f"node3 replayed from height {earliest}: no state sync"
        assert (earliest - 1) % SNAPSHOT_INTERVAL == 0, f"node3's first block {earliest} follows no snapshot"
        log = cluster.net.log_file(3).read_text(errors="replace")
        assert f"state sync: restored height {earliest - 1}" in log, cluster.logs([3])

        top = min(cluster.heights([0, 3])) - 1
        for height in range(earliest, top + 1):
            ours = _rpc(cluster, 0, "block", height)["block"]["header"]
            theirs = _rpc(cluster, 3, "block", height)["block"]["header"]
            assert (theirs["app_hash"], theirs["last_block_id"]) == (
                ours["app_hash"],
                ours["last_block_id"],
            ), height

        address = status["validator_info"]["address"]

        def signed_and_proposed() -> bool:
            h = cluster.heights([0])[0] - 1
            sigs = _rpc(cluster, 0, "commit", h)["signed_header"]["commit"]["signatures"]
            signed = any(s["validator_address"] == address and s["block_id_flag"] == 2 for s in sigs)
            proposed = any(
                _rpc(cluster, 0, "block", x)["block"]["header"]["proposer_address"] == address
                for x in range(max(earliest, h - 8), h + 1)
            )
            return signed and proposed

        wait_for(signed_and_proposed, 120.0, "the state-synced validator to sign a commit and propose", 1.0)

        # a restart resumes from the restored state: no block before the snapshot is fetched or replayed
        app = cluster.procs[3].app
        assert app is not None
        app.send_signal(signal.SIGTERM)
        app.wait(60)
        localnet.stop_pids(localnet.cometbft_pids(cluster.home(3)), groups=False)
        cluster.start_app(3)
        cluster.wait_for_height(cluster.heights([0])[0] + 3, 180.0, nodes=[3])
        again = _rpc(cluster, 3, "status")["sync_info"]
        assert int(again["earliest_block_height"]) == earliest
        log = cluster.net.log_file(3).read_text(errors="replace")
        assert log.count("state sync: restored height") == 1, cluster.logs([3])
    finally:
        cluster.close()
