"""A multi-validator chain on 127.0.0.1: ``python -m devtools.localnet up|down|status|env``.

``scripts/localnet.sh`` is the entry point people use; the integration tests call the functions here.

Layout of ``<dir>`` (``.localnet`` by default)::

    localnet.json      chain id and the ports of every node (written once the homes are complete)
    node<i>/           a CometBFT home made by ``init_network`` (node0 also holds the funded ``faucet`` key)
    node<i>/node.log   output of ``taskmaster start`` (the app); CometBFT logs to ``node<i>/cometbft.log``
    node<i>/node.pid   pid of ``taskmaster start`` (leader of its own session: CometBFT is in that group)

Node ``i`` uses ports ``base + 10*i + {0: rpc, 1: p2p, 2: abci, 3: grpc, 4: metrics, 5: api}``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from abci_app.client import RpcClient, RpcError
from abci_app.node.home import AppSettings, NodePorts, _node_id, cometbft_binary, init_network, patch_toml
from abci_app.pricefeed.config import FeedConfig
from abci_app.statesync.snapshots import SnapshotStore

CHAIN_ID = "taskmaster-localnet"
DEFAULT_DIR = ".localnet"
DEFAULT_NODES = 4
DEFAULT_BASE_PORT = 27000
PORT_STRIDE = 10
TIMEOUT_COMMIT = "500ms"
UP_HEIGHT = 3
UP_TIMEOUT = 120.0
STOP_TIMEOUT = 20.0
MANIFEST = "localnet.json"
SNAPSHOT_INTERVAL = 20  # `up`'s validators take a state-sync snapshot every 20 blocks (10 s at 500 ms)
SNAPSHOT_KEEP_RECENT = 10  # and keep 100 s of them: longer than a join's sync takes (docs/statesync.md)


class LocalnetError(Exception):
    """Something the user has to fix (the message says what)."""


def say(message: str) -> None:
    """One progress line (every long step says what it is doing)."""
    print(f"==> {message}", flush=True)


# -- layout -----------------------------------------------------------------------------------------


def ports_for(base: int, index: int) -> NodePorts:
    """The ports of node ``index`` for a base port."""
    first = base + PORT_STRIDE * index
    return NodePorts(
        rpc=first, p2p=first + 1, abci=first + 2, grpc=first + 3, metrics=first + 4, api=first + 5
    )


@dataclass(frozen=True)
class Localnet:
    """A localnet directory and the ports of its nodes."""

    root: Path
    chain_id: str
    ports: tuple[NodePorts, ...]
    sim_port: int = 0  # the CoinGecko simulator every node's price feed points at

    @property
    def size(self) -> int:
        return len(self.ports)

    def home(self, i: int) -> Path:
        return self.root / f"node{i}"

    def rpc(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i].rpc}"

    def grpc(self, i: int) -> str:
        return f"127.0.0.1:{self.ports[i].grpc}"

    def client(self, i: int, timeout: float = 5.0) -> RpcClient:
        return RpcClient(self.rpc(i), timeout=timeout)

    def pid_file(self, i: int) -> Path:
        return self.home(i) / "node.pid"

    def log_file(self, i: int) -> Path:
        return self.home(i) / "node.log"

    def cometbft_log(self, i: int) -> Path:
        return self.home(i) / "cometbft.log"

    def save(self) -> None:
        data = {
            "chain_id": self.chain_id,
            "nodes": [asdict(p) for p in self.ports],
            "sim_port": self.sim_port,
        }
        (self.root / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> Localnet:
        root = root.resolve()
        path = root / MANIFEST
        if not path.exists():
            raise LocalnetError(f"no localnet in {root} ({MANIFEST} missing); run `scripts/localnet.sh up`")
        data = json.loads(path.read_text())
        return cls(
            root, data["chain_id"], tuple(NodePorts(**p) for p in data["nodes"]), int(data.get("sim_port", 0))
        )

    @property
    def sim_url(self) -> str:
        """Base URL of the localnet's CoinGecko simulator."""
        return f"http://127.0.0.1:{self.sim_port}/api/v3"

    @property
    def sim_config(self) -> Path:
        return self.root / "simulator.json"

    @property
    def sim_pid_file(self) -> Path:
        return self.root / "simulator.pid"

    @property
    def sim_log(self) -> Path:
        return self.root / "simulator.log"


def port_free(port: int) -> bool:
    """True when ``port`` can be bound on 127.0.0.1 (as servers do: connections in TIME_WAIT are fine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def find_free_base(nodes: int, start: int = 20000, stop: int = 32000, step: int = 97) -> int:
    """A base port whose ``nodes`` port blocks are all free right now (for tests on a busy machine).

    The default range lies below Linux's ephemeral ports (32768+), so outgoing connections do not take
    them between this check and the nodes binding them.
    """
    base = start + (os.getpid() * 131) % (stop - start)
    for _ in range((stop - start) // step):
        if base + PORT_STRIDE * nodes >= stop:
            base = start + base % step
        if all(port_free(p) for i in range(nodes) for p in asdict(ports_for(base, i)).values()):
            return base
        base += step
    raise LocalnetError(f"no free block of {PORT_STRIDE * nodes} ports between {start} and {stop}")


def simulator_settings(nodes: int) -> dict[str, Any]:
    """The localnet simulator's configuration: one API key per validator, all serving the same prices."""
    return {
        "coins": {"bitcoin": {"usd": "67187.33"}, "ethereum": {"usd": "3512.08"}},
        "drift_per_s": {"bitcoin/usd": "0.5", "ethereum/usd": "0.01"},
        "keys": {f"sim-node{i}": {} for i in range(nodes)},
    }


def init(
    root: Path,
    nodes: int,
    base_port: int,
    *,
    chain_id: str = CHAIN_ID,
    timeout_commit: str = TIMEOUT_COMMIT,
    app_state: dict[str, Any] | None = None,
    snapshot_interval: int = 0,
) -> Localnet:
    """Create ``nodes`` homes with a shared genesis under ``root`` and write the manifest.

    Each node's price feed (``config/pricefeed.json``, 0600) points at the localnet's simulator with
    its own API key ``sim-node<i>``; ``app_state`` adds module genesis (e.g. faster oracle params).
    ``snapshot_interval`` (0: none) makes every validator serve state-sync snapshots, keeping
    ``SNAPSHOT_KEEP_RECENT`` of them.
    """
    if nodes < 1:
        raise LocalnetError("--nodes must be at least 1")
    if base_port < 1024 or base_port + PORT_STRIDE * nodes + 1 > 65535:
        raise LocalnetError(f"--base-port {base_port} leaves no room for {nodes} nodes below 65536")
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    net = Localnet(
        root, chain_id, tuple(ports_for(base_port, i) for i in range(nodes)), base_port + PORT_STRIDE * nodes
    )
    for i in range(nodes):
        if net.home(i).exists():
            raise LocalnetError(
                f"{net.home(i)} exists but {root} holds no complete localnet; "
                f"remove it with `scripts/localnet.sh down --purge` (or rm -rf {root})"
            )
    init_network(
        [net.home(i) for i in range(nodes)],
        list(net.ports),
        chain_id,
        timeout_commit=timeout_commit,
        extra_app_state=app_state,
    )
    if snapshot_interval:
        for i in range(nodes):
            settings = AppSettings.load(net.home(i))
            dataclasses.replace(
                settings, snapshot_interval=snapshot_interval, snapshot_keep_recent=SNAPSHOT_KEEP_RECENT
            ).save(net.home(i))
    net.sim_config.write_text(json.dumps(simulator_settings(nodes), indent=2) + "\n")
    for i in range(nodes):
        FeedConfig(base_url=net.sim_url, api_key=f"sim-node{i}", poll_interval_s=1.0, timeout_s=2.0).save(
            net.home(i)
        )
    net.save()
    return net


def start_simulator(net: Localnet) -> subprocess.Popen[bytes]:
    """Start the CoinGecko simulator of the localnet in a new session (output in ``simulator.log``)."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "coingecko_sim.py"
    with open(net.sim_log, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), "--port", str(net.sim_port), "--config", str(net.sim_config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_node_env(),
        )
    net.sim_pid_file.write_text(f"{proc.pid}\n")
    return proc


# -- processes --------------------------------------------------------------------------------------


def _node_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def taskmaster_command() -> list[str]:
    """How to run the ``taskmaster`` CLI of this interpreter (its console script when installed)."""
    script = Path(sys.executable).parent / "taskmaster"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "abci_app.cli"]


def start_app(
    net: Localnet, i: int, *, with_cometbft: bool = True, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``taskmaster start`` for node ``i`` in a new session, output appended to ``node.log``."""
    cmd = [*taskmaster_command(), "start", "--home", str(net.home(i)), "--quiet"]
    if not with_cometbft:
        cmd.append("--no-cometbft")
    with open(net.log_file(i), "ab") as log:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**_node_env(), **(env or {})},
            cwd=net.home(i),
        )


def start_cometbft(net: Localnet, i: int) -> subprocess.Popen[bytes]:
    """Start ``cometbft start`` for node ``i`` on its own (for an app run with ``--no-cometbft``)."""
    with open(net.cometbft_log(i), "ab") as log:
        return subprocess.Popen(
            [cometbft_binary(), "start", "--home", str(net.home(i))],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=net.home(i),
        )


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def read_pid(net: Localnet, i: int) -> int | None:
    """The pid of node ``i``'s ``taskmaster start`` when it still runs with that home, else None."""
    try:
        pid = int(net.pid_file(i).read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    cmdline = _cmdline(pid)
    if cmdline and str(net.home(i)) not in cmdline:
        return None  # the pid was reused by another process
    return pid


def _read_pid_file(path: Path) -> int | None:
    """The pid in ``path`` when that process (our simulator) is still alive, else None."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid) or "coingecko_sim.py" not in " ".join(_cmdline(pid)):
        return None
    return pid


def cometbft_pids(home: Path) -> list[int]:
    """Pids of ``cometbft start --home <home>`` processes (exact home match)."""
    pids = []
    binary = Path(cometbft_binary()).name
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        cmd = _cmdline(int(entry.name))
        if (
            len(cmd) >= 4
            and Path(cmd[0]).name == binary
            and cmd[1] == "start"
            and "--home" in cmd
            and cmd.index("--home") + 1 < len(cmd)
            and Path(cmd[cmd.index("--home") + 1]).resolve() == home.resolve()
        ):
            pids.append(int(entry.name))
    return pids


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _signal(pid: int, sig: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def stop_pids(pids: Sequence[int], timeout: float = STOP_TIMEOUT, *, groups: bool = True) -> list[int]:
    """SIGTERM ``pids`` (and their process groups when they lead one), wait, SIGKILL what is left.

    Returns the pids that needed SIGKILL.
    """
    leaders = {pid for pid in pids if groups and _is_group_leader(pid)}
    for pid in pids:
        _signal(pid, signal.SIGTERM, group=False)
    wait_until(lambda: not any(pid_alive(p) for p in pids), timeout, 0.1)
    killed = [pid for pid in pids if pid_alive(pid)]
    for pid in pids:
        if pid in leaders:
            _signal(pid, signal.SIGKILL, group=True)  # the whole group: stragglers and their children
        elif pid in killed:
            _signal(pid, signal.SIGKILL, group=False)
    wait_until(lambda: not any(pid_alive(p) for p in pids), 5.0, 0.05)
    return killed


def _is_group_leader(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except (ProcessLookupError, PermissionError):
        return False


# -- heights ----------------------------------------------------------------------------------------


def node_height(net: Localnet, i: int) -> int | None:
    """The latest block height of node ``i``, or None when its RPC does not answer."""
    try:
        return net.client(i, timeout=2.0).height()
    except (RpcError, KeyError, ValueError):
        return None


def wait_for_heights(net: Localnet, height: int, timeout: float, nodes: Sequence[int] | None = None) -> bool:
    """Wait until every node in ``nodes`` (default all) reports a height >= ``height``."""
    indices = list(range(net.size)) if nodes is None else list(nodes)

    def reached() -> bool:
        return all((node_height(net, i) or 0) >= height for i in indices)

    return wait_until(reached, timeout, 0.5)


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file (empty when missing)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# -- commands ---------------------------------------------------------------------------------------


def up(root: Path, nodes: int, base_port: int, timeout: float = UP_TIMEOUT) -> Localnet:
    """Init the homes when needed, start every node that is not running, wait for height >= 3."""
    root = root.resolve()
    if not (root / "node0" / "config" / "genesis.json").exists():
        say(f"initializing {nodes} validator homes in {root} (chain {CHAIN_ID}, ports from {base_port})")
        net = init(root, nodes, base_port, snapshot_interval=SNAPSHOT_INTERVAL)
    else:
        if not (root / MANIFEST).exists():
            raise LocalnetError(
                f"{root} holds node homes but no {MANIFEST} (an interrupted init?); "
                f"remove it with `scripts/localnet.sh down --purge` and run `up` again"
            )
        net = Localnet.load(root)
        if net.size != nodes:
            say(f"{root} already holds a {net.size}-node localnet; using it (ignoring --nodes {nodes})")
    if net.sim_port:
        sim_pid = _read_pid_file(net.sim_pid_file)
        if sim_pid is None:
            if not port_free(net.sim_port):
                raise LocalnetError(f"simulator port {net.sim_port} is in use by another program")
            proc = start_simulator(net)
            say(f"CoinGecko simulator started (pid {proc.pid}) at {net.sim_url}, one API key per validator")
    for i in range(net.size):
        pid = read_pid(net, i)
        if pid is not None:
            say(f"node{i} already running (pid {pid})")
            continue
        leftovers = cometbft_pids(net.home(i))
        if leftovers:
            say(f"node{i}: stopping leftover cometbft {leftovers}")
            stop_pids(leftovers, groups=False)
        busy = [p for p in asdict(net.ports[i]).values() if not port_free(p)]
        if busy:
            raise LocalnetError(
                f"node{i}: ports {busy} are in use by another program; "
                f"stop it or re-create the localnet with another --base-port"
            )
        proc = start_app(net, i)
        net.pid_file(i).write_text(f"{proc.pid}\n")
        say(f"node{i} started (pid {proc.pid}): rpc {net.rpc(i)}, grpc {net.grpc(i)}, log {net.log_file(i)}")
    say(f"waiting for every node to reach height {UP_HEIGHT} (at most {timeout:.0f}s)")
    deadline = time.monotonic() + timeout
    last: list[int | None] = []
    while time.monotonic() < deadline:
        current = [node_height(net, i) for i in range(net.size)]
        if current != last:
            say(
                "heights: "
                + ", ".join(f"node{i}={h if h is not None else '-'}" for i, h in enumerate(current))
            )
            last = current
        if all((h or 0) >= UP_HEIGHT for h in current):
            say(f"localnet is up: {net.size} validators; `scripts/localnet.sh env` prints the addresses")
            return net
        dead = [i for i in range(net.size) if read_pid(net, i) is None]
        if dead:
            _print_logs(net, dead)
            raise LocalnetError(f"node(s) {dead} exited while starting; their logs are above")
        time.sleep(1.0)
    _print_logs(net, range(net.size))
    raise LocalnetError(f"the localnet did not reach height {UP_HEIGHT} within {timeout:.0f}s; logs above")


def _print_logs(net: Localnet, nodes: Sequence[int] | range) -> None:
    for i in nodes:
        for path in (net.log_file(i), net.cometbft_log(i)):
            print(f"----- tail of {path} -----", file=sys.stderr)
            print(log_tail(path), file=sys.stderr)


def down(root: Path, *, purge: bool = False) -> None:
    """Stop every node (SIGTERM, then SIGKILL after a wait) and any leftover CometBFT of its homes."""
    root = root.resolve()
    try:
        net: Localnet | None = Localnet.load(root)
    except LocalnetError:
        net = None
    homes = sorted(root.glob("node*")) if root.exists() else []
    if net is not None:
        pids = {i: read_pid(net, i) for i in range(net.size)}
        running = [p for p in pids.values() if p is not None]
        if running:
            say(f"stopping {len(running)} node(s): pids {running}")
            killed = stop_pids(running)
            if killed:
                say(f"killed stragglers with SIGKILL: {killed}")
        else:
            say("no node process running")
        for i in range(net.size):
            net.pid_file(i).unlink(missing_ok=True)
        sim_pid = _read_pid_file(net.sim_pid_file)
        if sim_pid is not None:
            say(f"stopping the CoinGecko simulator (pid {sim_pid})")
            stop_pids([sim_pid])
        net.sim_pid_file.unlink(missing_ok=True)
    for joined in sorted(root.glob("join*")) if root.exists() else []:
        pid = _join_pid(joined)
        if pid is not None:
            say(f"stopping {joined.name} (pid {pid})")
            stop_pids([pid])
        (joined / JOIN_PID).unlink(missing_ok=True)
        homes.append(joined)
    for home in homes:
        leftovers = cometbft_pids(home)
        if leftovers:
            say(f"stopping leftover cometbft of {home.name}: {leftovers}")
            stop_pids(leftovers, groups=False)
    if purge and root.exists():
        say(f"removing {root}")
        shutil.rmtree(root)
    say("localnet is down")


# -- joining a running localnet ---------------------------------------------------------------------

JOIN_PID = "taskmaster.pid"
JOIN_MANIFEST = "join.json"  # the joined node's ports, for `env`
TRUST_PERIOD = "168h0m0s"


def join(root: Path, *, state_sync: bool, timeout: float = UP_TIMEOUT) -> Path:
    """Add a non-validator node ``join<k>`` to the running localnet; return its home once it is at the head.

    With ``state_sync`` its ``[statesync]`` section is filled from a live node (two ``rpc_servers``,
    ``trust_height`` / ``trust_hash`` of a recent block, ``trust_period``) so it restores a snapshot
    (validators must have ``snapshot_interval`` set in their ``app.json``) instead of replaying.
    Progress (snapshot offered, chunks applied, heights) is printed as it happens.
    """
    root = root.resolve()
    net = Localnet.load(root)
    live = [i for i in range(net.size) if node_height(net, i)]
    if not live:
        raise LocalnetError(f"no node of the localnet in {root} answers; run `scripts/localnet.sh up` first")
    if state_sync:
        live = _serving_snapshots(net, live, timeout)  # before anything is created: a refusal leaves nothing
    k = 0
    while (root / f"join{k}").exists():
        k += 1
    home = root / f"join{k}"
    ports = ports_for(find_free_base(1), 0)
    subprocess.run(
        [cometbft_binary(), "init", "--home", str(home)], check=True, capture_output=True, text=True
    )
    shutil.copyfile(net.home(0) / "config" / "genesis.json", home / "config" / "genesis.json")
    peers = ",".join(f"{_node_id(net.home(i))}@127.0.0.1:{net.ports[i].p2p}" for i in range(net.size))
    settings = {
        ("", "proxy_app"): f'"tcp://127.0.0.1:{ports.abci}"',
        ("", "moniker"): f'"join{k}"',
        ("rpc", "laddr"): f'"tcp://127.0.0.1:{ports.rpc}"',
        ("p2p", "laddr"): f'"tcp://127.0.0.1:{ports.p2p}"',
        ("p2p", "persistent_peers"): f'"{peers}"',
        ("p2p", "addr_book_strict"): "false",
        ("p2p", "allow_duplicate_ip"): "true",
        ("tx_index", "indexer"): '"kv"',
    }
    if state_sync:
        client = net.client(live[0])
        trust_height = max(1, client.height() - 2)
        trust_hash = client.call("commit", {"height": str(trust_height)})["signed_header"]["commit"][
            "block_id"
        ]
        servers = [net.rpc(i) for i in (live * 2)[:2]]
        settings.update(
            {
                ("statesync", "enable"): "true",
                ("statesync", "rpc_servers"): f'"{",".join(servers)}"',
                ("statesync", "trust_height"): str(trust_height),
                ("statesync", "trust_hash"): f'"{trust_hash["hash"]}"',
                ("statesync", "trust_period"): f'"{TRUST_PERIOD}"',
                ("statesync", "discovery_time"): '"5s"',  # CometBFT's minimum: the peers are all local
            }
        )
        say(
            f"join{k}: state sync from {', '.join(servers)}, "
            f"trusting height {trust_height} {trust_hash['hash']}"
        )
    config = home / "config" / "config.toml"
    config.write_text(patch_toml(config.read_text(), settings))
    AppSettings(
        abci_address=f"tcp://127.0.0.1:{ports.abci}",
        grpc_address=f"127.0.0.1:{ports.grpc}",
        metrics_address="",
        api_address=f"127.0.0.1:{ports.api}",
    ).save(home)
    log_path = home / "node.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [*taskmaster_command(), "start", "--home", str(home), "--quiet"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_node_env(),
            cwd=home,
        )
    (home / JOIN_PID).write_text(f"{proc.pid}\n")
    (home / JOIN_MANIFEST).write_text(json.dumps(asdict(ports), indent=2) + "\n")
    say(f"join{k} started (pid {proc.pid}): rpc http://127.0.0.1:{ports.rpc}, log {log_path}")
    _follow_join(net, home, proc, RpcClient(f"http://127.0.0.1:{ports.rpc}", timeout=2.0), timeout)
    return home


def _serving_snapshots(net: Localnet, live: list[int], timeout: float) -> list[int]:
    """The live validators that serve state-sync snapshots, once one of them holds a snapshot.

    Raises LocalnetError at once, naming the setting, when none takes snapshots (``snapshot_interval``
    0): CometBFT's state sync would wait for a snapshot that never comes, then time out.
    """
    intervals = {i: AppSettings.load(net.home(i)).snapshot_interval for i in live}
    serving = [i for i in live if intervals[i]]
    if not serving:
        files = ", ".join(str(net.home(i) / "config" / "app.json") for i in live)
        raise LocalnetError(
            "`join --state-sync` needs a validator that serves snapshots, and none does: snapshot_interval "
            f'is 0 in {files}. Set "snapshot_interval": {SNAPSHOT_INTERVAL} and "snapshot_keep_recent": '
            f"{SNAPSHOT_KEEP_RECENT} there and restart the nodes (`scripts/localnet.sh down` then `up`; a "
            "localnet made by `up` now has them), or join without --state-sync to replay the blocks"
        )

    def taken() -> bool:
        return any(SnapshotStore(net.home(i) / "data" / "snapshots", clean=False).listed() for i in serving)

    if not taken():
        first = min(intervals[i] for i in serving)
        say(f"waiting for the validators' first snapshot (every {first} blocks; at most {timeout:.0f}s)")
        if not wait_until(taken, timeout, interval=1.0):
            raise LocalnetError(
                f"no validator of {net.root} wrote a snapshot within {timeout:.0f}s although "
                f"snapshot_interval is set; see {net.log_file(serving[0])}"
            )
    return serving


def joined_nodes(root: Path) -> list[tuple[str, NodePorts]]:
    """Every node ``join`` added under ``root`` (name, ports), in name order."""
    found = []
    for home in sorted(root.glob("join*")):
        try:
            ports = NodePorts(**json.loads((home / JOIN_MANIFEST).read_text()))
        except (OSError, ValueError, TypeError):
            continue  # not started by `join` (or from before join.json): no ports to list
        found.append((home.name, ports))
    return found


def _join_pid(home: Path) -> int | None:
    """The pid of a joined node's ``taskmaster start`` when it still runs with that home, else None."""
    try:
        pid = int((home / JOIN_PID).read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid) or str(home) not in _cmdline(pid):
        return None
    return pid


def _follow_join(
    net: Localnet, home: Path, proc: subprocess.Popen[bytes], client: RpcClient, timeout: float
) -> None:
    """Print the node's state-sync log lines and heights until it is within a block of the head."""
    deadline = time.monotonic() + timeout
    seen = 0
    last = -1
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(log_tail(home / "node.log"), file=sys.stderr)
            raise LocalnetError(f"{home.name} exited (code {proc.returncode}); its log is above")
        lines = (home / "node.log").read_text(errors="replace").splitlines()
        for line in lines[seen:]:
            if "state sync" in line or "snapshot" in line:
                say(f"{home.name}: {line.split(': ', 1)[-1]}")
        seen = len(lines)
        try:
            height = client.height()
        except RpcError:
            height = -1
        head = max((node_height(net, i) or 0) for i in range(net.size))
        if height != last and height >= 0:
            say(f"{home.name}: height {height} (head {head})")
            last = height
        if height > 0 and height >= head - 1:
            say(f"{home.name} reached the head at height {height}")
            return
        time.sleep(1.0)
    raise LocalnetError(f"{home.name} did not reach the head within {timeout:.0f}s; see {home / 'node.log'}")


def status(root: Path) -> list[dict[str, Any]]:
    """Per node: pid (alive or not), height and app hash from its RPC."""
    net = Localnet.load(root)
    rows = []
    for i in range(net.size):
        pid = read_pid(net, i)
        row: dict[str, Any] = {"node": i, "pid": pid, "alive": pid is not None, "rpc": net.rpc(i)}
        try:
            sync = net.client(i, timeout=2.0).status()["sync_info"]
            row.update(
                height=int(sync["latest_block_height"]),
                app_hash=sync["latest_app_hash"],
                catching_up=sync["catching_up"],
            )
        except (RpcError, KeyError, ValueError) as exc:
            row.update(height=None, app_hash=None, error=str(exc))
        rows.append(row)
    return rows


def env_lines(root: Path) -> list[str]:
    """``NODE<i>_RPC=...``, ``NODE<i>_GRPC=...``, ``NODE<i>_METRICS=...``, ``JOIN<k>_RPC=...``,
    ``JOIN<k>_GRPC=...`` (nodes added by ``join``) and ``KEYRING_HOME=...`` lines."""
    net = Localnet.load(root)
    lines = []
    for i in range(net.size):
        lines.append(f"NODE{i}_RPC={net.rpc(i)}")
        lines.append(f"NODE{i}_GRPC={net.grpc(i)}")
        if net.ports[i].metrics:
            lines.append(f"NODE{i}_METRICS=http://127.0.0.1:{net.ports[i].metrics}/metrics")
    for name, ports in joined_nodes(net.root):
        lines.append(f"{name.upper()}_RPC=http://127.0.0.1:{ports.rpc}")
        lines.append(f"{name.upper()}_GRPC=127.0.0.1:{ports.grpc}")
    lines.append(f"KEYRING_HOME={net.home(0)}")
    if net.sim_port:
        lines.append(f"SIMULATOR={net.sim_url}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m devtools.localnet``."""
    parser = argparse.ArgumentParser(prog="localnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env", "join"])
    parser.add_argument("--state-sync", action="store_true", help="`join`: restore a snapshot, not replay")
    parser.add_argument("--nodes", "-n", type=int, default=int(os.environ.get("N", DEFAULT_NODES)))
    parser.add_argument("--dir", default=DEFAULT_DIR, help="localnet directory (default .localnet)")
    parser.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT, help="node i uses base+10*i..+3")
    parser.add_argument("--timeout", type=float, default=UP_TIMEOUT, help="seconds `up` waits for height 3")
    parser.add_argument("--purge", action="store_true", help="`down`: also delete the localnet directory")
    parser.add_argument("--output", "-o", choices=["text", "json"], default="text")
    args = parser.parse_args(argv)
    root = Path(args.dir)
    try:
        if args.command == "up":
            up(root, args.nodes, args.base_port, args.timeout)
        elif args.command == "down":
            down(root, purge=args.purge)
        elif args.command == "join":
            join(root, state_sync=args.state_sync, timeout=args.timeout)
        elif args.command == "status":
            rows = status(root)
            if args.output == "json":
                print(json.dumps(rows, indent=2))
            for row in rows if args.output == "text" else []:
                state = f"pid {row['pid']}" if row["alive"] else "not running"
                chain = (
                    f"height {row['height']} app_hash {row['app_hash']}"
                    if row["height"] is not None
                    else "rpc not answering"
                )
                print(f"node{row['node']}: {state}, {chain} ({row['rpc']})")
        else:
            print("\n".join(env_lines(root)))
    except (LocalnetError, FileExistsError, subprocess.CalledProcessError) as exc:
        detail = f"\n{exc.stderr}" if isinstance(exc, subprocess.CalledProcessError) and exc.stderr else ""
        print(f"error: {exc}{detail}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
