"""``taskmaster start`` on a busy address: a one-line error naming the setting, no traceback, exit 1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "abci_app.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("setting", "what"),
    [
        ("abci_address", "ABCI"),
        ("grpc_address", "gRPC"),
        ("metrics_address", "metrics"),
        ("api_address", "REST"),
    ],
)
def test_busy_listen_address_is_a_clear_error(tmp_path: Path, setting: str, what: str) -> None:
    home = tmp_path / "node"
    subprocess.run(
        [*CLI, "init", "--home", str(home), "--chain-id", "busy-1"], cwd=ROOT, check=True, capture_output=True
    )
    app_json = home / "config" / "app.json"
    settings = json.loads(app_json.read_text())
    names = ("abci_address", "grpc_address", "metrics_address", "api_address")
    ports = {name: _free_port() for name in names}
    settings["abci_address"] = f"tcp://127.0.0.1:{ports['abci_address']}"
    settings["grpc_address"] = f"127.0.0.1:{ports['grpc_address']}"
    settings["metrics_address"] = f"127.0.0.1:{ports['metrics_address']}"
    settings["api_address"] = f"127.0.0.1:{ports['api_address']}"
    app_json.write_text(json.dumps(settings))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports[setting]))
        busy.listen()
        out = subprocess.run(
            [*CLI, "start", "--home", str(home), "--no-cometbft"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot serve {what} on ") and f"Change {setting} in {app_json}" in last


def test_missing_cometbft_is_a_clear_error(tmp_path: Path) -> None:
    home = tmp_path / "node"
    subprocess.run(
        [*CLI, "init", "--home", str(home), "--chain-id", "nocmt-1"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "COMETBFT": str(tmp_path / "no-such-cometbft")}
    out = subprocess.run(
        [*CLI, "start", "--home", str(home)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        f"error: CometBFT not found at {tmp_path / 'no-such-cometbft'}; run scripts/install-cometbft.sh "
        "(make run does), set COMETBFT to its path, or start with --no-cometbft and run it yourself"
    )
