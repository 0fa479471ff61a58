"""Benchmark of the authenticated store against a plain rocksdict baseline.

``python -m benchmarks.store [--keys N] [--quick] [--dir PATH]`` builds a tree of N keys (default
1,000,000), then measures committed updates per second with blocks of 1,000 and 10,000 updates, the
stage+commit latency per block, cached get latency (hit and miss), proof generation time and the size
on disk; then the same operations on a plain rocksdict without a tree. Progress goes to stdout; the
last line is one JSON object of figures. After each commit it settles the garbage collector as the node
does (``abci_app.store.gcpolicy``), so no multi-second full collection lands inside a block.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from abci_app.store import MultiStore
from abci_app.store.gcpolicy import settle_after_commit

STORE = "bank"
VALUE_LEN = 32


def _key(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest()[:20]


def _say(msg: str) -> None:
    print(f"[store-bench] {msg}", flush=True)


def _dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _per_op_us(fn: Callable[[bytes], object], keys: list[bytes]) -> float:
    for k in keys:  # warm the cache
        fn(k)
    start = time.perf_counter()
    for k in keys:
        fn(k)
    return (time.perf_counter() - start) / len(keys) * 1e6


def _timed_blocks(run_block: Callable[[], None], block: int, count: int) -> dict[str, float]:
    """Run ``count`` blocks of ``block`` updates each; throughput and per-block latency figures."""
    latencies = []
    start = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        run_block()
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    return {
        "updates_per_s": round(block * count / total),
        "block_latency_ms_median": round(statistics.median(latencies) * 1e3, 1),
        "block_latency_ms_max": round(max(latencies) * 1e3, 1),
    }


def _tree_blocks(ms: MultiStore, rng: random.Random, n_keys: int, block: int, count: int) -> dict[str, float]:
    def run_block() -> None:
        b = ms.branch()
        st = b.store(STORE)
        for _ in range(block):
            st.set(_key(rng.randrange(n_keys)), rng.randbytes(VALUE_LEN))
        ms.stage(b, ms.last_version + 1)
        ms.commit()
        settle_after_commit()

    return _timed_blocks(run_block, block, count)


def _plain_blocks(db: Rdict, rng: random.Random, n_keys: int, block: int, count: int) -> dict[str, float]:
    opts = WriteOptions()
    opts.sync = True

    def run_block() -> None:
        writes = {_key(rng.randrange(n_keys)): rng.randbytes(VALUE_LEN) for _ in range(block)}
        batch = WriteBatch(raw_mode=True)
        for k in sorted(writes):
            batch.put(k, writes[k])
        db.write(batch, opts)

    return _timed_blocks(run_block, block, count)


def bench_tree(path: str, n_keys: int, blocks: int, rng: random.Random) -> dict[str, object]:
    """Figures for the authenticated store."""
    ms = MultiStore.open(path, [STORE])
    load_block = 100_000
    t0 = time.perf_counter()
    for lo in range(0, n_keys, load_block):
        b = ms.branch()
        st = b.store(STORE)
        for i in range(lo, min(n_keys, lo + load_block)):
            st.set(_key(i), rng.randbytes(VALUE_LEN))
        ms.stage(b, ms.last_version + 1)
        ms.commit()
        ms.prune(keep_recent=1)
        settle_after_commit()
        _say(f"tree: loaded {min(n_keys, lo + load_block):,} keys ({time.perf_counter() - t0:.1f}s)")
    out: dict[str, object] = {"load_s": round(time.perf_counter() - t0, 1)}
    for block in (1_000, 10_000):
        _say(f"tree: {blocks} blocks of {block:,} updates")
        out[f"blocks_{block}"] = _tree_blocks(ms, rng, n_keys, block, blocks)
        _say(f"tree: {out[f'blocks_{block}']}")
    view = ms.branch().store(STORE)
    hits = [_key(rng.randrange(n_keys)) for _ in range(20_000)]
    misses = [_key(n_keys + i) for i in range(20_000)]
    out["get_hit_us"] = round(_per_op_us(view.get, hits), 2)
    out["get_miss_us"] = round(_per_op_us(view.get, misses), 2)
    sample = hits[:2_000]
    t0 = time.perf_counter()
    for k in sample:
        ms.query(STORE, k, prove=True)
    out["proof_us"] = round((time.perf_counter() - t0) / len(sample) * 1e6, 1)
    _say(f"tree: get hit {out['get_hit_us']} us, miss {out['get_miss_us']} us, proof {out['proof_us']} us")
    ms.prune(keep_recent=1)
    ms.close()
    out["db_bytes"] = _dir_size(path)
    return out


def bench_plain(path: str, n_keys: int, blocks: int, rng: random.Random) -> dict[str, object]:
    """The same operations on a plain rocksdict (no tree, no versions, no proofs)."""
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    db = Rdict(path, options=opts)
    t0 = time.perf_counter()
    for lo in range(0, n_keys, 100_000):
        batch = WriteBatch(raw_mode=True)
        for i in range(lo, min(n_keys, lo + 100_000)):
            batch.put(_key(i), rng.randbytes(VALUE_LEN))
        db.write(batch)
    out: dict[str, object] = {"load_s": round(time.perf_counter() - t0, 1)}
    _say(f"plain: loaded {n_keys:,} keys")
    for block in (1_000, 10_000):
        out[f"blocks_{block}"] = _plain_blocks(db, rng, n_keys, block, blocks)
        _say(f"plain: blocks of {block:,}: {out[f'blocks_{block}']}")
    hits = [_key(rng.randrange(n_keys)) for _ in range(20_000)]
    misses = [_key(n_keys + i) for i in range(20_000)]
    out["get_hit_us"] = round(_per_op_us(db.get, hits), 2)
    out["get_miss_us"] = round(_per_op_us(db.get, misses), 2)
    db.close()
    out["db_bytes"] = _dir_size(path)
    return out


def main() -> None:
    """Parse arguments, run both benchmarks, print the JSON figures last."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--blocks", type=int, default=5, help="blocks per block size")
    parser.add_argument("--quick", action="store_true", help="20,000 keys, 3 blocks")
    parser.add_argument("--dir", default=None, help="where to put the databases (default: a temp dir)")
    args = parser.parse_args()
    if args.quick:
        args.keys, args.blocks = 20_000, 3
    root = tempfile.mkdtemp(prefix="store-bench-", dir=args.dir)
    rng = random.Random(7)
    try:
        _say(f"{args.keys:,} keys, {args.blocks} blocks per size, in {root}")
        tree = bench_tree(os.path.join(root, "tree"), args.keys, args.blocks, rng)
        plain = bench_plain(os.path.join(root, "plain"), args.keys, args.blocks, rng)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"keys": args.keys, "tree": tree, "plain_rocksdict": plain}, sort_keys=True))


if __name__ == "__main__":
    main()
