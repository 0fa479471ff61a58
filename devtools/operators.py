"""Independent operators starting a chain with the genesis ceremony, through the ``taskmaster`` CLI only.

Every step is a ``taskmaster`` command run as a subprocess, exactly as docs/operators.md tells an
operator to type it; files travel between operators only as an operator would send them (the gentx to
the coordinator, the final genesis back). Nothing here writes a node's configuration itself, so what
the tests show is what operators get. Used by the ceremony integration test on loopback, by the
network-namespace harness (each node on its own address, ``devtools/netns.py``) and by
``python -m benchmarks.network``.

An :class:`Operator` says where its node listens (``host`` and ports) and how its commands run
(``prefix``, e.g. ``ip netns exec tm0``: the node's servers then live in that namespace).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abci_app.client import RpcClient, RpcError
from abci_app.node.home import NodePorts
from devtools.localnet import log_tail, say, taskmaster_command, wait_until

OPERATOR_FUNDS = "1000000000utask"
SELF_BOND = "100000000utask"
FAUCET_FUNDS = "1000000000000000utask"
TIMEOUT_COMMIT = "500ms"


class CeremonyFailed(AssertionError):
    """A ``taskmaster`` command of the ceremony failed; the message holds its command line and stderr."""


@dataclass(frozen=True)
class Operator:
    """One operator's node: its home, the address its servers listen on, and how its commands run."""

    index: int
    home: Path
    host: str = "127.0.0.1"
    ports: NodePorts = field(default_factory=NodePorts)
    prefix: tuple[str, ...] = ()  # runs `taskmaster start` (and queries) e.g. inside a namespace
    sim_key: str = ""  # the API key of its price feed (the CoinGecko simulator's per-key behaviour)
    external_port: int = 0  # the port peers dial when not the P2P port (a proxy in front of the node)

    @property
    def name(self) -> str:
        return f"op{self.index}"

    @property
    def rpc(self) -> str:
        return f"http://{self.host}:{self.ports.rpc}"

    @property
    def p2p(self) -> str:
        return f"{self.host}:{self.ports.p2p}"

    def client(self, timeout: float = 5.0) -> RpcClient:
        return RpcClient(self.rpc, timeout=timeout)

    @property
    def log_file(self) -> Path:
        return self.home / "node.log"

    @property
    def cometbft_log(self) -> Path:
        return self.home / "cometbft.log"


def taskmaster(*args: str, stdin: str | None = None, prefix: Sequence[str] = (), timeout: float = 120) -> str:
    """Run one ``taskmaster`` command (as an operator types it); its stdout. CeremonyFailed on failure."""
    command = [*prefix, *taskmaster_command(), *args]
    # the localnet's operators keep their keys in the test keyring (plaintext, no prompts)
    env = {**os.environ, "TASKMASTER_KEYRING_BACKEND": "test"}
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise CeremonyFailed(f"`{' '.join(command)}` exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def tm_json(*args: str, stdin: str | None = None, prefix: Sequence[str] = ()) -> Any:
    """``taskmaster ... --output json``, parsed."""
    return json.loads(taskmaster(*args, "--output", "json", stdin=stdin, prefix=prefix))


def address_flags(op: Operator, *, one_host: bool, timeout_commit: str = TIMEOUT_COMMIT) -> list[str]:
    """The ``taskmaster config`` flags that put every server of ``op`` on its host and ports."""
    p = op.ports
    flags = [
        "--moniker", op.name,
        "--p2p-laddr", op.p2p,
        "--rpc-laddr", f"{op.host}:{p.rpc}",
        "--abci-laddr", f"127.0.0.1:{p.abci}",
        "--grpc-laddr", f"{op.host}:{p.grpc}",
        "--metrics-laddr", f"{op.host}:{p.metrics}" if p.metrics else "",
        "--api-laddr", f"{op.host}:{p.api}" if p.api else "",
        "--external-address", f"{op.host}:{op.external_port or p.p2p}",
        "--addr-book-strict", "false",  # private addresses (loopback, namespaces)
        "--timeout-commit", timeout_commit,
    ]  # fmt: skip
    if one_host:
        flags += ["--allow-duplicate-ip", "true"]
    return flags


def _new_home(op: Operator, chain_id: str, sim_url: str, *, one_host: bool, timeout_commit: str) -> str:
    """``init --no-validator`` with the operator's addresses, then its price feed; the home."""
    home = str(op.home)
    flags = address_flags(op, one_host=one_host, timeout_commit=timeout_commit)
    taskmaster("init", "--no-validator", "--home", home, "--chain-id", chain_id, *flags)
    if sim_url:
        taskmaster(
            "config", "--home", home, "--pricefeed-base-url", sim_url, "--pricefeed-api-key-stdin",
            "--pricefeed-poll-interval", "1", stdin=f"{op.sim_key or 'sim-' + op.name}\n",
        )  # fmt: skip
    return home


def prepare(
    op: Operator, chain_id: str, sim_url: str, *, one_host: bool, timeout_commit: str = TIMEOUT_COMMIT
) -> str:
    """An operator's own steps: init, addresses, price feed, key, genesis account, gentx; its address."""
    home = _new_home(op, chain_id, sim_url, one_host=one_host, timeout_commit=timeout_commit)
    address = str(tm_json("keys", "add", "operator", "--home", home)["address"])
    taskmaster("add-genesis-account", "operator", OPERATOR_FUNDS, "--home", home)
    taskmaster("gentx", "operator", "--amount", SELF_BOND, "--moniker", op.name, "--home", home)
    return address


def ceremony(
    operators: Sequence[Operator],
    chain_id: str,
    sim_url: str,
    *,
    one_host: bool,
    timeout_commit: str = TIMEOUT_COMMIT,
) -> Path:
    """The whole ceremony; operator 0 coordinates (and keeps a funded ``faucet`` key). The genesis path."""
    say(f"genesis ceremony of {chain_id}: {len(operators)} operators, {operators[0].name} coordinates")
    addresses = [
        prepare(op, chain_id, sim_url, one_host=one_host, timeout_commit=timeout_commit) for op in operators
    ]
    lead = operators[0]
    home = str(lead.home)
    taskmaster("keys", "add", "faucet", "--home", home)
    taskmaster("add-genesis-account", "faucet", FAUCET_FUNDS, "--home", home)
    inbox = lead.home / "config" / "gentx"
    for op, address in zip(operators[1:], addresses[1:], strict=True):
        taskmaster("add-genesis-account", address, OPERATOR_FUNDS, "--home", home)
        for gentx in (op.home / "config" / "gentx").glob("*.json"):
            shutil.copy(gentx, inbox)  # the operator sends its gentx file to the coordinator
    taskmaster("collect-gentxs", "--home", home)
    taskmaster("validate-genesis", "--home", home)
    genesis = lead.home / "config" / "genesis.json"
    for op in operators[1:]:
        shutil.copy(genesis, op.home / "config" / "genesis.json")  # the coordinator hands it out
        taskmaster("validate-genesis", "--home", str(op.home))
        taskmaster("config", "--home", str(op.home), "--peers-from-genesis")
    return genesis


def join(
    op: Operator,
    chain_id: str,
    genesis: Path,
    sim_url: str,
    *,
    one_host: bool,
    timeout_commit: str = TIMEOUT_COMMIT,
) -> str:
    """A node that joins after genesis: init, addresses, price feed, the chain's genesis, peers; its key."""
    home = _new_home(op, chain_id, sim_url, one_host=one_host, timeout_commit=timeout_commit)
    shutil.copy(genesis, op.home / "config" / "genesis.json")
    taskmaster("validate-genesis", "--home", home)
    taskmaster("config", "--home", home, "--peers-from-genesis")
    return str(tm_json("keys", "add", "operator", "--home", home)["address"])


def start_simulator(
    root: Path, port: int, keys: Sequence[str], *, host: str = "127.0.0.1", prefix: Sequence[str] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """The CoinGecko simulator on ``host:port``, one API key per operator; the process and base URL."""
    from devtools.localnet import simulator_settings

    settings = simulator_settings(0)
    settings["keys"] = {key: {} for key in keys}
    config = root / "simulator.json"
    config.write_text(json.dumps(settings, indent=2) + "\n")
    script = Path(__file__).resolve().parents[1] / "scripts" / "coingecko_sim.py"
    command = [
        *prefix,
        sys.executable,
        str(script),
        "--host",
        host,
        "--port",
        str(port),
        "--config",
        str(config),
    ]
    with open(root / "simulator.log", "ab") as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://{host}:{port}/api/v3"
    if not wait_until(lambda: _answers(url) or proc.poll() is not None, 20.0, 0.2) or proc.poll() is not None:
        raise CeremonyFailed(
            f"the CoinGecko simulator did not start on {host}:{port}: {log_tail(root / 'simulator.log')}"
        )
    return proc, url


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # it answers
    except OSError:
        return False


class Nodes:
    """The running ``taskmaster start`` of each operator, every one stopped by :meth:`close`."""

    def __init__(self) -> None:
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, op: Operator) -> subprocess.Popen[bytes]:
        """``taskmaster start --home H`` (with the operator's prefix), output appended to its node.log."""
        with open(op.log_file, "ab") as log:
            proc = subprocess.Popen(
                [*op.prefix, *taskmaster_command(), "start", "--home", str(op.home), "--quiet"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                cwd=op.home,
            )
        self.procs[op.index] = proc
        return proc

    def running(self, op: Operator) -> bool:
        proc = self.procs.get(op.index)
        return proc is not None and proc.poll() is None

    def stop(self, op: Operator, timeout: float = 20.0) -> None:
        """SIGTERM the node (it stops its CometBFT), then SIGKILL its whole session if it lingers."""
        proc = self.procs.pop(op.index, None)
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    def close(self) -> None:
        for proc in list(self.procs.values()):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for index in list(self.procs):
            self.stop(Operator(index, Path()))


def height(op: Operator) -> int:
    """The node's latest height, 0 when it does not answer."""
    try:
        return op.client(timeout=2.0).height()
    except (RpcError, KeyError, ValueError, OSError):
        return 0


def wait_for_heights(operators: Sequence[Operator], target: int, timeout: float) -> bool:
    """Wait until every operator's node reports ``target`` or more."""
    return wait_until(lambda: all(height(op) >= target for op in operators), timeout, 0.5)


def logs(operators: Sequence[Operator], lines: int = 20) -> str:
    """The tails of the operators' logs (for failure messages)."""
    parts = []
    for op in operators:
        for path in (op.log_file, op.cometbft_log):
            parts.append(f"----- tail of {path} -----\n{log_tail(path, lines)}")
    return "\n".join(parts)
