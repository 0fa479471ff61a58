"""The chain under attack: honest bank sends through one real node, without and with one attacker.

Phase 1 (clean): honest bank sends offered at ``--rate`` tx/s for ``--duration`` s (the load generator
of ``benchmarks.tx_throughput``). Phase 2 (attack): the same honest load from fresh senders, while one
funded attacker account, in a process of its own, sends to the node's RPC as fast as the node answers
(each of its workers sends its next request when the last is answered) the costliest txs and queries
it found (docs/security.md, "Work nobody pays for"):

- ``upload_fail_late``: a MsgStoreCode of a ~128 KB module of the costliest accepted shape (one byte
  changed per tx, so no cache helps), then a MsgSend of more than the attacker's balance. CheckTx
  admits it while the attacker can pay its fee; its block compiles the module and fails the send,
  keeping the fee;
- ``largest_accepted``: a tx of kv puts of the largest value, as many as fit in ``max_tx_bytes``;
- ``bad_signature``: a tx of ``max_tx_bytes`` (a module and kv puts) at the right sequence whose
  signature is wrong: decoded, hashed and verified, then refused, unpaid;
- ``listing_query``: the listing queries over ``abci_query`` (tasks in a 100,000-block range,
  validators, balances, codes by uploader, price history);
- ``simulate``: ``/app/simulate`` of the upload above (refused: its gas is above the node's simulate
  limit) and of a costliest-shape module at that limit.

Figures: honest committed tx/s in both phases and their ratio (goal >= 0.9), the node's CPU seconds
per second in both phases (the application and CometBFT, from /proc), the attacker's requests and
answers by kind, its txs in blocks by result, and what it paid (its balance before and after).

The attacker's own process is niced and builds its forged txs before the attack: on this one box
its CPU would otherwise be taken from the node, which a remote attacker's is not. ``--kinds`` runs
only some of its workers (to see what each costs); ``--no-attacker`` runs phase 2 without it (how far
two clean phases differ on this machine).

    python -m benchmarks.adversarial [--rate 1000] [--duration 20] [--attacker-balance 250000]
        [--kinds signed,bad_signature,listing_query,simulate,junk] [--no-attacker] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import aiohttp
from cosmos.tx.v1beta1 import tx_pb2
from google.protobuf.message import Message
from nacl.signing import SigningKey
from prometheus_client.parser import text_string_to_metric_families
from taskmaster.bank.v1 import bank_pb2
from taskmaster.kv.v1 import kv_pb2
from taskmaster.oracle.v1 import oracle_pb2
from taskmaster.staking.v1 import staking_pb2
from taskmaster.tasks.v1 import query_pb2 as tasks_query_pb2
from taskmaster.wasm.v1 import wasm_pb2

from abci_app.app import SIMULATE_GAS_LIMIT
from abci_app.client import SIMULATE_PATH
from abci_app.modules.kv.keeper import MAX_KEY, MAX_VALUE
from abci_app.node.keyring import Keyring
from abci_app.tx.codec import build_tx
from benchmarks import wasm_shapes
from benchmarks.harness import RunningNode, free_ports, fund_senders, taskmaster_node
from benchmarks.tx_throughput import LoadResult, _measure
from tests.app.driver import address_of, seeded_key

MAX_TX_BYTES = 256 * 1024  # the auth param's default
UPLOAD_GAS = 75_000_000  # a ~128 KB costliest-shape upload: 500 a byte, 4,000 a function, the writes
MIN_GAS_PRICE = 1000  # utask per 1,000,000 gas (the auth param's default)
BAD_SIGNATURE_POOL = 32
WORKERS = {"signed": 1, "bad_signature": 2, "listing_query": 2, "simulate": 1, "junk": 2}
DEFAULT_KINDS = ("signed", "bad_signature", "listing_query", "simulate")
"""``junk`` (random bytes of ``max_tx_bytes``, refused by the application's decoder at once) is a
diagnostic, not an attack of its own: what the same bytes cost the node when the application does
next to nothing with them, i.e. CometBFT's own share of a large request."""
"""The attacker's workers by kind (``signed``: the failing uploads and the largest txs, in turn, at
its sequence); each sends its next request as soon as the last is answered."""
ATTACKER_NICE = 10
"""The attacker's process runs niced: on this one box its own CPU (signing 128 KB txs) would otherwise
be taken from the node, which a remote attacker's is not."""


def _fee(gas: int) -> int:
    return -(-gas * MIN_GAS_PRICE // 1_000_000)


# -- the honest load -------------------------------------------------------------------------------


def _honest_lanes(node: RunningNode, label: str, senders: int, per_sender: int) -> list[list[bytes]]:
    """``senders`` fresh funded accounts, each with ``per_sender`` signed 1 utask sends in order."""
    keys = fund_senders(node, label, senders, 10**12)
    chain_id = node.client.chain_id()
    lanes = []
    for key in keys:
        account = node.client.account(address_of(key))
        assert account is not None
        recipient = address_of(seeded_key(f"{label}-recipient-{account.account_number}"))
        send = bank_pb2.MsgSend(
            from_address=address_of(key),
            to_address=recipient,
            amount=[bank_pb2.Coin(denom="utask", amount="1")],
        )
        lanes.append(
            [
                build_tx(
                    key,
                    [send],
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


# -- the attacker ------------------------------------------------------------------------------------


def _variant(module: bytes, nonce: int) -> bytes:
    """``module`` with a custom section holding ``nonce``: another code id, the same compile work."""
    payload = b"\x01n" + nonce.to_bytes(8, "big")
    return module + b"\x00" + bytes([len(payload)]) + payload


@dataclass
class _Attacker:
    """The attacker's key, chain facts and the sequence its check state expects next."""

    rpc: str
    chain_id: str
    key: SigningKey
    account_number: int
    sequence: int
    module: bytes
    small_module: bytes
    nonce: int = 0

    @property
    def address(self) -> str:
        return address_of(self.key)

    def next_nonce(self) -> int:
        self.nonce += 1
        return self.nonce

    def sign(self, messages: Sequence[Message], gas: int, memo: str = "") -> bytes:
        return build_tx(
            self.key,
            messages,
            chain_id=self.chain_id,
            account_number=self.account_number,
            sequence=self.sequence,
            fee=_fee(gas),
            gas_limit=gas,
            memo=memo,
        )

    def upload_fail_late(self) -> bytes:
        too_much = bank_pb2.Coin(denom="utask", amount=str(10**18))
        return self.sign(
            [
                wasm_pb2.MsgStoreCode(sender=self.address, wasm=_variant(self.module, self.next_nonce())),
                bank_pb2.MsgSend(from_address=self.address, to_address=self.address, amount=[too_much]),
            ],
            UPLOAD_GAS,
        )

    def _puts(self, room: int) -> list[Message]:
        nonce = self.next_nonce()
        value = bytes(MAX_VALUE)
        count = room // (MAX_VALUE + MAX_KEY + 64)
        return [
            kv_pb2.MsgPut(
                owner=self.address, key=f"{nonce:016d}-{i:04d}".encode().ljust(MAX_KEY, b"k"), value=value
            )
            for i in range(count)
        ]

    def largest_accepted(self) -> bytes:
        puts = self._puts(MAX_TX_BYTES - 2048)
        return self.sign(puts, 150_000 * len(puts) + 10 * MAX_TX_BYTES)

    def bad_signature(self) -> bytes:
        module = _variant(self.module, self.next_nonce())
        messages: list[Message] = [wasm_pb2.MsgStoreCode(sender=self.address, wasm=module)]
        messages += self._puts(MAX_TX_BYTES - len(module) - 4096)
        tx = tx_pb2.TxRaw.FromString(self.sign(messages, UPLOAD_GAS))
        tx.signatures[0] = os.urandom(64)
        return tx.SerializeToString(deterministic=True)

    def cap_simulation(self) -> bytes:
        module = _variant(self.small_module, self.next_nonce())
        return self.sign([wasm_pb2.MsgStoreCode(sender=self.address, wasm=module)], SIMULATE_GAS_LIMIT)


def _listing_queries(attacker: _Attacker, faucet: str) -> list[tuple[str, bytes]]:
    return [
        (
            "/taskmaster.tasks.v1.Query/GetTasksInRange",
            tasks_query_pb2.QueryGetTasksInRangeRequest(start=1, end=100_000).SerializeToString(),
        ),
        ("/taskmaster.staking.v1.Query/Validators", staking_pb2.QueryValidatorsRequest().SerializeToString()),
        (
            "/taskmaster.bank.v1.Query/AllBalances",
            bank_pb2.QueryAllBalancesRequest(address=faucet).SerializeToString(),
        ),
        (
            "/taskmaster.wasm.v1.Query/CodesByUploader",
            wasm_pb2.QueryCodesByUploaderRequest(uploader=attacker.address).SerializeToString(),
        ),
        (
            "/taskmaster.oracle.v1.Query/History",
            oracle_pb2.QueryHistoryRequest(pair="bitcoin/usd").SerializeToString(),
        ),
    ]


async def _rpc(
    session: aiohttp.ClientSession, rpc: str, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    async with session.post(
        rpc, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    ) as resp:
        answer: dict[str, Any] = await resp.json(content_type=None)
    return answer


def _outcome(answer: dict[str, Any]) -> str:
    if "error" in answer:
        return "rpc error"
    result = answer["result"]
    result = result.get("response", result)
    code = int(result.get("code", 0))
    return "ok" if code == 0 else f"{result.get('codespace', '')}/{code}"


async def _attack(
    attacker: _Attacker, faucet: str, kinds_run: Sequence[str], stop: MpEvent, ready: Any
) -> dict[str, Any]:
    """Run every worker until ``stop``; returns requests by kind and outcome, and the tx hashes sent."""
    counts: dict[str, Counter[str]] = {}
    sent: list[str] = []
    expected = re.compile(r"expected (\d+)")

    async def worker(kind: str, session: aiohttp.ClientSession, step: Any) -> None:
        tally = counts.setdefault(kind, Counter())
        while not stop.is_set():
            try:
                tally[await step(session)] += 1
            except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as exc:
                tally[f"client error {type(exc).__name__}"] += 1
                await asyncio.sleep(0.05)

    async def broadcast(session: aiohttp.ClientSession, tx: bytes) -> str:
        answer = await _rpc(session, attacker.rpc, "broadcast_tx_sync", {"tx": base64.b64encode(tx).decode()})
        outcome = _outcome(answer)
        if outcome == "ok":
            attacker.sequence += 1
            sent.append(hashlib.sha256(tx).hexdigest())
        elif outcome == "sdk/32":  # another worker moved the sequence on: take the one the node expects
            found = expected.search(answer["result"].get("log", ""))
            if found:
                attacker.sequence = int(found.group(1))
        return outcome

    kinds = {"upload_fail_late": attacker.upload_fail_late, "largest_accepted": attacker.largest_accepted}
    turn = itertools.count()

    async def signed(session: aiohttp.ClientSession) -> str:
        kind = "upload_fail_late" if next(turn) % 2 == 0 else "largest_accepted"
        outcome = await broadcast(session, kinds[kind]())
        counts.setdefault(kind, Counter())[outcome] += 1
        return outcome

    # built before the attack (as a remote attacker's own CPU would be spent elsewhere) and sent
    # again in turn: CometBFT drops a tx that failed CheckTx from its cache, so each is checked again
    forged = [base64.b64encode(attacker.bad_signature()).decode() for _ in range(BAD_SIGNATURE_POOL)]
    forged_turn = itertools.count()

    junk = [base64.b64encode(os.urandom(MAX_TX_BYTES - 256)).decode() for _ in range(BAD_SIGNATURE_POOL)]
    junk_turn = itertools.count()

    async def random_bytes(session: aiohttp.ClientSession) -> str:
        tx = junk[next(junk_turn) % len(junk)]
        return _outcome(await _rpc(session, attacker.rpc, "broadcast_tx_sync", {"tx": tx}))

    async def bad_signature(session: aiohttp.ClientSession) -> str:
        index = next(forged_turn) % len(forged)
        outcome = _outcome(await _rpc(session, attacker.rpc, "broadcast_tx_sync", {"tx": forged[index]}))
        if outcome == "sdk/32":  # the attacker's sequence moved on: forge this one again at the new one
            forged[index] = base64.b64encode(attacker.bad_signature()).decode()
        return outcome

    queries = _listing_queries(attacker, faucet)
    query_turn = itertools.count()

    async def listing(session: aiohttp.ClientSession) -> str:
        path, data = queries[next(query_turn) % len(queries)]
        return _outcome(await _rpc(session, attacker.rpc, "abci_query", {"path": path, "data": data.hex()}))

    sim_turn = itertools.count()

    async def simulate(session: aiohttp.ClientSession) -> str:
        tx = attacker.upload_fail_late() if next(sim_turn) % 2 == 0 else attacker.cap_simulation()
        return _outcome(
            await _rpc(session, attacker.rpc, "abci_query", {"path": SIMULATE_PATH, "data": tx.hex()})
        )

    ready.put("ready")
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        steps = {
            "signed": signed,
            "bad_signature": bad_signature,
            "listing_query": listing,
            "simulate": simulate,
            "junk": random_bytes,
        }
        await asyncio.gather(
            *(worker(kind, session, steps[kind]) for kind in kinds_run for _ in range(WORKERS[kind]))
        )
    counts.pop("signed", None)
    cpu = os.times()
    return {
        "requests": {k: dict(v) for k, v in sorted(counts.items())},
        "sent": sent,
        "cpu_s": round(cpu.user + cpu.system, 1),
    }


def _attacker_process(
    rpc: str,
    chain_id: str,
    seed: bytes,
    number: int,
    sequence: int,
    faucet: str,
    kinds_run: Sequence[str],
    stop: MpEvent,
    out: Any,
) -> None:
    """The attacker's own process: build its modules, say it is ready, attack until ``stop``."""
    module = wasm_shapes.locals_in_nested_loops()
    saved = wasm_shapes.MODULE_BYTES
    wasm_shapes.MODULE_BYTES = SIMULATE_GAS_LIMIT // 560  # what the simulate limit's gas validates
    try:
        small = wasm_shapes.locals_in_nested_loops()
    finally:
        wasm_shapes.MODULE_BYTES = saved
    attacker = _Attacker(rpc, chain_id, SigningKey(seed), number, sequence, module, small)
    os.nice(ATTACKER_NICE)
    out.put(asyncio.run(_attack(attacker, faucet, kinds_run, stop, out)))


# -- the node's CPU ------------------------------------------------------------------------------------


def _node_pids(home: Path) -> dict[str, list[int]]:
    """The node's processes by role (``app``: our Python process; ``cometbft``), found by their home."""
    pids: dict[str, list[int]] = {"app": [], "cometbft": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not any(str(home).encode() in part for part in cmdline):
            continue
        role = "cometbft" if b"cometbft" in cmdline[0] else "app"
        pids[role].append(int(entry.name))
    return pids


def _cpu_seconds(pids: dict[str, list[int]]) -> dict[str, float]:
    """User + system CPU seconds each role has used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for role, ids in pids.items():
        total = 0
        for pid in ids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        used[role] = total / tick
    return used


# -- the phases -----------------------------------------------------------------------------------------


def _balance(node: RunningNode, address: str) -> int:
    answer = node.client.query(
        "/taskmaster.bank.v1.Query/Balance",
        bank_pb2.QueryBalanceRequest(address=address, denom="utask"),
        bank_pb2.QueryBalanceResponse,
    )
    assert isinstance(answer, bank_pb2.QueryBalanceResponse)
    return int(answer.balance.amount or 0)


def _landed(node: RunningNode, hashes: set[str], first: int, last: int) -> dict[str, int]:
    """The attacker's txs in blocks ``first..last`` by result (``ok`` or codespace/code)."""
    results: Counter[str] = Counter()
    for height in range(first, last + 1):
        block = node.client.call("block", {"height": str(height)})
        txs = block["block"]["data"].get("txs") or []
        if not any(hashlib.sha256(base64.b64decode(t)).hexdigest() in hashes for t in txs):
            continue
        tx_results = node.client.call("block_results", {"height": str(height)})["txs_results"] or []
        for raw, result in zip(txs, tx_results, strict=True):
            if hashlib.sha256(base64.b64decode(raw)).hexdigest() in hashes:
                code = int(result.get("code", 0))
                results["ok" if code == 0 else f"{result.get('codespace', '')}/{code}"] += 1
    return dict(results)


def _abci_seconds(metrics: str) -> dict[str, float]:
    """Seconds the application has spent answering each ABCI method (its Prometheus histogram)."""
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {
        sample.labels["method"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "taskmaster_abci_request_seconds_sum"
    }


@dataclass
class Phase:
    """One phase's figures."""

    honest: LoadResult
    seconds: float
    cpu_per_s: dict[str, float]
    abci_busy_per_s: dict[str, float]
    blocks: int
    mean_block_s: float
    max_block_s: float


def _block_times(node: RunningNode, first: int, last: int) -> list[float]:
    """Seconds between consecutive block times (header time) of blocks ``first..last``."""
    times = []
    for height in range(first, last + 1):
        header = node.client.call("header", {"height": str(height)})["header"]
        stamp, _, fraction = header["time"].rstrip("Z").partition(".")
        seconds = time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
        times.append(seconds + float("0." + (fraction or "0")))
    return [b - a for a, b in itertools.pairwise(times)]


def _run_phase(node: RunningNode, metrics: str, lanes: list[list[bytes]], args: argparse.Namespace) -> Phase:
    pids = _node_pids(node.home)
    first = node.client.height()
    before, busy_before, t0 = _cpu_seconds(pids), _abci_seconds(metrics), time.monotonic()
    honest = asyncio.run(_measure(node, lanes, args.rate, args.batch))
    after, busy_after, seconds = _cpu_seconds(pids), _abci_seconds(metrics), time.monotonic() - t0
    cpu = {role: round((after[role] - before[role]) / seconds, 3) for role in before}
    busy = {
        method: round((spent - busy_before.get(method, 0.0)) / seconds, 4)
        for method, spent in sorted(busy_after.items())
        if spent - busy_before.get(method, 0.0) > 0.0005 * seconds
    }
    intervals = _block_times(node, first, node.client.height()) or [0.0]
    return Phase(
        honest,
        round(seconds, 1),
        cpu,
        busy,
        len(intervals),
        round(sum(intervals) / len(intervals), 3),
        round(max(intervals), 3),
    )


def main() -> None:
    """Run both phases and print the figures; the last line is one JSON object."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="honest txs per second offered")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of honest load per phase")
    parser.add_argument("--senders", type=int, default=40, help="honest senders per phase")
    parser.add_argument("--batch", type=int, default=10, help="honest txs per JSON-RPC batch request")
    parser.add_argument(
        "--attacker-balance", type=int, default=250_000, help="utask the attacker is funded with"
    )
    parser.add_argument(
        "--kinds",
        default=",".join(DEFAULT_KINDS),
        help=f"the attacker's workers to run, comma-separated, of {','.join(WORKERS)} (default:"
        f" {','.join(DEFAULT_KINDS)}; junk is a diagnostic: CometBFT's share of a large request)",
    )
    parser.add_argument(
        "--no-attacker",
        action="store_true",
        help="phase 2 without the attacker: how far two clean phases of this machine differ",
    )
    parser.add_argument("--quick", action="store_true", help="6-second phases at 1,000 tx/s, 20 senders")
    args = parser.parse_args()
    unknown = set(args.kinds.split(",")) - set(WORKERS)
    if unknown:
        parser.error(f"unknown --kinds {sorted(unknown)}; choose from {list(WORKERS)}")
    if args.quick:
        args.duration, args.senders = 6.0, 20
    per_sender = max(1, int(args.rate * args.duration / args.senders))
    with tempfile.TemporaryDirectory() as tmp:
        print(f"starting a Taskmaster node (our app + CometBFT) in {tmp}", flush=True)
        (metrics_port,) = free_ports(1)
        metrics = f"127.0.0.1:{metrics_port}"
        with taskmaster_node(Path(tmp), app_settings={"metrics_address": metrics}) as node:
            print(f"phase 1 (clean): signing {per_sender * args.senders} bank sends", flush=True)
            lanes = _honest_lanes(node, "honest-clean", args.senders, per_sender)
            print(f"phase 1 (clean): offering {args.rate:.0f} tx/s for {args.duration:.0f} s", flush=True)
            clean = _run_phase(node, metrics, lanes, args)
            print(f"phase 1: {clean}", flush=True)

            print(f"phase 2 (attack): funding the attacker with {args.attacker_balance} utask", flush=True)
            (attacker_key,) = fund_senders(node, "attacker", 1, args.attacker_balance)
            attacker_address = address_of(attacker_key)
            account = node.client.account(attacker_address)
            assert account is not None
            paid_before = _balance(node, attacker_address)
            lanes = _honest_lanes(node, "honest-attack", args.senders, per_sender)
            context = multiprocessing.get_context("spawn")
            stop, out = context.Event(), context.Queue()
            faucet = Keyring(node.home, "test").get("faucet").address
            process = context.Process(
                daemon=True,
                target=_attacker_process,
                args=(
                    node.rpc,
                    node.client.chain_id(),
                    bytes(attacker_key),
                    account.account_number,
                    account.sequence,
                    faucet,
                    args.kinds.split(","),
                    stop,
                    out,
                ),
            )
            if not args.no_attacker:
                process.start()
                assert out.get(timeout=300) == "ready"
            first_height = node.client.height() + 1
            print(f"phase 2 (attack): the attacker runs; offering {args.rate:.0f} tx/s honest", flush=True)
            try:
                attacked = _run_phase(node, metrics, lanes, args)
            finally:  # never leave the attacker running, whatever happened to the phase
                stop.set()
                report: dict[str, Any] = {"requests": {}, "sent": [], "cpu_s": 0.0}
                if not args.no_attacker:
                    try:
                        report = out.get(timeout=300)
                    finally:
                        process.join(60)
                        if process.is_alive():
                            process.kill()
            print(f"phase 2: {attacked}", flush=True)
            print("waiting for the attacker's last txs to leave the mempool", flush=True)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                pending = node.client.call("num_unconfirmed_txs", {})
                if int(pending.get("n_txs", 0)) == 0:
                    break
                time.sleep(0.5)
            last_height = node.client.height()
            paid_after = _balance(node, attacker_address)
            landed = _landed(node, set(report["sent"]), first_height, last_height)
    ratio = attacked.honest.tx_per_s / clean.honest.tx_per_s if clean.honest.tx_per_s else 0.0
    # both phases carry the same honest txs, so the attack phase's CPU beyond the clean phase's is
    # the attack's, spread over the attack phase's seconds
    clean_cpu = {role: rate * clean.seconds for role, rate in clean.cpu_per_s.items()}
    attack_cpu = {role: rate * attacked.seconds for role, rate in attacked.cpu_per_s.items()}
    extra = {role: round((attack_cpu[role] - clean_cpu[role]) / attacked.seconds, 3) for role in clean_cpu}
    figures = {
        "offered_tx_per_s": args.rate,
        "duration_s": args.duration,
        "clean_honest_tx_per_s": clean.honest.tx_per_s,
        "clean_honest_committed": clean.honest.committed,
        "clean_mean_commit_latency_ms": clean.honest.mean_latency_ms,
        "attack_honest_tx_per_s": attacked.honest.tx_per_s,
        "attack_honest_committed": attacked.honest.committed,
        "attack_mean_commit_latency_ms": attacked.honest.mean_latency_ms,
        "ratio": round(ratio, 3),
        "goal_ratio": 0.9,
        "clean_blocks": clean.blocks,
        "clean_mean_block_s": clean.mean_block_s,
        "clean_max_block_s": clean.max_block_s,
        "attack_blocks": attacked.blocks,
        "attack_mean_block_s": attacked.mean_block_s,
        "attack_max_block_s": attacked.max_block_s,
        "clean_app_busy_s_per_s_by_method": clean.abci_busy_per_s,
        "attack_app_busy_s_per_s_by_method": attacked.abci_busy_per_s,
        "clean_phase_s": clean.seconds,
        "attack_phase_s": attacked.seconds,
        "clean_node_cpu_s": {role: round(v, 1) for role, v in clean_cpu.items()},
        "attack_node_cpu_s": {role: round(v, 1) for role, v in attack_cpu.items()},
        "clean_node_cpu_s_per_s": clean.cpu_per_s,
        "attack_node_cpu_s_per_s": attacked.cpu_per_s,
        "extra_node_cpu_s_per_s_of_attack": extra,
        "attacker_requests": report["requests"],
        "attacker_process_cpu_s": report["cpu_s"],
        "attacker_txs_admitted": len(report["sent"]),
        "attacker_txs_in_blocks": landed,
        "attacker_balance_before": paid_before,
        "attacker_balance_after": paid_after,
        "attacker_paid": paid_before - paid_after,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
