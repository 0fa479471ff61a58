"""Oracle figures: vote-extension size and ExtendVote latency; verifying and aggregating a full round.

    python -m benchmarks.oracle [--validators 150] [--pairs 100] [--quick]

* ExtendVote for 50 pairs: the extension's size and p50/p99 latency of the application's real
  ``extend_vote`` (state read, due check, encoding) on a real RocksDB store.
* A round of V validators x P pairs on real signed extensions, starting cold: what every node does
  (ProcessProposal's ``injection.verify`` then FinalizeBlock's aggregation: decode, stake-weighted
  medians, miss counting, writes), and the proposer's total (its PrepareProposal pruning too). The
  baseline is the same round's signature checks alone (what any vote-extension app pays).
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import tempfile
import time
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp
from tendermint.abci import types_pb2 as abci
from tendermint.types import validator_pb2

from abci_app.app import AppConfig, Application
from abci_app.modules.oracle import abci as oracle_abci
from abci_app.modules.oracle import injection
from abci_app.modules.oracle.codec import encode_extension
from abci_app.tx.address import address_from_pubkey
from abci_app.tx.ante import SignatureCache
from tests.app.driver import address_of, seeded_key

CHAIN_ID = "bench-oracle"


def _pairs(n: int) -> list[tuple[str, str]]:
    return sorted((f"coin{i:03d}", "usd") for i in range(n))


def _app(db: Path, validators: int, pairs: int) -> tuple[Application, list[bytes]]:
    keys = [seeded_key(f"bench-consensus-{i}") for i in range(validators)]
    ops = [seeded_key(f"bench-operator-{i}") for i in range(validators)]
    app = Application(
        AppConfig(db_path=str(db), consensus_address=address_from_pubkey(bytes(keys[0].verify_key)))
    )
    app_state = {
        "staking": {
            "validators": [
                {
                    "operator_address": address_of(o),
                    "consensus_pubkey": base64.b64encode(bytes(k.verify_key)).decode(),
                    "tokens": str((10 + i % 7) * 1_000_000),
                }
                for i, (o, k) in enumerate(zip(ops, keys, strict=True))
            ]
        },
        "oracle": {
            "params": {
                "pairs": [{"coingeckoId": c, "quote": q} for c, q in _pairs(pairs)],
                "intervalBlocks": "1",
                "startHeight": "1",
                "window": "100",
            }
        },
    }
    app.init_chain(
        abci.RequestInitChain(
            chain_id=CHAIN_ID, initial_height=1, app_state_bytes=json.dumps(app_state).encode()
        )
    )
    app.finalize_block(abci.RequestFinalizeBlock(height=1, time=Timestamp(seconds=1)))
    app.commit(abci.RequestCommit())
    return app, [bytes(k) for k in keys]


def _verify_and_aggregate(
    app: Application, tx: bytes, last: abci.CommitInfo, pubkey_of: injection.PubkeyLookup, pairs: int
) -> None:
    """What every node does with the injection: ProcessProposal's checks, then FinalizeBlock's run."""
    from abci_app.modules.oracle.task import TASK
    from abci_app.modules.taskmaster import keeper as taskmaster

    injection.verify(injection.decode_injection(tx, pairs), last, 1, CHAIN_ID, pubkey_of, pairs)
    round_ctx = app._context(app._block_branch(), 2, 2_000_000_000)
    taskmaster.run_round(round_ctx, TASK, injection.decode_injection(tx, pairs))


def _clear_caches() -> None:
    """Forget memoized decodes and signatures, so each measured round starts cold."""
    from abci_app.modules.oracle import codec

    codec.clear_decodes()
    injection._SIGNATURES = SignatureCache(capacity=4096)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_extend_vote(tmp: Path, iterations: int) -> dict[str, float]:
    """ExtendVote of 50 pairs with realistic 18-decimal prices."""
    app, _ = _app(tmp / "ev", 4, 50)
    quotes = {f"{c}/{q}": 67187_330000000000000000 + i * 12345 for i, (c, q) in enumerate(_pairs(50))}
    app.price_source = lambda: quotes
    request = abci.RequestExtendVote(height=2, time=Timestamp(seconds=2))
    sizes, times = [], []
    for _ in range(iterations):
        t = time.perf_counter()
        ext = app.extend_vote(request).vote_extension
        times.append((time.perf_counter() - t) * 1000)
        sizes.append(len(ext))
    app.close()
    return {
        "extension_bytes_50_pairs": max(sizes),
        "extend_vote_p50_ms": round(_percentile(times, 0.5), 3),
        "extend_vote_p99_ms": round(_percentile(times, 0.99), 3),
    }


def bench_round(tmp: Path, validators: int, pairs: int, repeats: int) -> dict[str, float]:
    """Prune (proposer) + verify (every node) + FinalizeBlock aggregation of one full round."""
    from nacl.signing import SigningKey

    app, seeds = _app(tmp / "round", validators, pairs)
    keys = [SigningKey(s) for s in seeds]
    pair_ids = [f"{c}/{q}" for c, q in _pairs(pairs)]
    commit = abci.ExtendedCommitInfo(round=0)
    for i, key in enumerate(keys):
        vote = commit.votes.add()
        vote.validator.address = address_from_pubkey(bytes(key.verify_key))
        vote.validator.power = 10 + i % 7
        vote.block_id_flag = validator_pb2.BLOCK_ID_FLAG_COMMIT
        vote.vote_extension = encode_extension(
            {p: (1000 + i) * 10**18 + j for j, p in enumerate(pair_ids)}, pair_ids
        )
        vote.extension_signature = key.sign(
            injection.extension_sign_bytes(vote.vote_extension, 1, 0, CHAIN_ID)
        ).signature
    last = injection.last_commit_of(commit)
    ctx = app._context(app._block_branch(), 2)
    pubkey_of = oracle_abci.pubkey_lookup(ctx)
    totals, node_work, sig_only = [], [], []
    for r in range(repeats):
        _clear_caches()
        t0 = time.perf_counter()
        pruned = injection.prune(commit, 1, CHAIN_ID, pubkey_of, pairs)
        tx = injection.encode_injection(pruned)
        _verify_and_aggregate(app, tx, last, pubkey_of, pairs)
        t2 = time.perf_counter()
        _clear_caches()  # a validator that did not propose: nothing cached
        t_cold = time.perf_counter()
        _verify_and_aggregate(app, tx, last, pubkey_of, pairs)
        t3 = time.perf_counter()
        _clear_caches()
        t4 = time.perf_counter()
        for v in commit.votes:
            injection.signature_valid(pubkey_of(v.validator.address), v, 1, 0, CHAIN_ID)
        t5 = time.perf_counter()
        totals.append((t2 - t0) * 1000)
        node_work.append((t3 - t_cold) * 1000)
        sig_only.append((t5 - t4) * 1000)
        print(
            f"round {r + 1}/{repeats}: proposer (prune, verify, aggregate) {1000 * (t2 - t0):.1f} ms; "
            f"another validator, cold (verify, aggregate) {1000 * (t3 - t_cold):.1f} ms",
            flush=True,
        )
    app.close()
    return {
        "round_validators": validators,
        "round_pairs": pairs,
        "round_proposer_total_ms": round(statistics.median(totals), 2),
        "round_verify_and_aggregate_ms": round(statistics.median(node_work), 2),
        "baseline_signature_checks_ms": round(statistics.median(sig_only), 2),
    }


def main() -> None:
    """Run both measurements; the last line is one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validators", type=int, default=150)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    iterations, repeats = (200, 2) if args.quick else (2000, 5)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"ExtendVote with 50 pairs, {iterations} calls", flush=True)
        figures: dict[str, float] = bench_extend_vote(Path(tmp), iterations)
        print(f"one round of {args.validators} validators x {args.pairs} pairs, {repeats} times", flush=True)
        figures.update(bench_round(Path(tmp), args.validators, args.pairs, repeats))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
