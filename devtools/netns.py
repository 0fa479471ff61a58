"""Separate network hosts on one Linux machine: one network namespace per validator, joined by a bridge.

Each host ``i`` is a namespace ``<tag>n<i>`` whose ``eth0`` (one end of a veth pair) has the address
``<subnet>.<10 + i>``; the other end (``<tag>v<i>``) is a port of the bridge ``<tag>br``, which has
``<subnet>.1`` in the root namespace, so tests and people reach every node's RPC from the machine, and
the nodes reach a CoinGecko simulator listening there. Nodes talk to each other only over these links:
each has its own address and its own loopback, so every node uses the same ports.

Faults, all undone by :meth:`Hosts.heal`:

* :meth:`Hosts.link_down` / :meth:`Hosts.link_up`: the host's bridge port down (cut off from all);
* :meth:`Hosts.split`: blackhole routes between two groups inside their namespaces (packets dropped
  silently, as on a broken link), so neither group reaches the other;
* :meth:`Hosts.delay`: a latency on every host's link (the kernel's netem when the machine has it).

Needs root and ``ip`` (iproute2). :func:`unavailable` says why namespaces cannot be made here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


class NetnsError(RuntimeError):
    """An ``ip`` command failed; the message holds it and its error."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")
    return done


def unavailable() -> str | None:
    """Why network namespaces cannot be made on this machine (None: they can)."""
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"tmprobe{os.getpid() % 100000}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def netem_available(namespace: str, device: str = "lo") -> bool:
    """Whether the kernel's netem qdisc can be added in ``namespace`` (it is a module some kernels lack)."""
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            "tc",
            "qdisc",
            "add",
            "dev",
            device,
            "root",
            "netem",
            "delay",
            "1ms",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode == 0:
        subprocess.run(["ip", "netns", "exec", namespace, "tc", "qdisc", "del", "dev", device, "root"])
    return done.returncode == 0


@dataclass
class Hosts:
    """A bridge and ``count`` namespaces on it (see the module docstring); :meth:`close` removes them."""

    tag: str
    subnet: str  # the first three octets, e.g. "10.213.7"
    count: int = 0
    split_routes: list[tuple[int, str]] = field(default_factory=list)  # (host, blackholed address)

    @property
    def bridge(self) -> str:
        return f"{self.tag}br"

    @property
    def gateway(self) -> str:
        """The bridge's address in the root namespace."""
        return f"{self.subnet}.1"

    def namespace(self, i: int) -> str:
        return f"{self.tag}n{i}"

    def veth(self, i: int) -> str:
        return f"{self.tag}v{i}"

    def address(self, i: int) -> str:
        return f"{self.subnet}.{10 + i}"

    def prefix(self, i: int) -> tuple[str, ...]:
        """The command prefix that runs a program on host ``i``."""
        return ("ip", "netns", "exec", self.namespace(i))

    @classmethod
    def create(cls, tag: str, subnet: str, count: int) -> Hosts:
        """The bridge and ``count`` hosts; anything half made is removed when a step fails."""
        if len(tag) > 9:
            raise ValueError(f"tag {tag!r} is too long for interface names (at most 9 characters)")
        hosts = cls(tag, subnet)
        try:
            _ip("link", "add", hosts.bridge, "type", "bridge")
            _ip("addr", "add", f"{hosts.gateway}/24", "dev", hosts.bridge)
            _ip("link", "set", hosts.bridge, "up")
            for _ in range(count):
                hosts.add_host()
        except Exception:
            hosts.close()
            raise
        return hosts

    def add_host(self) -> int:
        """One more host on the bridge; its index."""
        i = self.count
        ns, veth, inner = self.namespace(i), self.veth(i), f"{self.tag}p{i}"
        _ip("netns", "add", ns)
        self.count += 1
        _ip("link", "add", veth, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns)
        _ip("-n", ns, "link", "set", inner, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        return i

    # -- faults -------------------------------------------------------------------------------------

    def link_down(self, i: int) -> None:
        """Cut host ``i`` off from every other host (its bridge port goes down)."""
        _ip("link", "set", self.veth(i), "down")

    def link_up(self, i: int) -> None:
        _ip("link", "set", self.veth(i), "up")

    def split(self, left: Sequence[int], right: Sequence[int]) -> None:
        """No packet between a host of ``left`` and one of ``right`` (both directions)."""
        for a, b in [(a, b) for a in left for b in right] + [(b, a) for a in left for b in right]:
            _ip("-n", self.namespace(a), "route", "add", "blackhole", f"{self.address(b)}/32")
            self.split_routes.append((a, self.address(b)))

    def heal(self) -> None:
        """Undo :meth:`split` and every :meth:`link_down`."""
        for host, address in self.split_routes:
            _ip("-n", self.namespace(host), "route", "del", "blackhole", f"{address}/32", check=False)
        self.split_routes.clear()
        for i in range(self.count):
            _ip("link", "set", self.veth(i), "up", check=False)

    def delay(self, milliseconds: int) -> None:
        """Delay every packet leaving each host by ``milliseconds`` (netem on each host's eth0)."""
        for i in range(self.count):
            subprocess.run(
                [
                    *self.prefix(i),
                    "tc",
                    "qdisc",
                    "replace",
                    "dev",
                    "eth0",
                    "root",
                    "netem",
                    "delay",
                    f"{milliseconds}ms",
                ],
                check=True,
                capture_output=True,
            )

    # -- lifetime -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Remove every namespace (and its veth) and the bridge; never raises."""
        for i in range(self.count):
            _ip("netns", "del", self.namespace(i), check=False)
            _ip("link", "del", self.veth(i), check=False)
        _ip("link", "del", self.bridge, check=False)
        self.count = 0

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Hosts:
        data = json.loads(path.read_text())
        return cls(
            data["tag"], data["subnet"], data["count"], [(int(h), str(a)) for h, a in data["split_routes"]]
        )


def free_subnet(first: int = 200) -> str:
    """A 10.x.y subnet no interface of this machine uses (per process, so parallel runs differ)."""
    used = _ip("-4", "-o", "addr", "show", check=False).stdout
    start = os.getpid() % 250
    for step in range(250):
        candidate = f"10.{first + (start + step) // 250 % 50}.{(start + step) % 250}"
        if f" {candidate}." not in used:
            return candidate
    raise NetnsError("no free 10.x.y.0/24 subnet")
