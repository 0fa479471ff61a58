"""Task manager figures: a block of 10,000 due tasks, range queries vs index size, scheduling throughput.

    python -m benchmarks.tasks [--quick] [--skip-node]

1. ``finalize_block_10k_ms``: FinalizeBlock of one block in which 10,000 small tasks (kv puts) are due,
   in process on RocksDB (tasks scheduled through the keeper, committed, then the block is timed).
2. ``range_query_ms``: GetTasksInRange over a 1,000-block window holding 1,000 due entries, with
   1,000,000 and with 10,000 entries in the index (built directly through the store, committed in
   batches); median of repeated queries through the query handler, serialization included.
3. ``schedule_tx_per_s``: committed MsgScheduleTask txs per second through one real CometBFT node.

Progress lines go to stdout; the last line is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import query_pb2, tx_pb2, types_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.app import Application
from abci_app.modules.tasks import keeper, queries
from abci_app.modules.tasks.keys import DUE, STORE
from abci_app.store import MultiStore
from abci_app.tx.codec import build_tx
from tests.app.driver import Chain, address_of


def say(message: str) -> None:
    """One progress line."""
    print(f"==> {message}", flush=True)


def _kv_task(owner: str, nonce: int, start: int) -> types_pb2.TaskDefinition:
    data = kv_pb2.MsgPut(owner=owner, key=b"n%d" % nonce, value=b"v").SerializeToString()
    return types_pb2.TaskDefinition(
        task=types_pb2.Task(
            from_address=owner, gas=50_000, target="/taskmaster.kv.v1.MsgPut", data=data, nonce=nonce
        ),
        schedule=types_pb2.TaskSchedule(start_block=start, executions=1, active=True),
    )


def bench_due_block(workdir: Path, tasks: int) -> dict[str, Any]:
    """Time FinalizeBlock of a block in which ``tasks`` small tasks are due."""
    say(f"due block: scheduling {tasks} tasks through the keeper")
    chain = Chain.start(str(workdir / "due.db"), accounts=100, balance=10**15)
    chain.block([])
    app: Application = chain.app
    branch = app.store.branch()
    ctx = app._context(branch, chain.height + 1)
    params = types_pb2.Params()
    params.CopyFrom(keeper.DEFAULT_PARAMS)
    params.max_block_task_gas = tasks * keeper.SMALL.cap + keeper.LARGE.cap
    params.block_task_gas_reserve = 0
    keeper.set_params(ctx, params)
    owners = [address_of(chain.accounts[f"user{i}"]) for i in range(100)]
    due = chain.height + 2
    for i in range(tasks):
        owner = owners[i % len(owners)]
        keeper.schedule(ctx, _kv_task(owner, i // len(owners), due), owner, 1, due)
    app.store.stage(branch, chain.height + 1)
    app.commit(abci.RequestCommit())
    chain.height += 1
    say(f"due block: executing block {due} with {tasks} due tasks")
    started = time.perf_counter()
    response = app.finalize_block(
        abci.RequestFinalizeBlock(
            txs=[], height=due, time=Timestamp(seconds=chain.time_s + 5), proposer_address=chain.proposer
        )
    )
    elapsed = time.perf_counter() - started
    app.commit(abci.RequestCommit())
    summary = next(e for e in response.events if e.type == "TasksExecuted")
    executed = int(next(a.value for a in summary.attributes if a.key == "executed"))
    app.close()
    say(f"due block: {executed} tasks executed in {elapsed * 1000:.0f} ms")
    return {"tasks": tasks, "executed": executed, "finalize_block_ms": round(elapsed * 1000, 1)}


def _build_index(path: Path, total: int, window_start: int, batch: int) -> MultiStore:
    """An index of ``total`` entries, 1,000 of them one per block in the window, the rest elsewhere."""
    ms = MultiStore.open(str(path), [STORE], sync=False)
    version = 0
    branch = ms.branch()
    store = branch.store(STORE)
    for i in range(total):
        hash_ = hashlib.sha256(i.to_bytes(8, "big")).digest()
        if i < 1000:
            block = window_start + i
        else:  # outside the window: spread before and after it
            block = (i % (window_start - 1)) + 1 if i % 2 else window_start + 1000 + i
        DUE.add(store, block, 2, hash_)
        if (i + 1) % batch == 0 or i + 1 == total:
            version += 1
            ms.stage(branch, version)
            ms.commit()
            branch = ms.branch()
            store = branch.store(STORE)
            if total >= 100_000 and version % 5 == 0:
                say(f"range: {i + 1}/{total} index entries committed")
    return ms


def _time_range(ms: MultiStore, window_start: int, repeats: int) -> tuple[float, int]:
    from abci_app.context import Context
    from abci_app.modules.pagination import MAX_LIMIT, PageRequest

    request = query_pb2.QueryGetTasksInRangeRequest(
        start=window_start, end=window_start + 999, pagination=PageRequest(limit=MAX_LIMIT)
    )
    times = []
    count = 0
    for _ in range(repeats):
        ctx = Context(branch=ms.branch(), chain_id="bench", height=ms.last_version)
        started = time.perf_counter()
        response = queries.get_tasks_in_range(ctx, request)
        response.SerializeToString(deterministic=True)
        times.append(time.perf_counter() - started)
        count = len(response.tasks)
    return statistics.median(times) * 1000, count


def bench_range(workdir: Path, big: int, small: int) -> dict[str, Any]:
    """GetTasksInRange over 1,000 blocks with ``big`` and ``small`` entries indexed."""
    figures: dict[str, Any] = {}
    window = 5_000_000
    for total in (small, big):
        say(f"range: building an index of {total} entries")
        started = time.perf_counter()
        ms = _build_index(workdir / f"range{total}.db", total, window, 50_000)
        say(f"range: built in {time.perf_counter() - started:.1f} s; querying")
        median_ms, count = _time_range(ms, window, 30)
        ms.close()
        say(f"range: {total} entries -> {count} results in {median_ms:.2f} ms (median)")
        figures[str(total)] = {"median_ms": round(median_ms, 3), "results": count}
    figures["ratio_big_to_small"] = round(
        figures[str(big)]["median_ms"] / figures[str(small)]["median_ms"], 2
    )
    return figures


def bench_node(workdir: Path, senders: int, per_sender: int, rate: float) -> dict[str, Any]:
    """Committed MsgScheduleTask txs per second through one real node."""

    from benchmarks.harness import fund_senders, taskmaster_node
    from benchmarks.tx_throughput import _measure

    say("node: starting one validator (our app + CometBFT)")
    with taskmaster_node(workdir / "node") as node:
        keys = fund_senders(node, "bench-scheduler", senders, 10**13)
        chain_id = node.client.chain_id()
        start = node.client.height() + 100_000  # never due during the run
        lanes = []
        for key in keys:
            owner = address_of(key)
            account = node.client.account(owner)
            assert account is not None
            lanes.append(
                [
                    build_tx(
                        key,
                        [tx_pb2.MsgScheduleTask(sender=owner, definition=_kv_task(owner, seq, start))],
                        chain_id=chain_id,
                        account_number=account.account_number,
                        sequence=seq,
                        fee=2_000,
                        gas_limit=400_000,
                    )
                    for seq in range(per_sender)
                ]
            )
        say(f"node: offering {senders * per_sender} MsgScheduleTask txs at {rate:.0f}/s")
        load = asyncio.run(_measure(node, lanes, rate))
    say(f"node: {load.committed}/{load.sent} committed, {load.tx_per_s} tx/s")
    return {
        "sent": load.sent,
        "committed": load.committed,
        "tx_per_s": load.tx_per_s,
        "mean_latency_ms": load.mean_latency_ms,
        "p95_latency_ms": load.p95_latency_ms,
    }


def main() -> None:
    """Run the three measurements; print one JSON object last."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (100k index, 2,000 due tasks)")
    parser.add_argument("--skip-node", action="store_true", help="skip the real-node throughput run")
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed afterwards)")
    parser.add_argument("--rate", type=float, default=1500.0, help="MsgScheduleTask txs offered per second")
    args = parser.parse_args()
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="bench-tasks-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        figures: dict[str, Any] = {"quick": args.quick}
        figures["due_block"] = bench_due_block(workdir, 2_000 if args.quick else 10_000)
        figures["range_query"] = bench_range(workdir, 100_000 if args.quick else 1_000_000, 10_000)
        if not args.skip_node:
            senders, per_sender, rate = (10, 50, 200.0) if args.quick else (40, 250, args.rate)
            figures["schedule_throughput"] = {
                "offered_tx_per_s": rate,
                **bench_node(workdir, senders, per_sender, rate),
            }
    finally:
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
