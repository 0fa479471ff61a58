"""A chain across separate network hosts: ``python -m devtools.multihost up|down|status``.

Each validator runs in its own network namespace with its own address (``devtools/netns.py``), and
every node is configured only through the operator commands (``devtools/operators.py``: the genesis
ceremony, ``taskmaster config``); nothing relies on loopback or on distinct ports. A CoinGecko
simulator listens on the bridge's address, one API key per operator. ``scripts/multihost.sh`` is the
entry point people use; ``tests/integration/test_multihost.py`` and ``benchmarks/network.py`` use
:class:`Multihost` directly.

Layout of ``<dir>`` (``.multihost`` by default): ``multihost.json`` (the hosts, operators and pids),
``op<i>/`` the operator homes (``node.log``, ``cometbft.log``), ``simulator.json`` / ``simulator.log``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from abci_app.node.home import NodePorts
from devtools import operators
from devtools.latency import PROXY_PORT, LatencyError, Toxiproxies, netem_set
from devtools.latency import method as latency_method
from devtools.localnet import pid_alive, say, stop_pids
from devtools.netns import Hosts, NetnsError, free_subnet, unavailable
from devtools.operators import CeremonyFailed, Nodes, Operator

CHAIN_ID = "taskmaster-multihost"
DEFAULT_DIR = ".multihost"
SIM_PORT = 8080
MANIFEST = "multihost.json"


@dataclass
class Multihost:
    """Hosts, operators, the simulator and the running nodes of one multi-host chain."""

    root: Path
    hosts: Hosts
    operators: list[Operator]
    chain_id: str = CHAIN_ID
    timeout_commit: str = "1s"
    validators: int = 4
    nodes: Nodes = field(default_factory=Nodes)
    sim: subprocess.Popen[bytes] | None = None
    latency: str = ""  # how set_delay delays links: "netem", "toxiproxy" or "" (cannot)
    proxies: Toxiproxies | None = None

    @property
    def sim_url(self) -> str:
        return f"http://{self.hosts.gateway}:{SIM_PORT}/api/v3"

    @property
    def genesis(self) -> Path:
        return self.operators[0].home / "config" / "genesis.json"

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        validators: int = 4,
        spare: int = 1,
        chain_id: str = CHAIN_ID,
        timeout_commit: str = "1s",
        tag: str = "",
        latency: str = "auto",
    ) -> Multihost:
        """Hosts for ``validators + spare`` operators, the simulator, and the ceremony of the first ones.

        ``latency`` ("auto": what the machine has, see devtools/latency.py; "": none) prepares
        :meth:`set_delay`: with toxiproxy each node announces its proxy's port as its external address.
        Raises NetnsError (with the reason) where namespaces cannot be made.
        """
        reason = unavailable()
        if reason is not None:
            raise NetnsError(reason)
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        count = validators + spare
        subnet = free_subnet()
        say(f"creating {count} network namespaces on a bridge, addresses {subnet}.10..{subnet}.{9 + count}")
        hosts = Hosts.create(tag or f"tm{os.getpid() % 100000}", subnet, count)
        chosen = latency_method(hosts) if latency == "auto" else latency
        proxy_port = PROXY_PORT if chosen == "toxiproxy" else 0
        ops = [
            Operator(
                i, root / f"op{i}", hosts.address(i), NodePorts(), hosts.prefix(i), f"sim-node{i}", proxy_port
            )
            for i in range(count)
        ]
        net = cls(root, hosts, ops, chain_id, timeout_commit, validators, latency=chosen)
        try:
            if chosen == "toxiproxy":
                say(
                    f"latency through toxiproxy: one proxy per host on :{PROXY_PORT} in front of the P2P port"
                )
                net.proxies = Toxiproxies(hosts, root)
                for i in range(count):
                    net.proxies.start(i)
            net.sim, _ = operators.start_simulator(
                root, SIM_PORT, [op.sim_key for op in ops], host=hosts.gateway
            )
            operators.ceremony(
                ops[:validators], chain_id, net.sim_url, one_host=net.one_ip, timeout_commit=timeout_commit
            )
        except BaseException:
            net.close()
            raise
        return net

    @property
    def one_ip(self) -> bool:
        """Whether nodes see several peers from one IP (behind toxiproxy every peer comes from the proxy)."""
        return self.latency == "toxiproxy"

    def set_delay(self, milliseconds: int) -> None:
        """Delay both directions of every link by ``milliseconds`` (0: none). LatencyError if it cannot."""
        if self.latency == "netem":
            netem_set(self.hosts, milliseconds)
        elif self.proxies is not None:
            self.proxies.set(milliseconds)
        else:
            raise LatencyError(
                "no way to delay links here: the kernel has no netem and toxiproxy is not installed "
                "(scripts/install-toxiproxy.sh)"
            )

    def start(self, indices: Iterable[int]) -> None:
        """``taskmaster start`` of each operator in ``indices``, each inside its own namespace."""
        for i in indices:
            proc = self.nodes.start(self.operators[i])
            op = self.operators[i]
            say(f"{op.name} started (pid {proc.pid}) in {self.hosts.namespace(i)}: rpc {op.rpc}")

    def join(self, i: int) -> str:
        """Make operator ``i`` (a spare host) a full node of the chain; its operator address."""
        op = self.operators[i]
        return operators.join(
            op,
            self.chain_id,
            self.genesis,
            self.sim_url,
            one_host=self.one_ip,
            timeout_commit=self.timeout_commit,
        )

    def wait_for_heights(self, target: int, timeout: float, indices: Sequence[int] | None = None) -> bool:
        chosen = [self.operators[i] for i in (indices if indices is not None else range(self.validators))]
        return operators.wait_for_heights(chosen, target, timeout)

    def logs(self, indices: Sequence[int] | None = None) -> str:
        chosen = [self.operators[i] for i in (indices if indices is not None else range(len(self.operators)))]
        return operators.logs(chosen)

    def close(self) -> None:
        """Stop every node and the simulator, remove the namespaces and the bridge."""
        self.nodes.close()
        if self.proxies is not None:
            self.proxies.close()
        if self.sim is not None and self.sim.poll() is None:
            self.sim.terminate()
            self.sim.wait(10)
        self.hosts.close()

    # -- the manifest (for `down` from another process) ----------------------------------------------

    def save(self) -> None:
        data = {
            "chain_id": self.chain_id,
            "hosts": {"tag": self.hosts.tag, "subnet": self.hosts.subnet, "count": self.hosts.count},
            "operators": [{"home": str(op.home), "rpc": op.rpc} for op in self.operators],
            "pids": sorted(p.pid for p in self.nodes.procs.values()),
            "sim_pid": self.sim.pid if self.sim is not None else 0,
            "proxy_pids": sorted(p.pid for p in self.proxies.procs.values()) if self.proxies else [],
        }
        (self.root / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")


def up(root: Path, validators: int, timeout: float = 120.0) -> None:
    """Create the hosts, run the ceremony, start every validator and wait for height 3.

    A manifest naming the namespaces is written before anything is made, and again as processes start,
    so ``down`` can clean up after an ``up`` that was killed. Any failure here stops what this ``up``
    started and removes its namespaces before it returns; the homes stay (their logs) until the next
    ``up``, which replaces them, or ``down --purge``.
    """
    root = root.resolve()
    if (root / MANIFEST).exists():
        raise SystemExit(
            f"{root / MANIFEST} exists (a chain is up, or an `up` was killed): "
            "run `scripts/multihost.sh down` first"
        )
    _remove_earlier_homes(root)
    root.mkdir(parents=True, exist_ok=True)
    tag = f"mh{os.getpid() % 100000}"
    _save_pending(root, tag, validators)
    net: Multihost | None = None
    try:
        net = Multihost.create(root, validators=validators, spare=0, tag=tag)
        net.save()
        net.start(range(validators))
        net.save()
        say(f"waiting for every validator to reach height 3 (at most {timeout:.0f}s)")
        if not net.wait_for_heights(3, timeout):
            print(net.logs(), file=sys.stderr)
            raise SystemExit(f"the chain did not reach height 3 within {timeout:.0f}s; logs above")
    except BaseException as exc:
        if net is not None:
            net.close()
        else:  # create removed what it made; a failure before it had made the hosts leaves none
            Hosts(tag, "", validators).close()
        (root / MANIFEST).unlink(missing_ok=True)
        say(
            "`up` failed: stopped what it started and removed its namespaces; the homes stay in "
            f"{root} for their logs (the next `up` replaces them; `down --purge` removes them)"
        )
        if isinstance(exc, NetnsError):
            raise SystemExit(f"cannot make separate hosts here: {exc}") from exc
        raise
    for op in net.operators:
        say(f"{op.name}: rpc {op.rpc}, grpc {op.host}:{op.ports.grpc}, home {op.home}")
    keyring = net.operators[0].home / "keyring-test"
    say(f"chain {net.chain_id} is up on {validators} hosts; the funded faucet key is in {keyring}")


def _earlier_files(root: Path) -> list[Path]:
    """What an earlier ``up`` left in ``root`` besides a manifest: operator homes and simulator files."""
    if not root.is_dir():
        return []
    return sorted([*root.glob("op*"), *root.glob("simulator.*"), *root.glob("toxiproxy*")])


def _remove_earlier_homes(root: Path) -> None:
    """Remove the homes of an earlier chain (``down`` keeps them for their logs): a new chain's ceremony
    needs new homes, on the new namespaces' addresses."""
    earlier = _earlier_files(root)
    if earlier:
        say(f"removing what an earlier `up` left in {root}: {', '.join(p.name for p in earlier)}")
        for path in earlier:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


def _save_pending(root: Path, tag: str, count: int) -> None:
    """The manifest of an ``up`` that has made nothing yet: the namespaces' names, no processes."""
    data = {
        "chain_id": CHAIN_ID,
        "hosts": {"tag": tag, "subnet": "", "count": count},
        "operators": [],
        "pids": [],
        "sim_pid": 0,
        "proxy_pids": [],
    }
    (root / MANIFEST).write_text(json.dumps(data, indent=2) + "\n")


def down(root: Path, *, purge: bool = False) -> None:
    """Stop the nodes and the simulator of ``root``'s manifest, remove its namespaces and bridge; with
    ``purge`` also delete ``root`` (with or without a manifest)."""
    root = root.resolve()
    path = root / MANIFEST
    if path.exists():
        data = json.loads(path.read_text())
        candidates = [*data.get("pids", []), data.get("sim_pid", 0), *data.get("proxy_pids", [])]
        pids = [p for p in candidates if p and pid_alive(p)]
        if pids:
            say(f"stopping {len(pids)} process(es): {pids}")
            stop_pids(pids)
        hosts = data["hosts"]
        Hosts(hosts["tag"], hosts["subnet"], hosts["count"]).close()
        say(f"removed {hosts['count']} namespaces and the bridge {hosts['tag']}br")
        path.unlink()
    else:
        say(f"no {path}: no chain to stop")
    if purge and root.exists():
        shutil.rmtree(root, ignore_errors=True)
        say(f"removed {root}")
    elif _earlier_files(root):
        say(
            f"the homes stay in {root} for their logs; `down --purge` removes them "
            "(the next `up` replaces them)"
        )


def status(root: Path) -> None:
    """Height and app hash of each node of the manifest."""
    path = root / MANIFEST
    if not path.exists():
        raise SystemExit(f"no {path}; run `scripts/multihost.sh up`")
    from abci_app.client import RpcClient, RpcError

    for entry in json.loads(path.read_text())["operators"]:
        try:
            sync = RpcClient(entry["rpc"], timeout=2.0).status()["sync_info"]
            print(f"{entry['rpc']}: height {sync['latest_block_height']} app_hash {sync['latest_app_hash']}")
        except (RpcError, OSError, KeyError) as exc:
            print(f"{entry['rpc']}: not answering ({exc})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="multihost", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", default=DEFAULT_DIR)
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--purge", action="store_true", help="down: also delete the homes")
    args = parser.parse_args(argv)
    root = Path(args.dir).resolve()
    started = time.monotonic()
    try:
        if args.command == "up":
            up(root, args.validators)
        elif args.command == "down":
            down(root, purge=args.purge)
        else:
            status(root)
    except (CeremonyFailed, LatencyError, OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"error: {exc}") from exc
    if args.command != "status":
        say(f"done in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
