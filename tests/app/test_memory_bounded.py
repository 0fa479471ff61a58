"""A running chain's memory is bounded: after a warm-up, more blocks do not grow it.

An idle node grew by about 4 KB a block (issue 20, finding 7): RocksDB's 64 MiB write buffers filled
for days, and Python structures kept one entry per block (signature and extension-decode caches sized
for the largest validator set, 1,024 commit infos, the list of retained versions). These tests drive
an in-process chain with an oracle round every block, as a validator with a price feed runs, and
measure what the code holds, never time.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

from abci_app.app import AppConfig, Application
from abci_app.store import MultiStore
from abci_app.store.limits import MIN_WRITE_BUFFER_BYTES, WRITE_BUFFERS, StoreLimits
from abci_app.tx.ante import SignatureCache
from tests.app.driver import seeded_key
from tests.app.oracle_driver import OracleChain

PRICES = {"bitcoin/usd": 67_000 * 10**18, "ethereum/usd": 3_500 * 10**18}
WARMUP_BLOCKS = 400  # past every bound that a one-validator chain reaches by itself
MEASURED_BLOCKS = 400
ALLOWED_GROWTH = 48 * 1024  # bytes over MEASURED_BLOCKS: 120 bytes a block (the old code: ~1,600)


def _run(chain: OracleChain, blocks: int, first: int) -> None:
    for i in range(first, first + blocks):
        chain.block(reports=[{**PRICES, "bitcoin/usd": PRICES["bitcoin/usd"] + i}])


def _traced_after_collect() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_blocks_after_the_warm_up_do_not_grow_the_python_heap(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10])
    tracemalloc.start(1)
    try:
        _run(chain, WARMUP_BLOCKS, 0)
        before = _traced_after_collect()
        _run(chain, MEASURED_BLOCKS, WARMUP_BLOCKS)
        growth = _traced_after_collect() - before
    finally:
        tracemalloc.stop()
        chain.app.close()
    assert growth < ALLOWED_GROWTH, (
        f"{MEASURED_BLOCKS} blocks after a warm-up of {WARMUP_BLOCKS} grew the traced heap by {growth} "
        f"bytes ({growth // MEASURED_BLOCKS} a block)"
    )


def test_the_store_write_buffer_stays_within_its_configured_bound(tmp_path: Path) -> None:
    limit = MIN_WRITE_BUFFER_BYTES
    store = MultiStore.open(str(tmp_path / "db"), ["s"], limits=StoreLimits(write_buffer_bytes=limit))
    written = peak = 0
    try:
        for version in range(1, 301):
            branch = store.branch()
            for j in range(8):
                branch.store("s").set(b"k%d" % ((version * 8 + j) % 500), bytes(1000))
                written += 1000
            store.stage(branch, version)
            store.commit()
            peak = max(peak, store.memory()["write_buffers"])
    finally:
        store.close()
    assert written > 10 * limit
    # a memtable is switched once it is full, so each can pass its size by one arena block (an eighth)
    assert 0 < peak <= WRITE_BUFFERS * (limit + limit // 8), peak


def test_an_application_opens_its_store_with_the_configured_limits(tmp_path: Path) -> None:
    limits = StoreLimits(node_cache_nodes=1000, write_buffer_bytes=MIN_WRITE_BUFFER_BYTES)
    app = Application(AppConfig(db_path=str(tmp_path / "db"), store_limits=limits))
    try:
        assert app.store.memory()["node_cache_bound"] == 1000
        assert app.store.memory()["write_buffer_bound"] == WRITE_BUFFERS * MIN_WRITE_BUFFER_BYTES
    finally:
        app.close()


def test_a_signature_is_forgotten_once_unused_for_its_age_bound() -> None:
    key = seeded_key("memory")
    cache = SignatureCache(capacity=1000, max_age_blocks=3)
    for i in range(50):
        message = b"tx %d" % i
        assert cache.verify(bytes(key.verify_key), message, key.sign(message).signature)
        cache.end_block()
    assert len(cache) == 3, "only the signatures used in the last 3 blocks are kept"


def test_a_signature_used_again_every_block_is_kept() -> None:
    key = seeded_key("memory")
    cache = SignatureCache(capacity=1000, max_age_blocks=2)
    message = b"waits in the mempool"
    signature = key.sign(message).signature
    for _ in range(20):  # RECHECK after every block verifies it again
        assert cache.verify(bytes(key.verify_key), message, signature)
        cache.end_block()
    assert len(cache) == 1
