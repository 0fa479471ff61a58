"""Oracle figures: vote-extension size and ExtendVote latency; verifying and aggregating a full round;
the price feed's round with one provider against two.

    python -m benchmarks.oracle [--validators 150] [--pairs 100] [--feed-validators 10] [--quick]

* ExtendVote for 50 pairs: the extension's size and p50/p99 latency of the application's real
  ``extend_vote`` (state read, due check, encoding) on a real RocksDB store.
* A round of V validators x P pairs on real signed extensions, starting cold: what every node does
  (ProcessProposal's ``injection.verify`` then FinalizeBlock's aggregation: decode, stake-weighted
  medians, miss counting, writes), and the proposer's total (its PrepareProposal pruning too). The
  baseline is the same round's signature checks alone (what any vote-extension app pays).
* The off-chain round with two providers per validator against one, in the same run: each of
  ``--feed-validators`` validators polls CoinGecko (one provider) or CoinGecko and Kraken (two, side
  by side) for the round's pairs from a loopback server replaying the simulator's answers, and its
  ExtendVote reads the median of its providers' quotes (``PriceCache.fresh``; also measured through
  the application's real ``extend_vote`` for 50 pairs). On-chain work does not change with the
  providers: the extension carries one median per pair.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

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
    by_providers: dict[int, list[float]] = {}
    for providers in (1, 2):
        from abci_app.pricefeed.cache import PriceCache

        cache = PriceCache()
        now = int(time.time())
        for pid, price in quotes.items():
            cache.update(pid, price, now, "coingecko")
            if providers == 2:
                cache.update(pid, price + 7, now, "kraken")
        app.price_source = lambda cache=cache, now=now: cache.fresh(now, 120)  # type: ignore[misc]
        by_providers[providers] = []
        for _ in range(iterations):
            t = time.perf_counter()
            app.extend_vote(request)
            by_providers[providers].append((time.perf_counter() - t) * 1000)
    app.close()
    return {
        "extend_vote_from_cache_1_provider_p50_ms": round(_percentile(by_providers[1], 0.5), 3),
        "extend_vote_from_cache_2_providers_p50_ms": round(_percentile(by_providers[2], 0.5), 3),
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


def _feed_sim_config(pairs: list[str]) -> dict[str, object]:
    coins = {pid.split("/")[0]: {"usd": f"{1000 + i}.{i:03d}"} for i, pid in enumerate(pairs)}
    return {
        "coins": coins,
        "keys": {"cg": {}},
        "symbols": {"kraken": {f"C{i:03d}USD": pid for i, pid in enumerate(pairs)}},
    }


async def _recorded_answers(pairs: list[str]) -> dict[str, bytes]:
    """One CoinGecko and one Kraken answer for ``pairs``, as the simulator serves them."""
    import aiohttp

    from abci_app.pricefeed.kraken import ticker_url
    from abci_app.pricefeed.simple_price import request_query
    from devtools.coingecko_simulator import start_simulator

    runner, base_url = await start_simulator(_feed_sim_config(pairs))
    coins = sorted({p.split("/")[0] for p in pairs})
    urls = {
        "coingecko": f"{base_url}/simple/price?{request_query(coins, ['usd'])}",
        "kraken": ticker_url(
            base_url.removesuffix("/api/v3") + "/kraken/rec", [f"C{i:03d}USD" for i in range(len(pairs))]
        ),
    }
    try:
        async with aiohttp.ClientSession(headers={"x-cg-demo-api-key": "cg"}) as http:
            answers = {}
            for name, url in urls.items():
                async with http.get(url) as resp:
                    answers[name] = await resp.read()
            return answers
    finally:
        await runner.cleanup()


async def _feed_rounds(
    pairs: list[str], feed_validators: int, repeats: int
) -> dict[int, dict[str, list[float]]]:
    """Per provider count (1, 2): wall and CPU ms of every validator's feed polling at once, and
    ExtendVote's median read per validator (ms), ``repeats`` times, the two setups alternating.

    The answers are the simulator's, recorded once and replayed by a static loopback server, so the
    time is the feed's (HTTP, parsing, cache) and not the simulator's price computation; alternating
    the setups gives both the same machine load.
    """
    from aiohttp import web

    from abci_app.pricefeed.cache import PriceCache
    from abci_app.pricefeed.client import PriceFetcher
    from abci_app.pricefeed.config import FeedConfig

    answers = await _recorded_answers(pairs)

    async def replay(request: web.Request) -> web.Response:
        name = "kraken" if request.path.startswith("/kraken/") else "coingecko"
        return web.Response(body=answers[name], content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", replay)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    root = f"http://127.0.0.1:{runner.addresses[0][1]}"
    fetchers: dict[int, list[PriceFetcher]] = {1: [], 2: []}
    for providers, group in fetchers.items():
        for v in range(feed_validators):
            extra: dict[str, Any] = {}
            if providers == 2:
                extra = {
                    "providers": {"kraken": {"base_url": f"{root}/kraken/val{v}"}},
                    "pairs": {pid: {"kraken": f"C{i:03d}USD"} for i, pid in enumerate(pairs)},
                }
            config = FeedConfig(base_url=f"{root}/api/v3", api_key=f"cg-{v}", timeout_s=30.0, **extra)
            group.append(PriceFetcher(config, pairs, PriceCache()))
    out: dict[int, dict[str, list[float]]] = {n: {"wall": [], "cpu": [], "read": []} for n in fetchers}
    try:
        for group in fetchers.values():  # warm: connections, first parse
            await asyncio.gather(*(f.fetch_once() for f in group))
        for r in range(repeats):
            for providers in (1, 2) if r % 2 == 0 else (2, 1):
                group = fetchers[providers]
                wall, cpu = time.perf_counter(), time.process_time()
                counts = await asyncio.gather(*(f.fetch_once() for f in group))
                out[providers]["wall"].append((time.perf_counter() - wall) * 1000)
                out[providers]["cpu"].append((time.process_time() - cpu) * 1000)
                if counts != [len(pairs)] * feed_validators:
                    raise RuntimeError(f"a feed poll did not update every pair: {counts}")
                now = int(time.time())
                t = time.perf_counter()
                for f in group:
                    f.cache.fresh(now, 120)
                out[providers]["read"].append((time.perf_counter() - t) * 1000 / feed_validators)
    finally:
        for group in fetchers.values():
            for f in group:
                await f.close()
        await runner.cleanup()
    return out


def bench_feed(pairs: int, feed_validators: int, repeats: int) -> dict[str, float]:
    """The feed's round with one provider per validator against two, same run, same pairs."""
    ids = [f"{c}/{q}" for c, q in _pairs(pairs)]
    figures: dict[str, float] = {"feed_validators": feed_validators, "feed_pairs": pairs}
    rounds = asyncio.run(_feed_rounds(ids, feed_validators, repeats))
    for providers, samples in rounds.items():
        label = "1_provider" if providers == 1 else "2_providers"
        wall, cpu = statistics.median(samples["wall"]), statistics.median(samples["cpu"])
        figures[f"feed_round_{label}_ms"] = round(wall, 2)
        figures[f"feed_round_{label}_cpu_ms"] = round(cpu, 2)
        figures[f"feed_round_{label}_per_validator_ms"] = round(wall / feed_validators, 2)
        figures[f"extend_vote_median_read_{label}_ms"] = round(statistics.median(samples["read"]), 3)
        print(
            f"feed with {providers} provider(s): {feed_validators} validators x {pairs} pairs polled in "
            f"{wall:.1f} ms ({cpu:.1f} ms CPU; median of {repeats}); median read "
            f"{statistics.median(samples['read']):.3f} ms per validator",
            flush=True,
        )
    figures["feed_round_ratio_2_to_1"] = round(
        figures["feed_round_2_providers_ms"] / figures["feed_round_1_provider_ms"], 2
    )
    figures["feed_round_cpu_ratio_2_to_1"] = round(
        figures["feed_round_2_providers_cpu_ms"] / figures["feed_round_1_provider_cpu_ms"], 2
    )
    return figures


def main() -> None:
    """Run both measurements; the last line is one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--validators", type=int, default=150)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--feed-validators", type=int, default=10)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    iterations, repeats = (200, 2) if args.quick else (2000, 5)
    feed_repeats = 3 if args.quick else 21
    with tempfile.TemporaryDirectory() as tmp:
        print(f"ExtendVote with 50 pairs, {iterations} calls", flush=True)
        figures: dict[str, float] = bench_extend_vote(Path(tmp), iterations)
        print(f"one round of {args.validators} validators x {args.pairs} pairs, {repeats} times", flush=True)
        figures.update(bench_round(Path(tmp), args.validators, args.pairs, repeats))
    print(
        f"price feed round: {args.feed_validators} validators x {args.pairs} pairs, one provider against "
        f"two, {feed_repeats} times each",
        flush=True,
    )
    figures.update(bench_feed(args.pairs, args.feed_validators, feed_repeats))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
