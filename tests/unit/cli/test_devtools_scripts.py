"""``scripts/localnet.sh`` and ``scripts/multihost.sh`` as a new user meets them (issue 20, finding 6):
the README's localnet serves snapshots, ``join --state-sync`` refuses at once when none are served,
``env`` lists joined nodes, and ``down --purge`` cleans what a failed ``multihost.sh up`` left."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from abci_app.node.home import AppSettings, NodePorts
from devtools import localnet, multihost


def _net(tmp_path: Path, snapshot_interval: int) -> localnet.Localnet:
    base = localnet.find_free_base(2)
    return localnet.init(tmp_path / "net", 1, base, snapshot_interval=snapshot_interval)


def test_the_localnet_that_up_makes_serves_state_sync_snapshots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[localnet.Localnet] = []
    real_init = localnet.init

    def stop_after_init(root: Path, nodes: int, base: int, **kw: Any) -> localnet.Localnet:
        made.append(real_init(root, nodes, base, **kw))
        raise localnet.LocalnetError("stop before starting anything")

    monkeypatch.setattr(localnet, "init", stop_after_init)
    with pytest.raises(localnet.LocalnetError, match="stop before"):
        localnet.up(tmp_path / "net", 2, localnet.find_free_base(3))
    for i in range(2):
        settings = AppSettings.load(made[0].home(i))
        assert settings.snapshot_interval == localnet.SNAPSHOT_INTERVAL > 0
        assert settings.snapshot_keep_recent == localnet.SNAPSHOT_KEEP_RECENT


def test_join_state_sync_refuses_at_once_naming_the_setting_when_no_snapshots_are_served(
    tmp_path: Path,
) -> None:
    net = _net(tmp_path, snapshot_interval=0)
    began = time.monotonic()
    with pytest.raises(localnet.LocalnetError, match=r"snapshot_interval is 0 in .*node0/config/app\.json"):
        localnet._serving_snapshots(net, [0], timeout=120.0)
    assert time.monotonic() - began < 10  # not the 120 s of a state sync that waits in vain


def test_join_state_sync_waits_for_a_first_snapshot_when_they_are_served(tmp_path: Path) -> None:
    net = _net(tmp_path, snapshot_interval=20)
    with pytest.raises(localnet.LocalnetError, match="wrote a snapshot within 1s"):
        localnet._serving_snapshots(net, [0], timeout=1.0)


def test_env_lists_the_nodes_join_added(tmp_path: Path) -> None:
    net = _net(tmp_path, snapshot_interval=0)
    joined = net.root / "join0"
    joined.mkdir()
    (joined / localnet.JOIN_MANIFEST).write_text(json.dumps(asdict(NodePorts(rpc=31000, grpc=31003))))
    lines = localnet.env_lines(net.root)
    assert "JOIN0_RPC=http://127.0.0.1:31000" in lines and "JOIN0_GRPC=127.0.0.1:31003" in lines


def test_multihost_down_purge_removes_homes_a_failed_up_left_without_a_manifest(tmp_path: Path) -> None:
    root = tmp_path / "mh"
    (root / "op0" / "config").mkdir(parents=True)
    (root / "simulator.log").write_text("")
    multihost.down(root, purge=True)
    assert not root.exists()


def test_multihost_up_replaces_homes_an_earlier_run_left(tmp_path: Path) -> None:
    root = tmp_path / "mh"
    (root / "op0" / "config").mkdir(parents=True)
    (root / "keep.txt").write_text("not ours")
    multihost._remove_earlier_homes(root)
    assert not (root / "op0").exists() and (root / "keep.txt").exists()
