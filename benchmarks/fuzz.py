"""Fuzzed inputs against a real 4-validator localnet: nothing may crash a node or split the app hash.

Starts a localnet (four ``taskmaster start`` validators, the CoinGecko simulator, all on 127.0.0.1),
funds a few senders, then measures two phases with the same load generator (lanes posting JSON-RPC
batches of ``--batch`` calls, spread over all four nodes):

1. baseline: valid signed bank sends alone (``broadcast_tx_sync``) for ``--baseline-seconds``;
2. fuzz: ``--count`` generated inputs: mutated valid txs (byte-level), re-signed txs with a mutated
   message (these reach the handlers), garbage, hostile specials (2^63 gas, padded signatures,
   5,000-digit amounts), vote-extension-shaped txs (mutated oracle injections and extensions), valid
   sends that keep the chain busy, and ``abci_query`` calls with random paths, data and heights.

At the end it counts node processes that died and compares every node's app hash at every common
height. The last line is one JSON object.

    python -m benchmarks.fuzz [--count 100000] [--rate 0] [--batch 10] [--lanes 8] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from cosmos.tx.v1beta1 import tx_pb2
from nacl.signing import SigningKey
from taskmaster.bank.v1 import bank_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.modules.oracle.codec import encode_extension
from abci_app.modules.oracle.injection import INJECTION_PREFIX, encode_injection
from abci_app.tx.codec import build_tx, sign, sign_bytes
from benchmarks.harness import RunningNode, fund_senders
from devtools import localnet
from tests.app.driver import address_of, seeded_key
from tests.fuzz.differential import CONTAINED_CRASH
from tests.fuzz.mutations import Hints, fill_message, mutate_bytes, mutate_message
from tests.fuzz.world import MSG_TYPES, PAIRS, QUERY_PATHS, ROUTER, STORES, task_data
from tests.integration.localnet_harness import APP_HASH_MISMATCH, Cluster

NODES = 4
SEQUENCE_MISMATCH = re.compile(r"account sequence mismatch, expected (\d+)")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


@dataclass
class Sender:
    """A funded key and the sequence the next tx it signs will carry (corrected from CheckTx answers)."""

    key: SigningKey
    account_number: int
    sequence: int

    @property
    def address(self) -> str:
        return address_of(self.key)


@dataclass
class Tally:
    """What a phase sent and how the nodes answered."""

    txs: int = 0
    queries: int = 0
    extension_inputs: int = 0
    accepted: int = 0
    rejected: int = 0
    rpc_errors: int = 0
    http_errors: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def inputs(self) -> int:
        return self.txs + self.queries


@dataclass
class Input:
    """One JSON-RPC call and what it is (``signed`` when it consumes the lane sender's sequence)."""

    method: str
    params: dict[str, Any]
    kind: str
    signed: bool = False


class Inputs:
    """Generates fuzzed inputs for one lane, signing with the lane's sender."""

    def __init__(self, rnd: random.Random, sender: Sender, chain_id: str, addresses: list[str]) -> None:
        self.rnd = rnd
        self.sender = sender
        self.chain_id = chain_id
        self.addresses = addresses
        self.corpus: list[bytes] = []

    def _sign(self, messages: list[Any], *, fee: int = 500, gas: int = 200_000) -> bytes:
        raw = build_tx(
            self.sender.key,
            messages,
            chain_id=self.chain_id,
            account_number=self.sender.account_number,
            sequence=self.sender.sequence,
            fee=fee,
            gas_limit=gas,
        )
        self.corpus.append(raw)
        del self.corpus[:-32]
        return raw

    def valid_send(self) -> bytes:
        to = self.rnd.choice(self.addresses)
        msg = bank_pb2.MsgSend(
            from_address=self.sender.address, to_address=to, amount=[bank_pb2.Coin(denom="utask", amount="1")]
        )
        return self._sign([msg])

    def _hints(self) -> Hints:
        return Hints(
            signer=self.sender.address,
            addresses=self.addresses,
            type_urls=[*MSG_TYPES, ""],
            height=1000,
            data_for=task_data,
        )

    def resigned_mutation(self) -> bytes:
        """A routed message with random fields, or a valid send with one field mutated, signed properly."""
        hints = self._hints()
        if self.rnd.random() < 0.5:
            cls = ROUTER.msgs[self.rnd.choice(MSG_TYPES)].msg_type
            messages = [fill_message(self.rnd, cls(), hints)]
        else:
            send = bank_pb2.MsgSend.FromString(self._send_bytes())
            messages = [mutate_message(self.rnd, send, hints)]
        return self._sign(messages, fee=5000, gas=2_000_000)

    def _send_bytes(self) -> bytes:
        return bank_pb2.MsgSend(
            from_address=self.sender.address,
            to_address=self.rnd.choice(self.addresses),
            amount=[bank_pb2.Coin(denom="utask", amount="1")],
        ).SerializeToString()

    def hostile_special(self) -> bytes:
        """2^63 gas under a zero signature, a padded signature, or a 5,000-digit fee."""
        tx = tx_pb2.TxRaw.FromString(self.rnd.choice(self.corpus) if self.corpus else self.valid_send())
        auth_info = tx_pb2.AuthInfo.FromString(tx.auth_info_bytes)
        choice = self.rnd.randrange(3)
        if choice == 0:
            auth_info.fee.gas_limit = 2**63
            tx.signatures[0] = bytes(64)
        elif choice == 1:
            tx.signatures[0] += b"\x00"
        else:
            del auth_info.fee.amount[:]
            auth_info.fee.amount.add(denom="utask", amount="9" * 5000)
        tx.auth_info_bytes = auth_info.SerializeToString(deterministic=True)
        if choice == 2:  # re-signed: the huge fee reaches the fee check, not the signature check
            doc = sign_bytes(tx.body_bytes, tx.auth_info_bytes, self.chain_id, self.sender.account_number)
            tx.signatures[0] = sign(self.sender.key, doc)
        return tx.SerializeToString(deterministic=True)

    def extension_shaped(self) -> bytes:
        """An oracle injection (tx 0's format) with random votes and mutated extensions, from the mempool."""
        rnd = self.rnd
        commit = abci.ExtendedCommitInfo(round=rnd.choice((0, 1, 2**31 - 1)))
        for _ in range(rnd.randint(0, 4)):
            vote = commit.votes.add()
            vote.validator.address = rnd.randbytes(rnd.choice((20, 20, 19, 32)))
            vote.validator.power = rnd.choice((1, 10, 2**62))
            vote.block_id_flag = rnd.choice((1, 2, 3, 9))  # type: ignore[assignment]
            extension = encode_extension({p: rnd.randint(1, 10**24) for p in PAIRS}, PAIRS)
            vote.vote_extension = mutate_bytes(rnd, extension) if rnd.random() < 0.5 else extension
            vote.extension_signature = rnd.randbytes(rnd.choice((64, 64, 63, 0)))
        raw = encode_injection(commit)
        if rnd.random() < 0.3:
            raw = INJECTION_PREFIX + mutate_bytes(rnd, raw[len(INJECTION_PREFIX) :])
        return raw if rnd.random() < 0.8 else raw[len(INJECTION_PREFIX) :]

    def query(self) -> dict[str, Any]:
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.7:
            path = rnd.choice(QUERY_PATHS)
            data = fill_message(rnd, ROUTER.queries[path].request_type(), self._hints()).SerializeToString()
            if rnd.random() < 0.3:
                data = mutate_bytes(rnd, data)
        elif roll < 0.85:
            path, data = f"/store/{rnd.choice(STORES)}/key", rnd.randbytes(rnd.randint(0, 33))
        else:
            path, data = rnd.choice(("", "/", "/store", "x" * 300, "/store/bank")), rnd.randbytes(4)
        height = rnd.choice((0, 0, 0, 1, 2, -1, 2**62, 2**63 - 1))
        return {"path": path, "data": data.hex(), "height": str(height), "prove": rnd.random() < 0.3}

    def next(self) -> Input:
        """The next input: txs 70% (of which 10% valid sends), queries 30%."""
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.30:
            return Input("abci_query", self.query(), "query")
        if roll < 0.37 or not self.corpus:
            return self._tx(self.valid_send(), "valid_send", signed=True)
        if roll < 0.50:
            return self._tx(self.resigned_mutation(), "resigned_mutation", signed=True)
        if roll < 0.75:
            return self._tx(mutate_bytes(rnd, rnd.choice(self.corpus)), "byte_mutation")
        if roll < 0.82:
            return self._tx(self.hostile_special(), "hostile_special", signed=True)
        if roll < 0.92:
            return self._tx(self.extension_shaped(), "vote_extension_shaped")
        return self._tx(rnd.randbytes(rnd.randint(1, 400)), "garbage")

    def _tx(self, raw: bytes, kind: str, signed: bool = False) -> Input:
        method = "broadcast_tx_sync" if self.rnd.random() < 0.8 else "broadcast_tx_async"
        return Input(method, {"tx": base64.b64encode(raw).decode()}, kind, signed)


async def _post(session: aiohttp.ClientSession, rpc: str, batch: list[Input], tally: Tally) -> list[Any]:
    body = [{"jsonrpc": "2.0", "id": i, "method": x.method, "params": x.params} for i, x in enumerate(batch)]
    try:
        async with session.post(rpc, json=body) as resp:
            answers = await resp.json(content_type=None)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        tally.http_errors += 1
        return []
    if not isinstance(answers, list):
        tally.http_errors += 1
        return []
    return sorted(answers, key=lambda a: int(a.get("id", 0)))


def _account_result(answer: dict[str, Any], item: Input, sender: Sender, tally: Tally) -> None:
    """Count one answer and keep the lane sender's sequence in step with what CheckTx accepted."""
    if "error" in answer:
        tally.rpc_errors += 1
        return
    result = answer.get("result") or {}
    if item.method == "abci_query":
        return
    code = int(result.get("code", 0))
    if item.method == "broadcast_tx_async":  # no CheckTx answer: assume signed ones were accepted
        tally.accepted += 1 if item.signed else 0
        sender.sequence += 1 if item.signed else 0
        return
    if code == 0:
        tally.accepted += 1
        sender.sequence += 1 if item.signed else 0
        return
    tally.rejected += 1
    found = SEQUENCE_MISMATCH.search(str(result.get("log", "")))
    if found and item.signed:
        sender.sequence = int(found.group(1))


async def _lane(
    rpc: str,
    inputs: Inputs,
    budget: list[int],
    tally: Tally,
    batch: int,
    pace: float,
    stop_at: float,
    only_valid: bool,
) -> None:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        next_due = time.monotonic()
        while budget[0] > 0 and time.monotonic() < stop_at:
            take = min(batch, budget[0])
            budget[0] -= take
            items: list[Input] = []
            for _ in range(take):  # sign each tx with the sequence the previous accepted ones leave
                item = inputs._tx(inputs.valid_send(), "valid_send", True) if only_valid else inputs.next()
                items.append(item)
                if item.signed:
                    inputs.sender.sequence += 1
            inputs.sender.sequence -= sum(1 for x in items if x.signed)
            for item in items:
                tally.kinds[item.kind] = tally.kinds.get(item.kind, 0) + 1
                if item.method == "abci_query":
                    tally.queries += 1
                else:
                    tally.txs += 1
                    tally.extension_inputs += item.kind == "vote_extension_shaped"
            answers = await _post(session, rpc, items, tally)
            for answer, item in zip(answers, items, strict=False):
                _account_result(answer, item, inputs.sender, tally)
            if pace > 0:
                next_due += take * pace
                delay = next_due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)


async def _run_phase(
    cluster: Cluster, lanes: list[Inputs], count: int, rate: float, batch: int, max_s: float, only_valid: bool
) -> tuple[Tally, float, int, int]:
    """Send ``count`` inputs over the lanes (node ``i % 4`` for lane ``i``); tally, seconds, heights."""
    tally = Tally()
    budget = [count]
    pace = len(lanes) / rate if rate > 0 else 0.0
    start_height = min(cluster.heights())
    started = time.monotonic()
    stop_at = started + max_s
    tasks = [
        _lane(cluster.rpc(i % NODES), lane, budget, tally, batch, pace, stop_at, only_valid)
        for i, lane in enumerate(lanes)
    ]
    progress = asyncio.ensure_future(_progress(tally, count, started, cluster))
    await asyncio.gather(*tasks)
    progress.cancel()
    seconds = time.monotonic() - started
    return tally, seconds, start_height, min(cluster.heights())


async def _progress(tally: Tally, count: int, started: float, cluster: Cluster) -> None:
    while True:
        await asyncio.sleep(10)
        heights = await asyncio.to_thread(cluster.heights)
        rate = tally.inputs / max(time.monotonic() - started, 1e-9)
        say(
            f"{tally.inputs}/{count} inputs ({rate:.0f}/s): {tally.accepted} txs accepted, {tally.rejected} "
            f"rejected, {tally.rpc_errors} RPC errors; heights {heights}"
        )


def _app_hashes(cluster: Cluster, i: int, last: int) -> dict[int, str]:
    """Node ``i``'s app hash at every height up to ``last`` (``blockchain`` pages of 20 headers)."""
    client = cluster.client(i)
    hashes: dict[int, str] = {}
    for low in range(1, last + 1, 20):
        high = min(low + 19, last)
        result = client.call("blockchain", {"minHeight": str(low), "maxHeight": str(high)})
        for meta in result["block_metas"]:
            header = meta["header"]
            hashes[int(header["height"])] = str(header["app_hash"])
    return hashes


def _crashed(cluster: Cluster) -> list[int]:
    """Nodes whose app process exited or whose CometBFT is gone."""
    return [
        i
        for i in range(cluster.size)
        if not cluster.app_running(i) or not localnet.cometbft_pids(cluster.home(i))
    ]


def _senders(cluster: Cluster, count: int) -> list[Sender]:
    node = RunningNode(cluster.home(0), cluster.rpc(0), cluster.grpc(0), cluster.client(0))
    keys = fund_senders(node, "fuzz-lane", count, 10**13)
    senders = []
    for key in keys:
        account = cluster.client(0).account(address_of(key))
        assert account is not None
        senders.append(Sender(key, account.account_number, account.sequence))
    return senders


def _resync(cluster: Cluster, senders: list[Sender]) -> None:
    """Sequences from committed state once the mempools drained (between the phases)."""
    for s in senders:
        account = cluster.client(0).account(s.address)
        if account is not None:
            s.sequence = account.sequence


def main() -> None:
    """Run the baseline and the fuzz phase; print progress and, last, one JSON object of figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000, help="fuzzed inputs to send")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="offered inputs per second (0: as fast as answered)"
    )
    parser.add_argument("--batch", type=int, default=10, help="calls per JSON-RPC batch (CometBFT allows 10)")
    parser.add_argument("--lanes", type=int, default=8, help="concurrent senders, spread over the nodes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="the fuzz phase stops after this")
    args = parser.parse_args()
    rnd = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        say(f"creating a {NODES}-validator localnet on 127.0.0.1 in {tmp}")
        cluster = Cluster.create(Path(tmp) / "localnet", NODES)
        try:
            say("starting the CoinGecko simulator and four validators; waiting for height 3")
            cluster.start()
            chain_id = cluster.client(0).chain_id()
            say(f"funding {args.lanes} senders")
            senders = _senders(cluster, args.lanes)
            addresses = [s.address for s in senders] + [address_of(seeded_key("fuzz-recipient"))]

            def lanes() -> list[Inputs]:
                return [Inputs(random.Random(rnd.random()), s, chain_id, addresses) for s in senders]

            say(f"baseline: valid signed sends alone for {args.baseline_seconds:.0f}s")
            base, base_s, base_h0, base_h1 = asyncio.run(
                _run_phase(cluster, lanes(), 10**9, args.rate, args.batch, args.baseline_seconds, True)
            )
            say(f"baseline: {base.accepted} sends accepted in {base_s:.1f}s, blocks {base_h0} -> {base_h1}")
            cluster.wait_for_height(base_h1 + 2, 60)
            _resync(cluster, senders)
            say(f"fuzz: {args.count} inputs over {args.lanes} lanes, batches of {args.batch}")
            fuzz, fuzz_s, fuzz_h0, fuzz_h1 = asyncio.run(
                _run_phase(cluster, lanes(), args.count, args.rate, args.batch, args.max_seconds, False)
            )
            say(f"fuzz: {fuzz.inputs} inputs in {fuzz_s:.1f}s; kinds {dict(sorted(fuzz.kinds.items()))}")
            crashed = _crashed(cluster)
            alive = [i for i in range(NODES) if i not in crashed]
            say("waiting for two more blocks on every live node, then comparing app hashes")
            target = max(cluster.heights(alive)) + 2 if alive else 0
            advanced = True
            try:
                cluster.wait_for_height(target, 120, alive)
            except AssertionError:
                advanced = False
            heights = cluster.heights()
            common = min(heights[i] for i in alive) if alive else 0
            hashes = [_app_hashes(cluster, i, common) for i in alive]
            mismatches = sum(1 for h in range(1, common + 1) if len({node.get(h) for node in hashes}) > 1)
            log_mismatches = sum(
                1
                for i in range(NODES)
                for path in (cluster.net.log_file(i), cluster.net.cometbft_log(i))
                if path.exists() and APP_HASH_MISMATCH.search(path.read_text(errors="replace"))
            )
            crashed = _crashed(cluster)
            contained = sum(
                len(CONTAINED_CRASH.findall(cluster.net.log_file(i).read_text(errors="replace")))
                for i in range(NODES)
                if cluster.net.log_file(i).exists()
            )
        finally:
            say("stopping the localnet")
            cluster.close()
    figures = {
        "inputs_sent": fuzz.inputs,
        "txs_sent": fuzz.txs,
        "queries_sent": fuzz.queries,
        "vote_extension_shaped_sent": fuzz.extension_inputs,
        "inputs_by_kind": dict(sorted(fuzz.kinds.items())),
        "txs_accepted": fuzz.accepted,
        "txs_rejected": fuzz.rejected,
        "rpc_errors": fuzz.rpc_errors,
        "http_errors": fuzz.http_errors,
        "node_crashes": len(crashed),
        "contained_exceptions_logged": contained,
        "app_hash_mismatches": mismatches,
        "nodes_logging_app_hash_mismatch": log_mismatches,
        "heights_compared": common,
        "chain_advanced_after_fuzz": advanced,
        "fuzz_seconds": round(fuzz_s, 1),
        "inputs_per_s": round(fuzz.inputs / fuzz_s, 1) if fuzz_s else 0.0,
        "fuzz_blocks_per_s": round((fuzz_h1 - fuzz_h0) / fuzz_s, 2) if fuzz_s else 0.0,
        "baseline_valid_sends_accepted_per_s": round(base.accepted / base_s, 1) if base_s else 0.0,
        "baseline_inputs_per_s": round(base.inputs / base_s, 1) if base_s else 0.0,
        "baseline_blocks_per_s": round((base_h1 - base_h0) / base_s, 2) if base_s else 0.0,
        "count": args.count,
        "rate": args.rate,
        "batch": args.batch,
        "lanes": args.lanes,
        "seed": args.seed,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
