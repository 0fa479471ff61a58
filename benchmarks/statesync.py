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

Restore memory: each restore runs in a fresh process (``spawn``) that reports its peak RSS (VmHWM) and
its RSS before the restore began. The honest restore of the snapshot is the baseline; against it, the
same path applies three hostile snapshots (a peer chooses the chunks, their hashes and the snapshot
hash; the metadata claims the trusted app hash), each applied until it is refused:

* ``hostile_leaves``: the same size as the honest one: its very leaves (same keys and values), at the
  same chunk size, with no inner node ever joining them;
* ``hostile_amplified``: the reported attack, leaves of 4 MiB of zeros never joined, in 256 KiB chunks
  (compressed ~1000x: before the fix one chunk left 530 MB resident);
* ``hostile_tree``: a valid, balanced tree of such leaves (so only the app hash at the end refuses it),
  showing that the write batch and RocksDB's in-memory tables are bounded in bytes (its peak is the
  same for 512 MiB as for 2 GiB of values). Reported apart from the goal (hostile <= honest): its
  records are the largest the store allows, so it is compared with a restore of small entries.

``--hostile-only`` runs the last two alone (no store is built), e.g. against an older checkout.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import json
import multiprocessing
import random
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path

from abci_app.client import RpcClient
from abci_app.statesync.format import FORMAT, MAX_CHUNK_SIZE, Metadata, StreamWriter
from abci_app.statesync.manager import Restore, SnapshotPolicy, Snapshotter
from abci_app.statesync.snapshots import SnapshotInfo, SnapshotStore, dir_name, source_of
from abci_app.store import MultiStore
from abci_app.store.encoding import MAX_VALUE_LEN
from abci_app.store.export import ExportNode, export_nodes
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


# ----------------------------------------------------------------- restore memory


def _status_bytes(field: str) -> int:
    """A size field of /proc/self/status (``VmRSS``, ``VmHWM``) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _restore_child(
    conn: Connection,
    target: str,
    height: int,
    snapshot_hash: bytes,
    metadata: bytes,
    trusted: bytes,
    chunk_paths: list[str],
    sender: str,
) -> None:
    """In a fresh process: apply the chunks through Restore (ApplySnapshotChunk's path) until one is
    refused or the last is applied; send back the outcome and the process's RSS before and at peak."""
    before = _status_bytes("VmRSS")
    ms = MultiStore.open(target, [STORE])
    restore = Restore(ms, height, snapshot_hash, Metadata.decode(metadata), trusted)
    t0 = time.perf_counter()
    applied, result, reason, done = 0, "", "", False
    rejected: tuple[str, ...] = ()
    for index, path in enumerate(chunk_paths):
        outcome = restore.apply(index, Path(path).read_bytes(), sender)
        applied = index + 1
        result, reason, rejected, done = (
            outcome.result.name,
            outcome.reason,
            outcome.reject_senders,
            outcome.done,
        )
        if result != "ACCEPT":
            break
    seconds = time.perf_counter() - t0
    restored = done and ms.last_app_hash == trusted
    records = restore.importer.count
    ms.close()
    conn.send(
        {
            "seconds": seconds,
            "chunks_applied": applied,
            "chunks": len(chunk_paths),
            "records": records,
            "result": result,
            "reason": reason[:300],
            "reject_senders": list(rejected),
            "restored": restored,
            "rss_before_mb": round(before / 2**20, 1),
            "peak_rss_mb": round(_status_bytes("VmHWM") / 2**20, 1),
        }
    )


def run_restore(
    target: str, height: int, snapshot_hash: bytes, metadata: bytes, trusted: bytes, chunk_paths: list[str]
) -> dict[str, object]:
    """One restore in a fresh process (so its peak RSS is its own); what it reported."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=False)
    args = (theirs, target, height, snapshot_hash, metadata, trusted, chunk_paths, "peer-under-test")
    proc = ctx.Process(target=_restore_child, args=args)
    proc.start()
    theirs.close()
    try:
        report: dict[str, object] = ours.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"the restore process died (exit code {proc.exitcode})") from None
    proc.join()
    shutil.rmtree(target, ignore_errors=True)
    return report


def write_hostile(
    directory: Path, records: Iterable[ExportNode], chunk_size: int, app_hash: bytes
) -> tuple[bytes, bytes, list[str]]:
    """A snapshot as a hostile peer serves it: any records, chunk hashes and snapshot hash that match
    them, metadata claiming ``app_hash``; (snapshot hash, metadata, chunk file paths)."""
    directory.mkdir(parents=True)
    paths: list[str] = []

    def emit(index: int, chunk: bytes) -> None:
        path = directory / f"chunk-{index:06d}"
        path.write_bytes(chunk)
        paths.append(str(path))

    writer = StreamWriter([STORE], emit, chunk_size)
    for rec in records:
        writer.add(rec)
    written = writer.finish()
    meta = Metadata(app_hash, CHAIN, 1, (STORE,), written.chunk_hashes, written.nodes)
    return written.hash, meta.encode(), paths


def unjoined_leaves(n: int, value: bytes) -> Iterator[ExportNode]:
    """``n`` leaves in key order that no inner node ever joins (the reported attack's stream)."""
    return (ExportNode(STORE, b"k%08d" % i, value, 1, 0) for i in range(n))


def balanced_tree(n: int, value: bytes) -> Iterator[ExportNode]:
    """The post-order records of a balanced tree of ``n`` leaves carrying ``value``: a valid stream."""

    def walk(lo: int, hi: int) -> Iterator[tuple[ExportNode, int]]:
        if hi - lo == 1:
            yield ExportNode(STORE, b"k%08d" % lo, value, 1, 0), 0
            return
        mid = (lo + hi + 1) // 2
        heights = []
        for part in (walk(lo, mid), walk(mid, hi)):
            for rec, height in part:
                yield rec, height
            heights.append(height)
        height = max(heights) + 1
        yield ExportNode(STORE, b"k%08d" % mid, None, 1, height), height

    return (rec for rec, _ in walk(0, n))


AMPLIFIED_LEAVES = 130  # ~520 MiB of zeros in ~520 KiB of stream: two chunks of 256 KiB and a bit
AMPLIFIED_CHUNK = 256 * 1024


def hostile_phases(root: Path, trusted: bytes, tree_leaves: int, out: dict[str, object]) -> None:
    """The amplified attack and the valid tree of huge values, each restored in a fresh process."""
    zeros = bytes(MAX_VALUE_LEN)
    cases = (
        ("hostile_amplified", unjoined_leaves(AMPLIFIED_LEAVES, zeros)),
        ("hostile_tree", balanced_tree(tree_leaves, zeros)),
    )
    for name, records in cases:
        snapshot_hash, metadata, paths = write_hostile(root / name, records, AMPLIFIED_CHUNK, trusted)
        report = run_restore(str(root / f"{name}-target"), 1, snapshot_hash, metadata, trusted, paths)
        shutil.rmtree(root / name, ignore_errors=True)
        _record(name, report, out)


def _record(name: str, report: dict[str, object], out: dict[str, object]) -> None:
    _say(
        f"{name}: {report['result']} after {report['chunks_applied']} of {report['chunks']} chunks, "
        f"{report['records']:,} records, peak RSS {report['peak_rss_mb']} MB "
        f"(RSS before the restore {report['rss_before_mb']} MB); rejected {report['reject_senders']}; "
        f"{str(report['reason'])[:160]}"
    )
    for key in ("peak_rss_mb", "rss_before_mb", "chunks_applied", "chunks", "records", "result"):
        out[f"{name}_{key}"] = report[key]
    out[f"{name}_rejected_peer"] = report["reject_senders"] == ["peer-under-test"]


def restore_memory(
    ms: MultiStore, root: Path, info: SnapshotInfo, args: argparse.Namespace
) -> dict[str, object]:
    """The honest restore of snapshot ``info`` of ``ms`` and the hostile ones, each in a fresh process;
    ``ms`` is closed meanwhile (so nothing else runs) and reopened. Figures, restore time included."""
    out: dict[str, object] = {}
    height, trusted = info.height, ms.app_hash(info.height)
    snap_dir = root / "snapshots" / dir_name(info.height, FORMAT)
    honest_paths = [str(snap_dir / f"chunk-{i:06d}") for i in range(info.chunks)]
    source = ms.db_path
    ms.close()
    report = run_restore(str(root / "target"), height, info.hash, info.metadata, trusted, honest_paths)
    if not report["restored"]:
        raise RuntimeError(f"the honest restore failed: {report}")
    restore_s = float(str(report["seconds"]))
    out["restore_s"] = round(restore_s, 2)
    out["restore_keys_per_s"] = round(args.keys / restore_s)
    _record("honest", report, out)
    # the same size: the honest snapshot's very leaves, at its chunk size, never joined
    source_ms = MultiStore.open(source, [STORE])
    leaves = (rec for rec in export_nodes(source_ms, height) if rec.height == 0)
    snapshot_hash, metadata, paths = write_hostile(root / "hostile_leaves", leaves, MAX_CHUNK_SIZE, trusted)
    source_ms.close()
    report = run_restore(str(root / "hostile-target"), height, snapshot_hash, metadata, trusted, paths)
    shutil.rmtree(root / "hostile_leaves", ignore_errors=True)
    _record("hostile_leaves", report, out)
    hostile_phases(root, trusted, args.tree_leaves, out)
    honest = float(str(out["honest_peak_rss_mb"]))
    attacks = [float(str(out[f"{n}_peak_rss_mb"])) for n in ("hostile_leaves", "hostile_amplified")]
    tree = float(str(out["hostile_tree_peak_rss_mb"]))
    # the goal: the streams that are no valid tree hold no more than the honest restore
    out["hostile_max_peak_rss_mb"] = max(attacks)
    out["hostile_le_honest"] = max(attacks) <= honest
    # a valid tree of 4 MiB values costs what an honest state of such values would: reported apart
    out["hostile_tree_le_honest"] = tree <= honest
    _say(
        f"peak RSS: honest restore {honest} MB; hostile streams that are no valid tree, worst "
        f"{max(attacks)} MB; a valid tree of 4 MiB values {tree} MB"
    )
    return out


def blocks_while_writing(ms: MultiStore, root: Path, rng: random.Random, keys: int) -> dict[str, object]:
    """Longest in-process block (1,000 updates) while the node's snapshotter writes, and without."""
    out: dict[str, object] = {}
    blocks = 30
    base = [_block(ms, rng, keys, 1_000) for _ in range(blocks)]
    _say(f"blocks without a snapshot: {_stats(base)}")
    writer = Snapshotter(ms, SnapshotStore(root / "bg"), SnapshotPolicy(interval=1, keep_recent=1))
    writer.start(ms.last_version, CHAIN, 1)
    t0 = time.perf_counter()
    during: list[float] = []
    while writer.busy or len(during) < blocks:
        during.append(_block(ms, rng, keys, 1_000))
    writer.wait()
    assert writer.last_error is None, writer.last_error
    out["background_snapshot_s"] = round(time.perf_counter() - t0, 2)
    _say(f"blocks while a snapshot is written: {_stats(during)}")
    # as many blocks again without one, so both sides' longest block is over as many samples
    base += [_block(ms, rng, keys, 1_000) for _ in range(len(during) - blocks)]
    _say(f"blocks without a snapshot, same count: {_stats(base)}")
    for name, values in (("without", base), ("during", during)):
        ordered = sorted(values)
        out[f"block_max_ms_{name}"] = round(ordered[-1] * 1000, 1)
        out[f"block_p99_ms_{name}"] = round(ordered[int(0.99 * (len(ordered) - 1))] * 1000, 1)
        out[f"block_mean_ms_{name}"] = round(sum(ordered) / len(ordered) * 1000, 1)
    out["block_max_ratio"] = round(max(during) / max(base), 2)
    out["blocks_during"] = len(during)
    return out


def main() -> None:
    """Parse arguments, run the measurements, print the JSON figures last."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 keys, 32 leaves in hostile_tree")
    parser.add_argument("--dir", default=None, help="where to put the databases (default: a temp dir)")
    parser.add_argument("--no-node", action="store_true", help="skip the part on a real node")
    parser.add_argument("--no-blocks", action="store_true", help="skip the in-process blocks part")
    parser.add_argument("--tree-leaves", type=int, default=128, help="4 MiB leaves of hostile_tree")
    parser.add_argument(
        "--hostile-only", action="store_true", help="only hostile_amplified and hostile_tree (no store)"
    )
    args = parser.parse_args()
    if args.quick:
        args.keys, args.tree_leaves = 50_000, 32
    root = Path(tempfile.mkdtemp(prefix="statesync-bench-", dir=args.dir))
    rng = random.Random(11)
    out: dict[str, object] = {"keys": args.keys}
    try:
        if args.hostile_only:
            hostile_phases(root, hashlib.sha256(b"trusted").digest(), args.tree_leaves, out)
        else:
            ms, replay_s = build(str(root / "source"), args.keys, rng)
            out["replay_s"] = round(replay_s, 2)
            height = ms.last_version
            snaps = SnapshotStore(root / "snapshots")
            t0 = time.perf_counter()
            info, _ = snaps.write(source_of(ms, height, CHAIN, 1))
            out["snapshot_s"] = round(time.perf_counter() - t0, 2)
            chunk_bytes = [len(snaps.load_chunk(height, info.format, i) or b"") for i in range(info.chunks)]
            out.update(
                snapshot_bytes=sum(chunk_bytes),
                chunks=info.chunks,
                store_db_bytes=_dir_size(str(root / "source")),
            )
            _say(
                f"snapshot of height {height}: {out['snapshot_s']}s, {sum(chunk_bytes):,} bytes, "
                f"{info.chunks} chunks"
            )
            out.update(restore_memory(ms, root, info, args))
            out["restore_vs_replay"] = round(replay_s / float(str(out["restore_s"])), 2)
            _say(
                f"restore: {out['restore_s']}s ({out['restore_keys_per_s']:,} keys/s) "
                f"vs replay {replay_s:.2f}s"
            )
            if not args.no_blocks:
                ms = MultiStore.open(str(root / "source"), [STORE])
                out.update(blocks_while_writing(ms, root, rng, args.keys))
                ms.close()
            if not args.no_node:
                node_phase(args.keys, root / "node", out)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
