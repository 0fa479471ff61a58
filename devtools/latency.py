"""Latency on every link of the multi-host chain: the kernel's netem where it exists, else toxiproxy.

Both delay each direction of every validator-to-validator connection by the same amount (one-way
latency; the round trip is twice that):

* ``netem``: ``tc qdisc ... netem delay`` on each namespace's ``eth0`` (every packet a host sends);
* ``toxiproxy``: Shopify's userspace proxy (``scripts/install-toxiproxy.sh``, ``go install``), one per
  host, inside its namespace: it listens on ``<host>:26666`` and forwards to the node's P2P port. Each
  node announces the proxy as its external address (``taskmaster config --external-address``, so it is
  in its gentx memo), every connection between two validators passes one proxy, and a ``latency`` toxic
  on both of its streams delays both directions. The proxy connects from the host's own address, so the
  nodes accept several peers from one IP (``--allow-duplicate-ip true``).

:func:`method` picks what this machine has.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devtools.localnet import wait_until
from devtools.netns import Hosts, netem_available

ROOT = Path(__file__).resolve().parents[1]
PROXY_PORT = 26666
API_PORT = 8474
P2P_PORT = 26656


def toxiproxy_binary() -> Path:
    """The toxiproxy server installed by scripts/install-toxiproxy.sh (or $TOXIPROXY_SERVER)."""
    return Path(os.environ.get("TOXIPROXY_SERVER", str(ROOT / ".tools" / "bin" / "toxiproxy-server")))


def method(hosts: Hosts) -> str:
    """``netem`` when the hosts' kernel has it, else ``toxiproxy`` when installed, else ""."""
    if hosts.count and netem_available(hosts.namespace(0)):
        return "netem"
    return "toxiproxy" if toxiproxy_binary().exists() else ""


class LatencyError(RuntimeError):
    """A proxy did not start or did not take a setting; the message says which and why."""


def _api(host: str, method_: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"http://{host}:{API_PORT}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json"},
        method=method_,
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise LatencyError(f"toxiproxy at {host}: {method_} {path}: {exc.code} {exc.read()[:200]!r}") from exc
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")  # /version answers plain text


class Toxiproxies:
    """One toxiproxy server per host (in its namespace), each proxying ``:26666`` to its node's P2P port."""

    def __init__(self, hosts: Hosts, root: Path) -> None:
        self.hosts = hosts
        self.root = root
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self, i: int) -> None:
        """Start host ``i``'s proxy and create its ``p2p`` proxy."""
        address = self.hosts.address(i)
        with open(self.root / f"toxiproxy{i}.log", "ab") as log:
            self.procs[i] = subprocess.Popen(
                [*self.hosts.prefix(i), str(toxiproxy_binary()), "-host", address, "-port", str(API_PORT)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if not wait_until(lambda: self._answers(address), 20.0, 0.1):
            raise LatencyError(f"toxiproxy of host {i} did not answer on {address}:{API_PORT}")
        _api(
            address,
            "POST",
            "/proxies",
            {"name": "p2p", "listen": f"{address}:{PROXY_PORT}", "upstream": f"{address}:{P2P_PORT}"},
        )

    def _answers(self, address: str) -> bool:
        try:
            _api(address, "GET", "/version")
            return True
        except (OSError, LatencyError, ValueError):
            return False

    def set(self, milliseconds: int) -> None:
        """Delay both streams of every proxy by ``milliseconds`` (0 removes the delay)."""
        for i in self.procs:
            address = self.hosts.address(i)
            for stream in ("upstream", "downstream"):
                name = f"latency_{stream}"
                with contextlib.suppress(LatencyError):  # there was none
                    _api(address, "DELETE", f"/proxies/p2p/toxics/{name}")
                if milliseconds:
                    toxic = {
                        "name": name,
                        "type": "latency",
                        "stream": stream,
                        "toxicity": 1.0,
                        "attributes": {"latency": milliseconds, "jitter": 0},
                    }
                    _api(address, "POST", "/proxies/p2p/toxics", toxic)

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs.clear()


def netem_set(hosts: Hosts, milliseconds: int) -> None:
    """netem delay on every host's ``eth0`` (0 removes it)."""
    if milliseconds:
        hosts.delay(milliseconds)
        return
    for i in range(hosts.count):
        subprocess.run([*hosts.prefix(i), "tc", "qdisc", "del", "dev", "eth0", "root"], capture_output=True)
