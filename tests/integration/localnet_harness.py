"""Real multi-process chains for the integration tests: a localnet the test owns, and a single node.

Every process is started in its own session and remembered; :meth:`Cluster.close` stops them all
(SIGTERM, then SIGKILL of the whole process group) and any CometBFT still running with one of the
homes, whatever happened in the test.

Nodes listed in ``split`` run as two processes the harness owns, ``taskmaster start --no-cometbft``
(the app) and ``cometbft start`` (the node), so that each can be SIGKILLed and restarted on its own.
The other nodes run ``taskmaster start``, which supervises its CometBFT child.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abci_app.client import RpcClient, RpcError
from devtools import localnet
from devtools.localnet import Localnet

START_TIMEOUT = 90.0
APP_HASH_MISMATCH = re.compile(
    r"wrong Block\.Header\.AppHash|AppHash does not match|app ?hash mismatch|CONSENSUS FAILURE",
    re.IGNORECASE,
)


class HarnessError(AssertionError):
    """A bounded wait ran out; the message carries the tails of the relevant logs."""


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> None:
    """Poll ``predicate`` until it holds; raise :class:`HarnessError` naming ``what`` after ``timeout``."""
    if not localnet.wait_until(predicate, timeout, interval):
        raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}")


def height_of(rpc: str) -> int:
    """The node's latest height, 0 when it does not answer."""
    try:
        return RpcClient(rpc, timeout=2.0).height()
    except (RpcError, KeyError, ValueError):
        return 0


def wait_for_height(rpc: str, height: int, timeout: float = 30.0) -> int:
    """Wait until the node at ``rpc`` reports ``height`` or more; return the height reached."""
    reached = 0

    def check() -> bool:
        nonlocal reached
        reached = height_of(rpc)
        return reached >= height

    wait_for(check, timeout, f"{rpc} to reach height {height} (last seen {reached})")
    return reached


def block_app_hash(rpc: str, height: int, timeout: float = 30.0) -> str:
    """The app hash in the header of block ``height`` (hex, upper case as CometBFT prints it).

    Waits (up to ``timeout``) for the node to have that block: the node asked may lag the one whose
    answer named the height by a block or two, the more so on a loaded machine.
    """
    wait_for_height(rpc, height, timeout)
    block = RpcClient(rpc, timeout=5.0).call("block", {"height": str(height)})
    return str(block["block"]["header"]["app_hash"]).upper()


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process, wait, then SIGKILL its whole process group (it leads its own session)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@dataclass
class NodeProcs:
    """The processes of one node: ``app`` (``taskmaster start``) and, for split nodes, ``cometbft``."""

    app: subprocess.Popen[bytes] | None = None
    cometbft: subprocess.Popen[bytes] | None = None


class Cluster:
    """A localnet of real processes in ``root`` on free loopback ports, owned by the test session."""

    def __init__(self, net: Localnet, split: Collection[int] = ()) -> None:
        self.net = net
        self.split = set(split)
        self.procs = [NodeProcs() for _ in range(net.size)]
        self._retired: list[subprocess.Popen[bytes]] = []
        self.simulator: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls,
        root: Path,
        nodes: int = 4,
        split: Collection[int] = (),
        *,
        chain_id: str = localnet.CHAIN_ID,
        timeout_commit: str = localnet.TIMEOUT_COMMIT,
        app_state: dict[str, Any] | None = None,
    ) -> Cluster:
        """Init ``nodes`` validator homes in ``root`` on free loopback ports (nothing started yet)."""
        base = localnet.find_free_base(nodes + 1)
        net = localnet.init(
            root, nodes, base, chain_id=chain_id, timeout_commit=timeout_commit, app_state=app_state
        )
        return cls(net, split)

    # -- addresses --------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.net.size

    def rpc(self, i: int) -> str:
        return self.net.rpc(i)

    def grpc(self, i: int) -> str:
        return self.net.grpc(i)

    def client(self, i: int) -> RpcClient:
        return RpcClient(self.net.rpc(i), timeout=10.0)

    def home(self, i: int) -> Path:
        return self.net.home(i)

    @property
    def keyring_home(self) -> Path:
        """The home whose keyring holds the funded ``faucet`` key."""
        return self.net.home(0)

    def heights(self, nodes: Sequence[int] | None = None) -> list[int]:
        return [height_of(self.rpc(i)) for i in (range(self.size) if nodes is None else nodes)]

    def wait_for_height(self, height: int, timeout: float = 30.0, nodes: Sequence[int] | None = None) -> None:
        """Wait until every node in ``nodes`` (default all) reaches ``height``; logs in the error."""
        indices = list(range(self.size)) if nodes is None else list(nodes)
        try:
            wait_for(
                lambda: min(self.heights(indices)) >= height,
                timeout,
                f"nodes {indices} to reach height {height} (heights {self.heights(indices)})",
                0.5,
            )
        except HarnessError as exc:
            raise HarnessError(f"{exc}\n{self.logs(indices)}") from None

    def logs(self, nodes: Sequence[int] | None = None, lines: int = 25) -> str:
        parts = []
        for i in range(self.size) if nodes is None else nodes:
            for path in (self.net.log_file(i), self.net.cometbft_log(i)):
                parts.append(f"----- tail of {path} -----\n{localnet.log_tail(path, lines)}")
        return "\n".join(parts)

    # -- processes --------------------------------------------------------------------------------

    @property
    def sim_admin(self) -> str:
        """The simulator's admin base URL (``POST {sim_admin}/keys/<key>`` changes a key's behaviour)."""
        return f"http://127.0.0.1:{self.net.sim_port}/_sim"

    def set_feed(self, i: int, settings: dict[str, object]) -> None:
        """Change what the simulator serves to validator ``i``'s API key (``sim-node<i>``)."""
        request = urllib.request.Request(
            f"{self.sim_admin}/keys/sim-node{i}",
            data=json.dumps(settings).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the CoinGecko simulator and every node; wait for height 3 on all of them."""
        self.simulator = localnet.start_simulator(self.net)
        wait_for(lambda: port_open(self.net.sim_port), 20.0, "the CoinGecko simulator to listen")
        for i in range(self.size):
            self.start_app(i)
            if i in self.split:
                self.start_cometbft(i)
        self.wait_for_height(localnet.UP_HEIGHT, timeout)

    def start_app(self, i: int, env: dict[str, str] | None = None) -> None:
        """Start node ``i``'s application (with its supervised CometBFT unless the node is split)."""
        procs = self.procs[i]
        if procs.app is not None and procs.app.poll() is None:
            raise RuntimeError(f"node{i}'s app is already running (pid {procs.app.pid})")
        if procs.app is not None:
            self._retired.append(procs.app)
        procs.app = localnet.start_app(self.net, i, with_cometbft=i not in self.split, env=env)
        port = self.net.ports[i].grpc  # the gRPC server starts right after the ABCI server

        def listening() -> bool:
            if procs.app is not None and procs.app.poll() is not None:
                raise HarnessError(f"node{i}'s app exited with {procs.app.returncode}\n{self.logs([i])}")
            return port_open(port)

        wait_for(listening, 30.0, f"node{i}'s app to listen on {port}")

    def start_cometbft(self, i: int) -> None:
        """Start node ``i``'s CometBFT as a process of its own (split nodes only)."""
        if i not in self.split:
            raise RuntimeError(f"node{i} runs CometBFT under its app; create the cluster with split={{{i}}}")
        procs = self.procs[i]
        if procs.cometbft is not None and procs.cometbft.poll() is None:
            raise RuntimeError(f"node{i}'s cometbft is already running (pid {procs.cometbft.pid})")
        if procs.cometbft is not None:
            self._retired.append(procs.cometbft)
        procs.cometbft = localnet.start_cometbft(self.net, i)

    def kill_app(self, i: int) -> None:
        """SIGKILL node ``i``'s application process (only that process) and reap it."""
        proc = self.procs[i].app
        assert proc is not None and proc.poll() is None, f"node{i}'s app is not running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def kill_cometbft(self, i: int) -> None:
        """SIGKILL node ``i``'s CometBFT process (split nodes only) and reap it."""
        proc = self.procs[i].cometbft
        assert proc is not None and proc.poll() is None, f"node{i}'s cometbft is not running"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def wait_until_cometbft_exits(self, i: int, timeout: float) -> bool:
        """Wait for node ``i``'s separate CometBFT to exit on its own; return whether it did."""
        return localnet.wait_until(lambda: not self.cometbft_running(i), timeout, 0.2)

    def stop_cometbft(self, i: int) -> None:
        """Stop node ``i``'s separate CometBFT (SIGTERM, then SIGKILL)."""
        proc = self.procs[i].cometbft
        if proc is not None:
            _stop_group(proc)

    def app_running(self, i: int) -> bool:
        proc = self.procs[i].app
        return proc is not None and proc.poll() is None

    def cometbft_running(self, i: int) -> bool:
        proc = self.procs[i].cometbft
        return proc is not None and proc.poll() is None

    def cometbft_log_size(self, i: int) -> int:
        try:
            return self.net.cometbft_log(i).stat().st_size
        except OSError:
            return 0

    def cometbft_log_since(self, i: int, offset: int) -> str:
        with open(self.net.cometbft_log(i), "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def close(self) -> None:
        """Stop every process this cluster started, and any CometBFT left with one of its homes."""
        procs: list[subprocess.Popen[bytes]] = []
        for node in self.procs:
            procs += [p for p in (node.cometbft, node.app) if p is not None]
        procs += self._retired
        if self.simulator is not None:
            procs.append(self.simulator)
        for proc in procs:  # SIGTERM all first so the nodes stop in parallel
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15.0
        for proc in procs:
            _stop_group(proc, max(0.1, deadline - time.monotonic()))
        for i in range(self.size):
            leftovers = localnet.cometbft_pids(self.net.home(i))
            if leftovers:
                localnet.stop_pids(leftovers, timeout=5.0, groups=False)


@dataclass
class SingleNode:
    """One validator run by ``taskmaster start``: what other tests need to talk to it."""

    home: Path
    rpc: str
    grpc: str
    chain_id: str
    faucet_key: str
    keyring_home: Path
    cluster: Cluster

    def client(self) -> RpcClient:
        return RpcClient(self.rpc, timeout=30.0)

    def cli(self, *args: str, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """Run the real ``taskmaster`` CLI against this node (``--node`` and ``--home`` filled in)."""
        return run_cli(*args, node=self.rpc, home=self.keyring_home, check=check, timeout=timeout)


def run_cli(
    *args: str, node: str, home: Path | None = None, check: bool = True, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """``taskmaster <args> --node <node> [--home <home>] --output json`` as a subprocess."""
    cmd = [*localnet.taskmaster_command(), *args, "--node", node, "--output", "json"]
    if home is not None:
        cmd += ["--home", str(home)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited with {result.returncode}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def proof_ops(answer_ops: Sequence[dict[str, Any]]) -> list[Any]:
    """CometBFT's JSON proof ops (base64 key and data) as the store's ``ProofOp`` values."""
    import base64

    from abci_app.store.proofs import ProofOp

    return [
        ProofOp(
            type=op["type"],
            key=base64.b64decode(op.get("key") or ""),
            data=base64.b64decode(op.get("data") or ""),
        )
        for op in answer_ops
    ]
