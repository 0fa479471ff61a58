"""Soak: the resident memory of a real node over many blocks, idle and under tx and task load.

    python -m benchmarks.soak [--blocks 10000] [--timeout-commit 10ms] [--runs idle,load]
    python -m benchmarks.soak --blocks 2000          # quick mode

Each run starts a fresh single-validator chain as ``make run`` does (``taskmaster run-dev``: the
application with its in-process CoinGecko simulator feeding the oracle's vote extensions, and its
CometBFT child), with a short ``timeout_commit`` so blocks come fast. It samples the resident set size
(VmRSS) of the application process and of the CometBFT process every ``--sample-every`` blocks until
``--blocks``. Runs:

* ``idle``: no txs (the oracle rounds, the taskmaster's built-in tasks and the per-block bookkeeping);
* ``load``: bank sends among a fixed set of accounts at ``--tx-rate`` tx/s, plus ``--tasks`` recurring
  kv tasks (interval 100, staggered so that about ``tasks / 100`` run in every block), each
  overwriting its own key, so the state does not grow with the blocks.

Per run and process: RSS at 1,000 blocks (``--warmup``), at the end, and the least-squares slope of
RSS per 1,000 blocks over the samples after the warm-up. CometBFT's slope is the same run's baseline
(a Go node that keeps every block grows too). Progress lines go to stdout; the last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.signing import SigningKey
from taskmaster.bank.v1 import bank_pb2
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import tx_pb2, types_pb2

from abci_app.client import RpcClient
from abci_app.node.home import NodePorts, init_network
from abci_app.tx.codec import build_tx
from benchmarks.harness import ROOT, free_ports, fund_senders
from tests.app.driver import address_of

TASK_INTERVAL = 100  # the tasks module's default min_interval


def say(message: str) -> None:
    """One progress line."""
    print(f"==> {message}", flush=True)


def rss_kb(pid: int) -> int:
    """Resident set size of process ``pid`` in kB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cometbft_child(pid: int, timeout: float = 60.0) -> int:
    """The pid of the CometBFT process the application ``pid`` started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
                if Path(f"/proc/{child}/comm").read_text().strip().startswith("cometbft"):
                    return int(child)
        time.sleep(0.2)
    raise RuntimeError(f"the application (pid {pid}) started no CometBFT process within {timeout:.0f}s")


def slope_per_1000(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of ``(height, kB)`` points, in kB per 1,000 blocks (0 for fewer than 2)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(h for h, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((h - mx) ** 2 for h, _ in points)
    if sxx == 0:
        return 0.0
    return 1000 * sum((h - mx) * (v - my) for h, v in points) / sxx


@dataclass
class Samples:
    """RSS samples of one run: (height, app kB, CometBFT kB)."""

    rows: list[tuple[int, int, int]] = field(default_factory=list)

    def at(self, height: int) -> tuple[int, int, int]:
        """The first sample at or above ``height`` (the last one if none is)."""
        return next((r for r in self.rows if r[0] >= height), self.rows[-1])

    def summary(self, warmup: int) -> dict[str, Any]:
        """RSS at the warm-up height and at the end, and the slope after the warm-up, per process."""
        after = [r for r in self.rows if r[0] >= warmup]
        out: dict[str, Any] = {}
        for index, name in ((1, "app"), (2, "cometbft")):
            out[name] = {
                f"rss_mb_at_{warmup}": round(self.at(warmup)[index] / 1024, 1),
                "rss_mb_end": round(self.rows[-1][index] / 1024, 1),
                "slope_kb_per_1000_blocks": round(slope_per_1000([(r[0], r[index]) for r in after]), 1),
            }
        return out


@contextlib.contextmanager
def dev_node(workdir: Path, timeout_commit: str) -> Any:
    """A ``run-dev`` node (simulated prices) on free ports: yields (client, home, app pid, CometBFT pid)."""
    home = workdir / "node"
    rpc, p2p, abci_port, grpc_port = free_ports(4)
    init_network(
        [home],
        [NodePorts(rpc, p2p, abci_port, grpc_port, metrics=0, api=0)],
        "soak-1",
        timeout_commit=timeout_commit,
    )
    log = workdir / "node.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "abci_app.cli", "run-dev", "--home", str(home)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        client = RpcClient(f"http://127.0.0.1:{rpc}")
        cometbft = cometbft_child(proc.pid)
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(Exception):
                if client.height() >= 2:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not start; see {log}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield client, home, proc.pid, cometbft
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class TxLoad:
    """Bank sends among ``senders`` funded accounts at ``rate`` tx/s, on a background thread."""

    def __init__(self, client: RpcClient, keys: list[SigningKey], rate: float) -> None:
        self.client = client
        self.keys = keys
        self.rate = rate
        self.sent = 0
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TxLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        chain_id = self.client.chain_id()
        addresses = [address_of(k) for k in self.keys]
        accounts = {}
        for address in addresses:
            account = self.client.account(address)
            assert account is not None, address
            accounts[address] = [account.account_number, account.sequence]
        i = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            key, sender = self.keys[i % len(self.keys)], addresses[i % len(addresses)]
            recipient = addresses[(i + 1) % len(addresses)]
            number, sequence = accounts[sender]
            tx = build_tx(
                key,
                [
                    bank_pb2.MsgSend(
                        from_address=sender,
                        to_address=recipient,
                        amount=[bank_pb2.Coin(denom="utask", amount="1")],
                    )
                ],
                chain_id=chain_id,
                account_number=number,
                sequence=sequence,
                fee=500,
                gas_limit=200_000,
            )
            try:
                answer = self.client.broadcast(tx, "sync")
                self.sent += 1
                if answer.get("code", 1) == 0:
                    self.accepted += 1
                    accounts[sender][1] += 1
                else:  # out of step (a tx dropped): read the sequence again
                    account = self.client.account(sender)
                    if account is not None:
                        accounts[sender][1] = account.sequence
            except Exception:  # the node is busy or stopping: try again later
                time.sleep(0.5)
            i += 1
            next_at += 1 / self.rate
            self._stop.wait(max(0.0, next_at - time.monotonic()))


def schedule_tasks(client: RpcClient, owner_key: SigningKey, count: int, blocks: int) -> int:
    """Schedule ``count`` recurring kv tasks owned by ``owner_key``, staggered over one interval."""
    owner = address_of(owner_key)
    start = client.height() + 20
    executions = blocks // TASK_INTERVAL + 2
    messages = [
        tx_pb2.MsgScheduleTask(
            sender=owner,
            definition=types_pb2.TaskDefinition(
                task=types_pb2.Task(
                    from_address=owner,
                    gas=50_000,
                    target="/taskmaster.kv.v1.MsgPut",
                    data=kv_pb2.MsgPut(owner=owner, key=b"soak-%d" % i, value=b"v").SerializeToString(),
                    nonce=i,
                ),
                schedule=types_pb2.TaskSchedule(
                    start_block=start + i % TASK_INTERVAL,
                    interval=TASK_INTERVAL,
                    executions=executions,
                    active=True,
                ),
            ),
        )
        for i in range(count)
    ]
    scheduled = 0
    for first in range(0, count, 25):
        batch: list[Any] = messages[first : first + 25]
        result = client.sign_and_broadcast(owner_key, owner, batch, fee=200_000, gas_limit=40_000_000)
        if result["tx_result"]["code"] != 0:
            raise RuntimeError(f"scheduling failed: {result['tx_result']['log']}")
        scheduled += len(batch)
    return scheduled


def fund_senders_for(client: RpcClient, home: Path, label: str, count: int, amount: int) -> list[SigningKey]:
    """``fund_senders`` for a node given by its client and home."""
    from benchmarks.harness import RunningNode

    return fund_senders(RunningNode(home, client.node, "", client), label, count, amount)


def sample_until(client: RpcClient, name: str, args: argparse.Namespace, pids: tuple[int, int]) -> Samples:
    """Sample both processes' RSS every ``--sample-every`` blocks until ``--blocks``; progress lines."""
    samples = Samples()
    started = time.monotonic()
    first = client.height()
    next_sample = 0
    while True:
        try:
            height = client.height()
        except Exception:  # a busy node: ask again
            time.sleep(0.5)
            continue
        if height >= next_sample:
            samples.rows.append((height, rss_kb(pids[0]), rss_kb(pids[1])))
            if len(samples.rows) % max(1, 500 // args.sample_every) == 1 or height >= args.blocks:
                _, app_kb, cmt_kb = samples.rows[-1]
                rate = (height - first) / max(1e-9, time.monotonic() - started)
                say(
                    f"{name}: height {height}, app {app_kb / 1024:.1f} MB, "
                    f"cometbft {cmt_kb / 1024:.1f} MB ({rate:.1f} blocks/s)"
                )
            next_sample = height - height % args.sample_every + args.sample_every
        if height >= args.blocks:
            return samples
        if rss_kb(pids[0]) == 0:
            raise RuntimeError("the application stopped; see its node.log")
        time.sleep(0.25)


def run(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One soak run; returns its summary."""
    say(f"{name}: starting a run-dev node (timeout_commit {args.timeout_commit})")
    with (
        dev_node(workdir / name, args.timeout_commit) as (client, home, app_pid, cmt_pid),
        contextlib.ExitStack() as stack,
    ):
        load: TxLoad | None = None
        tasks = 0
        if name == "load":
            # one funding tx (the faucet's sequence stays in step): the senders and the tasks' owner
            *keys, owner = fund_senders_for(client, home, "soak-account", args.senders + 1, 10**13)
            tasks = schedule_tasks(client, owner, args.tasks, args.blocks)
            load = stack.enter_context(TxLoad(client, keys, args.tx_rate))
            say(f"{name}: {tasks} recurring tasks; {args.tx_rate:.0f} tx/s from {args.senders} accounts")
        started = time.monotonic()
        samples = sample_until(client, name, args, (app_pid, cmt_pid))
        result: dict[str, Any] = {
            "blocks": samples.rows[-1][0],
            "wall_s": round(time.monotonic() - started, 1),
        }
        if load is not None:
            result.update(txs_sent=load.sent, txs_accepted=load.accepted, recurring_tasks=tasks)
    result.update(samples.summary(args.warmup))
    say(f"{name}: {json.dumps(result)}")
    return result


def machine() -> dict[str, Any]:
    """The machine the figures come from."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def main() -> None:
    """Run the soak runs; print one JSON object last."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--blocks", type=int, default=10_000, help="blocks per run (quick mode: 2000)")
    parser.add_argument("--warmup", type=int, default=1000, help="blocks before the slope is measured")
    parser.add_argument("--timeout-commit", default="10ms")
    parser.add_argument("--runs", default="idle,load", help="comma-separated: idle, load")
    parser.add_argument("--sample-every", type=int, default=50, help="blocks between RSS samples")
    parser.add_argument("--tx-rate", type=float, default=20.0, help="bank sends per second (load run)")
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=200, help="recurring tasks (load run)")
    args = parser.parse_args()
    if args.warmup >= args.blocks:
        parser.error("--warmup must be below --blocks")
    runs = [r for r in args.runs.split(",") if r]
    if not set(runs) <= {"idle", "load"}:
        parser.error("--runs takes idle and/or load")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        for name in runs:
            results[name] = run(name, args, Path(tmp))
    print(
        json.dumps(
            {
                "benchmark": "soak",
                "machine": machine(),
                "blocks": args.blocks,
                "warmup_blocks": args.warmup,
                "timeout_commit": args.timeout_commit,
                "baseline": "cometbft (same run)",
                "runs": results,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
