"""Sustained committed tx/s through one real CometBFT node: our application vs ``abci-cli kvstore``.

Both nodes run the same CometBFT build with the same consensus and mempool settings; the same load
generator offers the same rate of same-sized txs over ``broadcast_tx_sync`` (each sender's txs in
order, as a wallet would, posted in small JSON-RPC batches), and a watcher polls ``/status`` to time
when each block is committed.
Figures: committed tx/s over the run, mean and p95 commit latency (send -> block seen), and the ratio.

    python -m benchmarks.tx_throughput [--rate 800] [--duration 20] [--senders 40] [--batch 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from taskmaster.bank.v1 import bank_pb2

from abci_app.tx.codec import build_tx
from benchmarks.harness import RunningNode, fund_senders, kvstore_node, taskmaster_node
from tests.app.driver import address_of, seeded_key


@dataclass
class LoadResult:
    """What one run measured."""

    sent: int
    committed: int
    tx_per_s: float
    mean_latency_ms: float
    p95_latency_ms: float
    rejected: int


async def _watch_commits(rpc: str, seen: dict[int, float], stop: asyncio.Event) -> None:
    last = 0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.get(f"{rpc}/status") as resp:
                    height = int((await resp.json())["result"]["sync_info"]["latest_block_height"])
            except (aiohttp.ClientError, KeyError, ValueError):
                await asyncio.sleep(0.02)
                continue
            now = time.monotonic()
            for h in range(last + 1, height + 1):
                seen.setdefault(h, now)
            last = max(last, height)
            await asyncio.sleep(0.02)


async def _offer(
    rpc: str, lanes: Sequence[Sequence[bytes]], rate: float, batch: int = 10
) -> tuple[dict[bytes, float], int, int]:
    """Send lane ``i``'s txs in order; overall ``rate`` txs per second. Returns send times by hash.

    Each lane posts ``batch`` consecutive txs as one JSON-RPC batch of ``broadcast_tx_sync`` calls
    (CometBFT answers a batch's calls one after another, so a sender's sequence order holds); this
    keeps the load generator's own CPU use low on a small machine, for both nodes alike.
    """
    sent_at: dict[bytes, float] = {}
    rejected = 0
    start_height = 0
    lane_rate = rate / len(lanes)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{rpc}/status") as resp:
            start_height = int((await resp.json())["result"]["sync_info"]["latest_block_height"])
        t0 = time.monotonic()

        async def lane(index: int, txs: Sequence[bytes]) -> None:
            nonlocal rejected
            for k in range(0, len(txs), batch):
                due = t0 + (k + index / len(lanes)) / lane_rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                chunk = txs[k : k + batch]
                body = [
                    {
                        "jsonrpc": "2.0",
                        "id": j,
                        "method": "broadcast_tx_sync",
                        "params": {"tx": base64.b64encode(tx).decode()},
                    }
                    for j, tx in enumerate(chunk)
                ]
                now = time.monotonic()
                for tx in chunk:
                    sent_at[hashlib.sha256(tx).digest()] = now
                try:
                    async with session.post(rpc, json=body) as resp:
                        answers = await resp.json()
                except aiohttp.ClientError:  # the node dropped the request (overloaded): not accepted
                    rejected += len(chunk)
                    continue
                rejected += sum(1 for a in answers if "error" in a or a["result"]["code"] != 0)

        await asyncio.gather(*(lane(i, txs) for i, txs in enumerate(lanes)))
    return sent_at, start_height, rejected


async def _measure(
    node: RunningNode, lanes: Sequence[Sequence[bytes]], rate: float, batch: int = 10
) -> LoadResult:
    seen: dict[int, float] = {}
    stop = asyncio.Event()
    watcher = asyncio.ensure_future(_watch_commits(node.rpc, seen, stop))
    sent_at, start_height, rejected = await _offer(node.rpc, lanes, rate, batch)
    first_send = min(sent_at.values())
    # wait for the mempool to drain: two blocks in a row without any of our txs, or 60 s
    committed_at: dict[bytes, float] = {}
    async with aiohttp.ClientSession() as session:
        height, empty_run, deadline = start_height + 1, 0, time.monotonic() + 60
        while empty_run < 2 and time.monotonic() < deadline and len(committed_at) < len(sent_at):
            if height not in seen:
                await asyncio.sleep(0.05)
                continue
            async with session.get(f"{node.rpc}/block", params={"height": str(height)}) as resp:
                block = (await resp.json())["result"]["block"]
            txs = block["data"]["txs"] or []
            ours = 0
            for raw in txs:
                digest = hashlib.sha256(base64.b64decode(raw)).digest()
                if digest in sent_at:
                    committed_at[digest] = seen[height]
                    ours += 1
            empty_run = empty_run + 1 if ours == 0 and time.monotonic() > first_send + 5 else 0
            height += 1
    stop.set()
    await watcher
    latencies = sorted((committed_at[h] - sent_at[h]) * 1000 for h in committed_at)
    span = max(committed_at.values()) - first_send if committed_at else 1.0
    return LoadResult(
        sent=len(sent_at),
        committed=len(committed_at),
        tx_per_s=round(len(committed_at) / span, 1),
        mean_latency_ms=round(statistics.fmean(latencies), 1) if latencies else 0.0,
        p95_latency_ms=round(latencies[int(len(latencies) * 0.95) - 1], 1) if latencies else 0.0,
        rejected=rejected,
    )


def _taskmaster_lanes(node: RunningNode, senders: int, per_sender: int) -> list[list[bytes]]:
    keys = fund_senders(node, "bench-sender", senders, 10**12)
    chain_id = node.client.chain_id()
    lanes = []
    for key in keys:
        account = node.client.account(address_of(key))
        assert account is not None
        recipient = address_of(seeded_key(f"bench-recipient-{account.account_number}"))
        lanes.append(
            [
                build_tx(
                    key,
                    [
                        bank_pb2.MsgSend(
                            from_address=address_of(key),
                            to_address=recipient,
                            amount=[bank_pb2.Coin(denom="utask", amount="1")],
                        )
                    ],
                    chain_id=chain_id,
                    account_number=account.account_number,
                    sequence=seq,
                    fee=500,
                    gas_limit=100_000,
                )
                for seq in range(per_sender)
            ]
        )
    return lanes


def _kvstore_lanes(size: int, senders: int, per_sender: int) -> list[list[bytes]]:
    lanes = []
    for i in range(senders):
        lane = []
        for k in range(per_sender):
            key = f"bench{i:03d}-{k:06d}=".encode()
            lane.append(key + os.urandom(size).hex().encode()[: max(1, size - len(key))])
        lanes.append(lane)
    return lanes


def main() -> None:
    """Run both loads and print the figures; the last line is one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=800.0, help="offered txs per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--senders", type=int, default=40)
    parser.add_argument("--batch", type=int, default=10, help="txs per JSON-RPC batch request")
    parser.add_argument("--quick", action="store_true", help="a 5-second run at 200 tx/s")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.duration, args.senders = 200.0, 5.0, 10
    per_sender = max(1, int(args.rate * args.duration / args.senders))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"starting the Taskmaster node (our app + CometBFT) in {tmp}", flush=True)
        with taskmaster_node(Path(tmp)) as node:
            print(
                f"signing {per_sender * args.senders} bank sends from {args.senders} funded senders",
                flush=True,
            )
            lanes = _taskmaster_lanes(node, args.senders, per_sender)
            size = len(lanes[0][0])
            print(f"offering {args.rate:.0f} tx/s for {args.duration:.0f}s ({size}-byte txs)", flush=True)
            ours = asyncio.run(_measure(node, lanes, args.rate, args.batch))
            print(f"taskmaster: {ours}", flush=True)
        print("starting CometBFT + abci-cli kvstore (baseline)", flush=True)
        with kvstore_node(Path(tmp)) as node:
            kv_lanes = _kvstore_lanes(size, args.senders, per_sender)
            print(f"offering {args.rate:.0f} tx/s for {args.duration:.0f}s ({size}-byte txs)", flush=True)
            base = asyncio.run(_measure(node, kv_lanes, args.rate, args.batch))
            print(f"kvstore: {base}", flush=True)
    figures = {
        "offered_tx_per_s": args.rate,
        "duration_s": args.duration,
        "batch": args.batch,
        "tx_bytes": size,
        "taskmaster_tx_per_s": ours.tx_per_s,
        "taskmaster_committed": ours.committed,
        "taskmaster_rejected": ours.rejected,
        "taskmaster_mean_commit_latency_ms": ours.mean_latency_ms,
        "taskmaster_p95_commit_latency_ms": ours.p95_latency_ms,
        "kvstore_tx_per_s": base.tx_per_s,
        "kvstore_committed": base.committed,
        "kvstore_mean_commit_latency_ms": base.mean_latency_ms,
        "kvstore_p95_commit_latency_ms": base.p95_latency_ms,
        "ratio": round(ours.tx_per_s / base.tx_per_s, 3) if base.tx_per_s else 0.0,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
