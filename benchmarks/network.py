"""Block time and price-round success with every link delayed, against the same chain without delay.

``python -m benchmarks.network [--seconds S] [--delay-ms MS] [--validators N] [--quick] [--dir PATH]``
starts a chain across separate hosts (one network namespace per validator, ``devtools/multihost.py``,
set up by the operator commands; root needed), lets it settle, then measures two phases of ``S``
seconds (default 60) on that same chain: the *baseline* with no delay, then every link delayed by
``MS`` ms each way (default 100: netem where the kernel has it, else toxiproxy). For each phase: blocks
committed, mean / p50 / p95 / max block interval (from the block headers' times) and the price rounds'
success rate (pair outcomes of the oracle task that wrote a price, over all its outcomes). Progress
goes to stdout; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from taskmaster.taskmaster.v1 import taskmaster_pb2

from abci_app.client import RpcClient
from devtools.multihost import Multihost
from devtools.netns import NetnsError


def _say(msg: str) -> None:
    print(f"[network-bench] {msg}", flush=True)


def _oracle_counts(client: RpcClient, height: int) -> tuple[int, int]:
    """(success, failure) outcome counts of the oracle task at ``height``."""
    answer = client.query(
        "/taskmaster.taskmaster.v1.Query/Task",
        taskmaster_pb2.QueryTaskRequest(name="oracle"),
        taskmaster_pb2.QueryTaskResponse,
        height,
    )
    task = answer.task  # type: ignore[attr-defined]
    return int(task.success_count), int(task.failure_count)


def _block_times_ns(client: RpcClient, low: int, high: int) -> list[int]:
    """Header times of blocks ``low..high`` in nanoseconds."""
    times: dict[int, int] = {}
    start = low
    while start <= high:
        end = min(high, start + 19)
        metas = client.call("blockchain", {"minHeight": str(start), "maxHeight": str(end)})["block_metas"]
        for meta in metas:
            stamp = Timestamp()
            stamp.FromJsonString(meta["header"]["time"])
            times[int(meta["header"]["height"])] = stamp.ToNanoseconds()
        start = end + 1
    return [times[h] for h in sorted(times)]


def _wait_blocks(client: RpcClient, count: int, timeout: float = 120.0) -> int:
    target = client.height() + count
    deadline = time.monotonic() + timeout
    while client.height() < target:
        if time.monotonic() > deadline:
            raise SystemExit(f"the chain made fewer than {count} blocks in {timeout:.0f}s")
        time.sleep(0.5)
    return target


def measure(net: Multihost, label: str, delay_ms: int, seconds: float) -> dict[str, Any]:
    """One phase: set the delay, settle for 3 blocks, then count for ``seconds``."""
    client = net.operators[0].client(timeout=10.0)
    net.set_delay(delay_ms)
    _say(f"{label}: links delayed {delay_ms} ms each way ({net.latency or 'none'}); settling for 3 blocks")
    _wait_blocks(client, 3)
    first = client.height()
    ok0, failed0 = _oracle_counts(client, first)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        time.sleep(min(10.0, seconds - (time.monotonic() - started)) if seconds > 0 else 0)
        _say(f"{label}: height {client.height()} after {time.monotonic() - started:.0f}s of {seconds:.0f}s")
    last = client.height()
    ok1, failed1 = _oracle_counts(client, last)
    stamps = _block_times_ns(client, first, last)
    gaps_ms = [(b - a) / 1e6 for a, b in itertools.pairwise(stamps)]
    outcomes = (ok1 - ok0) + (failed1 - failed0)
    result = {
        "delay_ms": delay_ms,
        "blocks": last - first,
        "block_time_ms_mean": round(statistics.fmean(gaps_ms), 1) if gaps_ms else None,
        "block_time_ms_p50": round(statistics.median(gaps_ms), 1) if gaps_ms else None,
        "block_time_ms_p95": round(sorted(gaps_ms)[int(0.95 * (len(gaps_ms) - 1))], 1) if gaps_ms else None,
        "block_time_ms_max": round(max(gaps_ms), 1) if gaps_ms else None,
        "price_outcomes": outcomes,
        "prices_written": ok1 - ok0,
        "price_round_success_rate": round((ok1 - ok0) / outcomes, 3) if outcomes else None,
    }
    _say(f"{label}: {json.dumps(result, sort_keys=True)}")
    return result


def main() -> None:
    """Run both phases on one chain and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each measured phase")
    parser.add_argument("--delay-ms", type=int, default=100, help="one-way delay of every link")
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="20 s phases")
    parser.add_argument("--dir", default="", help="where the homes go (default: a temporary directory)")
    args = parser.parse_args()
    seconds = 20.0 if args.quick else args.seconds
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="network-bench-"))
    _say(f"starting {args.validators} validators on separate hosts in {root}")
    try:
        net = Multihost.create(root, validators=args.validators, spare=0)
    except NetnsError as exc:
        raise SystemExit(f"this benchmark needs Linux network namespaces (root): {exc}") from exc
    try:
        if not net.latency:
            raise SystemExit(
                "no way to delay links: no netem in this kernel and no toxiproxy (make toxiproxy)"
            )
        net.start(range(args.validators))
        if not net.wait_for_heights(3, 120.0):
            raise SystemExit(f"the chain did not start\n{net.logs()}")
        baseline = measure(net, "baseline", 0, seconds)
        delayed = measure(net, "delayed", args.delay_ms, seconds)
    finally:
        net.close()
    ratio = (
        round(delayed["block_time_ms_mean"] / baseline["block_time_ms_mean"], 2)
        if baseline["block_time_ms_mean"] and delayed["block_time_ms_mean"]
        else None
    )
    out = {
        "benchmark": "network",
        "validators": args.validators,
        "latency_method": net.latency,
        "phase_seconds": seconds,
        "timeout_commit": net.timeout_commit,
        "baseline": baseline,
        "delayed": delayed,
        "block_time_ratio": ratio,
    }
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
