"""``taskmaster rollback`` on a real node: CometBFT and the app go back one height together, and the
restarted node re-executes the block to the same app hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abci_app.app import AppConfig, Application
from tests.integration.localnet_harness import Cluster, block_app_hash, run_cli, wait_for_height

pytestmark = pytest.mark.integration


def _app_state(home: Path) -> tuple[int, str]:
    app = Application(AppConfig(db_path=str(home / "data" / "app.db")))
    try:
        return app.store.last_version, app.store.last_app_hash.hex().upper()
    finally:
        app.close()


def test_rollback_then_restart_re_executes_the_block(tmp_path: Path) -> None:
    cluster = Cluster.create(tmp_path / "net", 1, chain_id="rollback-1", timeout_commit="300ms")
    home = cluster.home(0)
    try:
        cluster.start()
        rpc = cluster.rpc(0)
        recipient = run_cli("keys", "add", "rb-recipient", node=rpc, home=cluster.keyring_home)
        address = json.loads(recipient.stdout)["address"]
        run_cli("tx", "bank", "send", "faucet", address, "1234utask", node=rpc, home=cluster.keyring_home)
        wait_for_height(rpc, cluster.heights([0])[0] + 2)

        busy = run_cli("rollback", node=rpc, home=home, check=False)
        assert busy.returncode == 1 and "stop the node first" in busy.stderr
    finally:
        cluster.close()

    final, final_hash = _app_state(home)
    out = run_cli("rollback", node=cluster.rpc(0), home=home)
    result = json.loads(out.stdout)
    assert result["height"] == final - 1 and result["consistent"] is True and result["block_removed"] is False
    assert _app_state(home)[0] == final - 1

    try:
        cluster.start()
        wait_for_height(cluster.rpc(0), final + 2)
        # block `final` ran again on the rolled-back app and produced the same app hash as before
        assert block_app_hash(cluster.rpc(0), final + 1).upper() == final_hash
        assert block_app_hash(cluster.rpc(0), final).upper() == result["app_hash"]
    finally:
        cluster.close()

    # (`--hard` is tested on the localnet: a lone validator rightly refuses to sign a height twice)
