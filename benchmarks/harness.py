"""Starting real nodes for benchmarks: our application under CometBFT, or ``abci-cli kvstore``.

Everything binds to 127.0.0.1 on free ports and is stopped when the context manager exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey
from taskmaster.bank.v1 import bank_pb2

from abci_app.client import RpcClient
from abci_app.node.home import NodePorts, cometbft_binary, init_network, patch_toml
from abci_app.node.keyring import Keyring
from tests.app.driver import address_of, seeded_key

ROOT = Path(__file__).resolve().parent.parent
ABCI_CLI = str(ROOT / ".tools" / "bin" / "abci-cli")


def free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass
class RunningNode:
    """A node the benchmark talks to."""

    home: Path
    rpc: str
    grpc: str
    client: RpcClient


def _wait_height(
    client: RpcClient, height: int, procs: list[subprocess.Popen[bytes]], log: Path, timeout: float = 90.0
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if client.height() >= height:
                return
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError(f"node did not reach height {height}; see {log}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def taskmaster_node(
    workdir: Path,
    timeout_commit: str = "500ms",
    *,
    app_state: dict[str, Any] | None = None,
    app_settings: dict[str, Any] | None = None,
    start_timeout: float = 90.0,
) -> Iterator[RunningNode]:
    """A single-validator Taskmaster chain (our app + CometBFT) in ``workdir``.

    ``app_state`` replaces module sections of the genesis, ``app_settings`` adds to ``app.json``.
    """
    home = workdir / "taskmaster"
    rpc, p2p, abci_port, grpc_port = free_ports(4)
    init_network(
        [home],
        [NodePorts(rpc, p2p, abci_port, grpc_port, metrics=0, api=0)],
        "bench-1",
        timeout_commit=timeout_commit,
        extra_app_state=app_state,
    )
    if app_settings:
        path = home / "config" / "app.json"
        settings = json.loads(path.read_text()) if path.exists() else {}
        path.write_text(json.dumps({**settings, **app_settings}))
    _mempool_settings(home)
    log = workdir / "taskmaster.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "abci_app.cli", "start", "--home", str(home), "--quiet"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = RpcClient(f"http://127.0.0.1:{rpc}")
    try:
        _wait_height(client, 2, [proc], log, start_timeout)
        yield RunningNode(home, client.node, f"127.0.0.1:{grpc_port}", client)
    finally:
        _stop([proc])


@contextlib.contextmanager
def kvstore_node(workdir: Path, timeout_commit: str = "500ms") -> Iterator[RunningNode]:
    """CometBFT with ``abci-cli kvstore`` over the same socket transport, same consensus settings."""
    home = workdir / "kvstore"
    rpc, p2p, abci_port = free_ports(3)
    subprocess.run([cometbft_binary(), "init", "--home", str(home)], check=True, capture_output=True)
    config = home / "config" / "config.toml"
    config.write_text(
        patch_toml(
            config.read_text(),
            {
                ("", "proxy_app"): f'"tcp://127.0.0.1:{abci_port}"',
                ("rpc", "laddr"): f'"tcp://127.0.0.1:{rpc}"',
                ("p2p", "laddr"): f'"tcp://127.0.0.1:{p2p}"',
                ("consensus", "timeout_commit"): f'"{timeout_commit}"',
            },
        )
    )
    _mempool_settings(home)
    log = workdir / "kvstore.log"
    with open(log, "wb") as out:
        app = subprocess.Popen(
            [ABCI_CLI, "kvstore", "--address", f"tcp://127.0.0.1:{abci_port}", "--log_level", "error"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        time.sleep(0.5)
        node = subprocess.Popen(
            [cometbft_binary(), "start", "--home", str(home)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = RpcClient(f"http://127.0.0.1:{rpc}")
    try:
        _wait_height(client, 2, [app, node], log)
        yield RunningNode(home, client.node, "", client)
    finally:
        _stop([node, app])


def _mempool_settings(home: Path) -> None:
    """The same mempool limits for both nodes, large enough for the offered load."""
    config = home / "config" / "config.toml"
    config.write_text(
        patch_toml(
            config.read_text(),
            {("mempool", "size"): "20000", ("mempool", "cache_size"): "40000", ("", "log_level"): '"error"'},
        )
    )


def fund_senders(node: RunningNode, label: str, count: int, amount: int) -> list[SigningKey]:
    """``count`` deterministic keys ``<label>-<i>``, each sent ``amount`` utask by the faucet in one tx."""
    faucet = Keyring(node.home, "test").get("faucet")
    keys = [seeded_key(f"{label}-{i}") for i in range(count)]
    funding = [
        bank_pb2.MsgSend(
            from_address=faucet.address,
            to_address=address_of(k),
            amount=[bank_pb2.Coin(denom="utask", amount=str(amount))],
        )
        for k in keys
    ]
    result = node.client.sign_and_broadcast(
        faucet.signing_key, faucet.address, list(funding), fee=50_000, gas_limit=20_000_000
    )
    if result["tx_result"]["code"] != 0:
        raise RuntimeError(f"funding failed: {result['tx_result']['log']}")
    return keys
