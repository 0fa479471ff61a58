"""Crash safety: a child committing in a loop is killed with SIGKILL at random moments, many times.

Each reopen must find a complete version whose app hash is one the child reported as committed (or the
one it was writing when killed), and whose content equals the mirror of that version.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from abci_app.store import MultiStore

ROOT = Path(__file__).resolve().parents[3]
NAMES = ["bank", "tasks"]
KILLS = 30

CHILD = r"""
import random, sys
from abci_app.store import MultiStore
sys.path.insert(0, sys.argv[2])
from test_store_crash import NAMES, ops_for
ms = MultiStore.open(sys.argv[1], NAMES)
while True:
    h = ms.last_version + 1
    b = ms.branch()
    for name, key, value in ops_for(h):
        if value is None:
            b.store(name).delete(key)
        else:
            b.store(name).set(key, value)
    app_hash = ms.stage(b, h)
    sys.stdout.write(f"writing {h} {app_hash.hex()}\n")
    sys.stdout.flush()
    ms.commit({b"height": h.to_bytes(8, "big")})
    sys.stdout.write(f"committed {h} {app_hash.hex()}\n")
    sys.stdout.flush()
    if h % 4 == 0:
        ms.prune(keep_recent=3)
"""


def ops_for(height: int) -> list[tuple[str, bytes, bytes | None]]:
    """The deterministic writes of block ``height``."""
    rng = random.Random(height)
    ops: list[tuple[str, bytes, bytes | None]] = []
    for _ in range(1500):
        key = rng.randrange(4000).to_bytes(2, "big")
        name = NAMES[key[1] & 1]
        ops.append((name, key, None if rng.random() < 0.25 else rng.randbytes(rng.randint(1, 40))))
    return ops


class Mirror:
    """State after each version, computed by replaying ``ops_for``."""

    def __init__(self) -> None:
        self.states: list[dict[str, dict[bytes, bytes]]] = [{n: {} for n in NAMES}]

    def at(self, version: int) -> list[tuple[str, bytes, bytes]]:
        while len(self.states) <= version:
            state = {n: dict(kv) for n, kv in self.states[-1].items()}
            for name, key, value in ops_for(len(self.states)):
                if value is None:
                    state[name].pop(key, None)
                else:
                    state[name][key] = value
            self.states.append(state)
        return [(n, k, v) for n in NAMES for k, v in sorted(self.states[version][n].items())]


def test_sigkill_at_random_moments_leaves_a_complete_reported_version(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen"), env.get("PYTHONPATH", "")])
    rng = random.Random(99)
    mirror = Mirror()
    reported: dict[int, str] = {}
    last_seen = 0
    kills_during_commit = 0
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, path, str(Path(__file__).parent)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(0.4, 1.4))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        committed = last_seen
        writing = None
        # A kill can land while the last line is being written: only complete lines count.
        for line in out.split("\n")[:-1]:
            fields = line.split()
            assert len(fields) == 3, f"unexpected line from the child: {line!r}"
            kind, h, app_hash = fields
            assert reported.setdefault(int(h), app_hash) == app_hash, "same height, same hash"
            if kind == "committed":
                committed, writing = int(h), None
            else:
                writing = int(h)
        ms = MultiStore.open(path, NAMES)
        try:
            allowed = {committed} | ({writing} if writing is not None else set())
            assert ms.last_version in allowed, (ms.last_version, allowed)
            if ms.last_version == writing:
                kills_during_commit += 1
            if ms.last_version:
                assert ms.last_app_hash.hex() == reported[ms.last_version]
                assert ms.get_meta(b"height") == ms.last_version.to_bytes(8, "big")
            assert list(ms.export()) == mirror.at(ms.last_version)
            reachable: set[bytes] = set()
            for v in ms.versions():
                reachable |= ms.reachable_node_keys(v)
            assert reachable <= ms.stored_node_keys()
            last_seen = ms.last_version
        finally:
            ms.close()
    assert last_seen > 5, "the child made progress"
    print(f"{KILLS} kills, reached version {last_seen}, {kills_during_commit} landed between stage and ack")
