"""Benchmark of state-sync snapshots on the 1,000,000-key store, with same-run baselines.

``python -m benchmarks.statesync [--keys N] [--quick] [--dir PATH]`` builds an authenticated store of N
keys (default 1,000,000) in blocks of 100,000 writes and times that as the *replay* baseline (the store
work of replaying those blocks, without tx execution or CometBFT, so a lower bound on a real replay);
then it writes a snapshot (format 1) of the latest version and reports time, size and chunks; restores
it into an empty store through the same :class:`abci_app.statesync.manager.Restore` path as
``ApplySnapshotChunk`` (keys/s, checking the app hash); and, committing blocks of 1,000 updates in
process, reports the longest block (stage + commit) while a background snapshot is written (by the
node's own :class:`Snapshotter`, i.e. in a separate writer process) against the same number of blocks
without one, and the time that background snapshot took. Progress goes to stdout; the last line is
one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import random
import re
import shutil
import tempfile
import time
from pathlib import Path

from abci_app.client import RpcClient
from abci_app.statesync.manager import Restore, SnapshotPolicy, Snapshotter
from abci_app.statesync.snapshots import SnapshotStore, source_of
from abci_app.store import MultiStore
from abci_app.store.gcpolicy import settle_after_commit
from abci_app.tx.address import to_bech32
from benchmarks.harness import taskmaster_node
from benchmarks.store import STORE, VALUE_LEN, _dir_size, _key

LOAD_BLOCK = 100_000
CHAIN = "bench-chain"


def _say(msg: str) -> None:
    print(f"[statesync-bench] {msg}", flush=True)


def build(path: str, n_keys: int, rng: random.Random) -> tuple[MultiStore, float]:
    """The store of ``n_keys`` keys, written in blocks of LOAD_BLOCK; the seconds it took."""
    ms = MultiStore.open(path, [STORE])
    t0 = time.perf_counter()
    for lo in range(0, n_keys, LOAD_BLOCK):
        b = ms.branch()
        st = b.store(STORE)
        for i in range(lo, min(n_keys, lo + LOAD_BLOCK)):
            st.set(_key(i), rng.randbytes(VALUE_LEN))
        ms.stage(b, ms.last_version + 1)
        ms.commit()
        ms.prune(keep_recent=1)
        settle_after_commit()
        _say(f"replay baseline: {min(n_keys, lo + LOAD_BLOCK):,} keys ({time.perf_counter() - t0:.1f}s)")
    return ms, time.perf_counter() - t0


def _block(ms: MultiStore, rng: random.Random, n_keys: int, updates: int) -> float:
    t0 = time.perf_counter()
    b = ms.branch()
    st = b.store(STORE)
    for _ in range(updates):
        st.set(_key(rng.randrange(n_keys)), rng.randbytes(VALUE_LEN))
    ms.stage(b, ms.last_version + 1)
    ms.commit()
    ms.prune(keep_recent=2)
    settle_after_commit()
    return time.perf_counter() - t0


def _stats(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"{len(ordered)} blocks, longest {ordered[-1] * 1000:.0f} ms (block {values.index(ordered[-1])}), "
        f"p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1000:.0f} ms, "
        f"mean {sum(ordered) / len(ordered) * 1000:.0f} ms"
    )


NODE_SNAPSHOT_AT = 120  # the node's snapshot_interval: blocks before it are the baseline
NODE_SETTLE = 10  # first blocks after InitChain, left out of the baseline
NODE_AFTER = 30  # blocks made after the snapshot is written
_WRITTEN = re.compile(
    r"^(\S+ \S+) INFO abci_app\.statesync: snapshot of height (\d+) written: .* in ([0-9.]+)s"
)


def _block_times(client: RpcClient, top: int) -> dict[int, float]:
    """Header time (unix seconds) of every block 1..top."""
    times: dict[int, float] = {}
    for hi in range(top, 0, -20):
        metas = client.call("blockchain", {"minHeight": str(max(1, hi - 19)), "maxHeight": str(hi)})
        for meta in metas["block_metas"]:
            header = meta["header"]
            times[int(header["height"])] = _rfc3339(header["time"])
    return times


def _rfc3339(text: str) -> float:
    whole, _, frac = text.rstrip("Z").partition(".")
    stamp = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC).timestamp()
    return stamp + (float("0." + frac) if frac else 0.0)


def node_phase(n_keys: int, root: Path, out: dict[str, object]) -> None:
    """A real single-validator node (CometBFT + ``taskmaster start``) whose genesis holds ``n_keys`` kv
    entries: block intervals (header times) while the node's own snapshot of that store is written
    against the node's other blocks."""
    owner = to_bech32(b"\x42" * 20)
    rng = random.Random(5)
    entries = [
        {
            "owner": owner,
            "key": base64.b64encode(_key(i)).decode(),
            "value": base64.b64encode(rng.randbytes(VALUE_LEN)).decode(),
        }
        for i in range(n_keys)
    ]
    _say(f"node: a genesis with {n_keys:,} kv entries; InitChain writes them")
    t0 = time.perf_counter()
    settings = {"snapshot_interval": NODE_SNAPSHOT_AT, "snapshot_keep_recent": 1}
    with taskmaster_node(
        root, "500ms", app_state={"kv": {"entries": entries}}, app_settings=settings, start_timeout=1800.0
    ) as node:
        del entries
        out["node_init_chain_s"] = round(time.perf_counter() - t0, 1)
        _say(f"node: making blocks ({out['node_init_chain_s']}s to the first blocks)")
        log = root / "taskmaster.log"
        written = None
        deadline = time.monotonic() + 3600
        while written is None and time.monotonic() < deadline:
            time.sleep(1.0)
            for line in log.read_text(errors="replace").splitlines():
                match = _WRITTEN.match(line)
                if match and int(match.group(2)) == NODE_SNAPSHOT_AT:
                    written = match
        if written is None:
            raise RuntimeError(f"the node wrote no snapshot of height {NODE_SNAPSHOT_AT}; see {log}")
        end = datetime.datetime.strptime(written.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone().timestamp()
        took = float(written.group(3))
        _say(f"node: snapshot of height {NODE_SNAPSHOT_AT} written in {took}s; {NODE_AFTER} blocks more")
        top = node.client.height() + NODE_AFTER
        while node.client.height() < top:
            time.sleep(0.5)
        times = _block_times(node.client, top)
    start = end - took
    during: list[float] = []
    without: list[float] = []
    for h in range(NODE_SETTLE + 1, top + 1):
        interval = times[h] - times[h - 1]
        # block h's interval overlaps the write when the write ran between blocks h-1 and h
        (during if times[h] >= start and times[h - 1] <= end else without).append(interval)
    _say(f"node: blocks while the snapshot is written: {_stats(during)}")
    _say(f"node: the node's other blocks: {_stats(without)}")
    out.update(
        node_keys=n_keys,
        node_snapshot_s=took,
        node_blocks_during=len(during),
        node_block_max_ms_during=round(max(during) * 1000, 1),
        node_block_max_ms_without=round(max(without) * 1000, 1),
        node_block_mean_ms_during=round(sum(during) / len(during) * 1000, 1),
        node_block_mean_ms_without=round(sum(without) / len(without) * 1000, 1),
        node_block_max_ratio=round(max(during) / max(without), 2),
    )


def main() -> None:
    """Parse arguments, run the measurements, print the JSON figures last."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 keys")
    parser.add_argument("--dir", default=None, help="where to put the databases (default: a temp dir)")
    parser.add_argument("--no-node", action="store_true", help="skip the part on a real node")
    args = parser.parse_args()
    if args.quick:
        args.keys = 50_000
    root = tempfile.mkdtemp(prefix="statesync-bench-", dir=args.dir)
    rng = random.Random(11)
    out: dict[str, object] = {"keys": args.keys}
    try:
        ms, replay_s = build(os.path.join(root, "source"), args.keys, rng)
        out["replay_s"] = round(replay_s, 2)
        height = ms.last_version
        snaps = SnapshotStore(Path(root) / "snapshots")
        t0 = time.perf_counter()
        info, _ = snaps.write(source_of(ms, height, CHAIN, 1))
        out["snapshot_s"] = round(time.perf_counter() - t0, 2)
        chunk_bytes = [len(snaps.load_chunk(info.height, info.format, i) or b"") for i in range(info.chunks)]
        out.update(
            snapshot_bytes=sum(chunk_bytes),
            chunks=info.chunks,
            store_db_bytes=_dir_size(os.path.join(root, "source")),
        )
        _say(
            f"snapshot of height {height}: {out['snapshot_s']}s, "
            f"{sum(chunk_bytes):,} bytes, {info.chunks} chunks"
        )

        target = MultiStore.open(os.path.join(root, "target"), [STORE])
        t0 = time.perf_counter()
        restore = Restore(target, height, info.hash, info.meta, ms.app_hash(height))
        for i in range(info.chunks):
            outcome = restore.apply(i, snaps.load_chunk(info.height, info.format, i) or b"", "bench")
            assert outcome.result.name == "ACCEPT", outcome.reason
        restore_s = time.perf_counter() - t0
        assert target.last_app_hash == ms.app_hash(height), "restored app hash differs"
        target.close()
        out["restore_s"] = round(restore_s, 2)
        out["restore_keys_per_s"] = round(args.keys / restore_s)
        out["restore_vs_replay"] = round(replay_s / restore_s, 2)
        _say(f"restore: {restore_s:.2f}s ({out['restore_keys_per_s']:,} keys/s) vs replay {replay_s:.2f}s")

        blocks = 30
        base = [_block(ms, rng, args.keys, 1_000) for _ in range(blocks)]
        _say(f"blocks without a snapshot: {_stats(base)}")
        writer = Snapshotter(ms, SnapshotStore(Path(root) / "bg"), SnapshotPolicy(interval=1, keep_recent=1))
        writer.start(ms.last_version, CHAIN, 1)
        t0 = time.perf_counter()
        during: list[float] = []
        while writer.busy or len(during) < blocks:
            during.append(_block(ms, rng, args.keys, 1_000))
        writer.wait()
        assert writer.last_error is None, writer.last_error
        out["background_snapshot_s"] = round(time.perf_counter() - t0, 2)
        _say(f"blocks while a snapshot is written: {_stats(during)}")
        # as many blocks again without one, so both sides' longest block is over as many samples
        base += [_block(ms, rng, args.keys, 1_000) for _ in range(len(during) - blocks)]
        _say(f"blocks without a snapshot, same count: {_stats(base)}")
        for name, values in (("without", base), ("during", during)):
            ordered = sorted(values)
            out[f"block_max_ms_{name}"] = round(ordered[-1] * 1000, 1)
            out[f"block_p99_ms_{name}"] = round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1)
            out[f"block_mean_ms_{name}"] = round(sum(ordered) / len(ordered) * 1000, 1)
        out["block_max_ratio"] = round(max(during) / max(base), 2)
        out["blocks_during"] = len(during)
        ms.close()
        if not args.no_node:
            node_phase(args.keys, Path(root) / "node", out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
