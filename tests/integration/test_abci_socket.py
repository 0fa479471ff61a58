"""The ABCI socket server against real CometBFT v0.38 binaries: a single-node chain and abci-cli."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tendermint.abci import types_pb2 as abci

from abci_app.abci import AbciServer, BaseApplication

pytestmark = pytest.mark.integration

TOOLS = Path(__file__).resolve().parents[2] / ".tools" / "bin"
COMETBFT = TOOLS / "cometbft"
ABCI_CLI = TOOLS / "abci-cli"

STARTUP_TIMEOUT = 60.0
"""Seconds allowed for the node to produce its first blocks."""


class CounterApp(BaseApplication):
    """Counts transactions; the app hash is the count as 8 big-endian bytes. State lives in memory."""

    def __init__(self) -> None:
        self.height = 0
        self.app_hash = b""
        self.tx_count = 0
        self._pending: tuple[int, int, bytes] | None = None

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        return abci.ResponseInfo(
            data=f"counter txs={self.tx_count}",
            version="test",
            app_version=1,
            last_block_height=self.height,
            last_block_app_hash=self.app_hash,
        )

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        count = self.tx_count + len(req.txs)
        app_hash = count.to_bytes(8, "big")
        self._pending = (req.height, count, app_hash)
        results = [abci.ExecTxResult(code=0, data=count.to_bytes(8, "big")) for _ in req.txs]
        return abci.ResponseFinalizeBlock(tx_results=results, app_hash=app_hash)

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        if self._pending is not None:
            self.height, self.tx_count, self.app_hash = self._pending
            self._pending = None
        return abci.ResponseCommit()


class ServerThread:
    """An AbciServer running on its own event loop in a background thread."""

    def __init__(self, app: BaseApplication) -> None:
        self.server = AbciServer(app)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="abci-server", daemon=True)

    def start(self, address: str = "tcp://127.0.0.1:0") -> str:
        """Start listening; return the bound address."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(address), self._loop).result(10)
        return self.server.address

    def stop(self) -> None:
        """Stop the server and its loop."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()


@pytest.fixture
def counter_app() -> CounterApp:
    return CounterApp()


@pytest.fixture
def abci_address(counter_app: CounterApp) -> Iterator[str]:
    """A running AbciServer serving ``counter_app``; yields its tcp:// address."""
    if not COMETBFT.exists() or not ABCI_CLI.exists():
        pytest.fail(f"CometBFT binaries not installed in {TOOLS} (run `make cometbft`)")
    thread = ServerThread(counter_app)
    try:
        yield thread.start()
    finally:
        thread.stop()


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rpc(port: int, path: str, timeout: float = 5.0) -> dict[str, Any]:
    """GET a CometBFT RPC endpoint and return its ``result``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
        body: dict[str, Any] = json.load(reply)
    if "error" in body:
        raise AssertionError(f"RPC {path} failed: {body['error']}")
    result: dict[str, Any] = body["result"]
    return result


def fast_blocks(config_toml: Path) -> None:
    """Shorten consensus timeouts so a single node makes blocks every few hundred milliseconds."""
    text = config_toml.read_text()
    for key, value in {
        "timeout_propose": "500ms",
        "timeout_prevote": "200ms",
        "timeout_precommit": "200ms",
        "timeout_commit": "200ms",
    }.items():
        text, count = re.subn(rf'^{key} = ".*"$', f'{key} = "{value}"', text, flags=re.MULTILINE)
        assert count == 1, f"{key} not found in {config_toml}"
    config_toml.write_text(text)


def wait_for_height(port: int, height: int, node: subprocess.Popen[bytes], log: Path) -> int:
    """Poll ``/status`` until the node reports ``height``; fail with the node's log otherwise."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    latest = 0
    while time.monotonic() < deadline:
        if node.poll() is not None:
            pytest.fail(f"cometbft exited with {node.returncode}:\n{log.read_text()[-4000:]}")
        try:
            latest = int(rpc(port, "/status", timeout=2)["sync_info"]["latest_block_height"])
        except OSError:
            latest = 0
        if latest >= height:
            return latest
        time.sleep(0.2)
    pytest.fail(f"node stuck at height {latest} after {STARTUP_TIMEOUT}s:\n{log.read_text()[-4000:]}")


def test_cometbft_node_makes_blocks_and_commits_a_tx(
    abci_address: str, counter_app: CounterApp, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="abci_app.abci")
    home = tmp_path / "node"
    subprocess.run([str(COMETBFT), "init", "--home", str(home)], check=True, capture_output=True, timeout=30)
    fast_blocks(home / "config" / "config.toml")
    rpc_port, p2p_port = free_port(), free_port()
    log = tmp_path / "cometbft.log"
    with log.open("wb") as log_file:
        node = subprocess.Popen(
            [
                str(COMETBFT),
                "start",
                "--home",
                str(home),
                "--proxy_app",
                abci_address,
                "--rpc.laddr",
                f"tcp://127.0.0.1:{rpc_port}",
                "--p2p.laddr",
                f"tcp://127.0.0.1:{p2p_port}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_height(rpc_port, 3, node, log)

        result = rpc(rpc_port, "/broadcast_tx_commit?tx=0x" + b"hello counter".hex(), timeout=30)
        assert result["check_tx"]["code"] == 0
        assert result["tx_result"]["code"] == 0
        tx_height = int(result["height"])
        assert tx_height > 0

        wait_for_height(rpc_port, tx_height + 1, node, log)
        # CometBFT's /status counts a block once it is stored, a moment before the app commits it
        deadline = time.monotonic() + STARTUP_TIMEOUT
        abci_info = rpc(rpc_port, "/abci_info")["response"]
        while int(abci_info.get("last_block_height", 0)) <= tx_height and time.monotonic() < deadline:
            time.sleep(0.2)
            abci_info = rpc(rpc_port, "/abci_info")["response"]
        assert abci_info["data"] == "counter txs=1"
        assert int(abci_info["last_block_height"]) > tx_height
        block = rpc(rpc_port, f"/block?height={tx_height + 1}")["block"]
        assert block["header"]["app_hash"] == (1).to_bytes(8, "big").hex().upper()
    finally:
        node.terminate()
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait(timeout=10)

    assert counter_app.tx_count == 1
    errors = [
        r.getMessage() for r in caplog.records if r.name == "abci_app.abci" and r.levelno >= logging.ERROR
    ]
    assert errors == []
    roles = {m for r in caplog.records if "identified as the" in (m := r.getMessage())}
    assert any("consensus connection" in m for m in roles)
    assert any("mempool connection" in m for m in roles)


def abci_cli(address: str, *args: str) -> str:
    """Run one abci-cli command against ``address``; return its stdout."""
    done = subprocess.run(
        [str(ABCI_CLI), *args, "--address", address], capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


def test_abci_cli_echo(abci_address: str) -> None:
    out = abci_cli(abci_address, "echo", "hello")
    assert "-> code: OK" in out
    assert "-> data: hello" in out


def test_abci_cli_info(abci_address: str) -> None:
    out = abci_cli(abci_address, "info")
    assert "-> code: OK" in out
    assert "-> data: counter txs=0" in out


def test_abci_cli_finalize_block_and_commit(abci_address: str, counter_app: CounterApp) -> None:
    out = abci_cli(abci_address, "finalize_block", "0x01", "0x02")
    assert out.count("-> code: OK") == 3  # the block and each of its two txs
    abci_cli(abci_address, "commit")
    assert counter_app.tx_count == 2
    assert "-> data: counter txs=2" in abci_cli(abci_address, "info")
