"""The multistore: stage/commit semantics, versions, queries with proofs, errors, export/import."""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from abci_app.store import MultiStore
from abci_app.store.errors import (
    CorruptNodeError,
    ProofError,
    StoreError,
    UnknownFormatError,
    VersionNotFoundError,
)
from abci_app.store.export import export_nodes
from abci_app.store.proofs import ProofOp, app_hash_of, verify_query_proof

NAMES = ["bank", "oracle", "staking", "tasks"]


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "db")


@pytest.fixture
def ms(path: str) -> Iterator[MultiStore]:
    store = MultiStore.open(path, NAMES, sync=False)
    yield store
    store.close()


def _commit(ms: MultiStore, writes: dict[str, dict[bytes, bytes | None]]) -> bytes:
    b = ms.branch()
    for name, kv in writes.items():
        for k, v in kv.items():
            if v is None:
                b.store(name).delete(k)
            else:
                b.store(name).set(k, v)
    app_hash = ms.stage(b, ms.last_version + 1)
    assert ms.commit().app_hash == app_hash
    return app_hash


def test_empty_multistore_hash_is_the_merkle_root_of_empty_store_roots(ms: MultiStore) -> None:
    assert ms.last_version == 0
    assert ms.last_app_hash == app_hash_of([(n, sha256(b"").digest()) for n in NAMES])
    assert app_hash_of([]) == sha256(b"").digest()


def test_stage_persists_nothing_and_reads_still_see_last_commit(ms: MultiStore) -> None:
    _commit(ms, {"bank": {b"a": b"1"}})
    before = ms.last_app_hash
    b = ms.branch()
    b.store("bank").set(b"a", b"2")
    staged = ms.stage(b, 2)
    assert staged != before
    assert ms.branch().store("bank").get(b"a") == b"1"
    assert ms.query("bank", b"a").value == b"1"
    assert ms.last_version == 1 and ms.last_app_hash == before


def test_restaging_the_same_height_discards_the_earlier_stage(ms: MultiStore) -> None:
    b1 = ms.branch()
    b1.store("bank").set(b"x", b"first")
    ms.stage(b1, 1)
    b2 = ms.branch()
    b2.store("bank").set(b"y", b"second")
    h2 = ms.stage(b2, 1)
    assert ms.commit().app_hash == h2
    assert ms.query("bank", b"x").value is None
    assert ms.query("bank", b"y").value == b"second"


def test_commit_without_stage_raises(ms: MultiStore) -> None:
    with pytest.raises(StoreError, match="stage"):
        ms.commit()


def test_stage_of_old_or_equal_version_raises(ms: MultiStore) -> None:
    _commit(ms, {"bank": {b"a": b"1"}})
    with pytest.raises(StoreError):
        ms.stage(ms.branch(), 1)


def test_stage_of_branch_over_stale_version_raises(ms: MultiStore) -> None:
    stale = ms.branch()
    _commit(ms, {"bank": {b"a": b"1"}})
    with pytest.raises(StoreError, match="latest"):
        ms.stage(stale, 2)


def test_meta_is_committed_with_the_version(ms: MultiStore, path: str) -> None:
    ms.stage(ms.branch(), 1)
    ms.commit({b"last_block": b"abc"})
    assert ms.get_meta(b"last_block") == b"abc"
    assert ms.get_meta(b"other") is None


def test_reopen_finds_the_last_commit(path: str) -> None:
    ms = MultiStore.open(path, NAMES, sync=False)
    h1 = _commit(ms, {"bank": {b"a": b"1"}})
    h2 = _commit(ms, {"tasks": {b"t": b"2"}, "bank": {b"a": None}})
    ms.close()
    ms = MultiStore.open(path, NAMES, sync=False)
    assert (ms.last_version, ms.last_app_hash, ms.versions()) == (2, h2, [1, 2])
    assert ms.app_hash(1) == h1
    assert ms.query("bank", b"a", version=1).value == b"1"
    assert ms.query("bank", b"a").value is None
    ms.close()


def test_new_store_name_is_added_empty(path: str) -> None:
    ms = MultiStore.open(path, ["bank"], sync=False)
    _commit(ms, {"bank": {b"a": b"1"}})
    ms.close()
    ms = MultiStore.open(path, ["bank", "tasks"], sync=False)
    assert ms.branch().store("tasks").get(b"a") is None
    _commit(ms, {"tasks": {b"t": b"1"}})
    q = ms.query("tasks", b"t", prove=True)
    verify_query_proof(ms.last_app_hash, "tasks", b"t", b"1", q.proof_ops)
    ms.close()


def test_query_proofs_verify_for_present_and_absent_keys(ms: MultiStore) -> None:
    _commit(ms, {"bank": {bytes([i]): b"v%d" % i for i in range(1, 40, 3)}, "oracle": {b"p": b"1"}})
    for i in range(0, 45):
        key = bytes([i])
        q = ms.query("bank", key, prove=True)
        assert [op.type for op in q.proof_ops] == ["ics23:iavl", "ics23:simple"]
        verify_query_proof(ms.last_app_hash, "bank", key, q.value, q.proof_ops)


def test_absence_in_an_empty_store_is_provable(ms: MultiStore) -> None:
    _commit(ms, {"bank": {b"a": b"1"}})
    q = ms.query("tasks", b"nothing", prove=True)
    verify_query_proof(ms.last_app_hash, "tasks", b"nothing", None, q.proof_ops)
    with pytest.raises(ProofError):
        verify_query_proof(ms.last_app_hash, "bank", b"nothing", None, q.proof_ops)


def test_query_proof_does_not_verify_for_another_value_store_or_hash(ms: MultiStore) -> None:
    _commit(ms, {"bank": {b"a": b"1"}, "tasks": {b"a": b"1"}})
    q = ms.query("bank", b"a", prove=True)
    with pytest.raises(ProofError):
        verify_query_proof(ms.last_app_hash, "bank", b"a", b"2", q.proof_ops)
    with pytest.raises(ProofError):
        verify_query_proof(ms.last_app_hash, "bank", b"a", None, q.proof_ops)
    with pytest.raises(ProofError):
        verify_query_proof(bytes(32), "bank", b"a", b"1", q.proof_ops)
    swapped = [q.proof_ops[0], ProofOp("ics23:simple", b"tasks", q.proof_ops[1].data)]
    with pytest.raises(ProofError):
        verify_query_proof(ms.last_app_hash, "tasks", b"a", b"1", swapped)
    with pytest.raises(ProofError):
        verify_query_proof(ms.last_app_hash, "bank", b"a", b"1", q.proof_ops[::-1])


def test_unretained_version_raises(ms: MultiStore) -> None:
    _commit(ms, {"bank": {b"a": b"1"}})
    _commit(ms, {"bank": {b"a": b"2"}})
    ms.prune(keep_recent=1)
    with pytest.raises(VersionNotFoundError):
        ms.branch(1)
    with pytest.raises(VersionNotFoundError):
        ms.query("bank", b"a", version=1)
    with pytest.raises(VersionNotFoundError):
        ms.rollback(1)


def test_rollback_restores_an_older_version_and_allows_recommitting(ms: MultiStore) -> None:
    h1 = _commit(ms, {"bank": {b"a": b"1"}})
    _commit(ms, {"bank": {b"a": b"2", b"b": b"3"}})
    _commit(ms, {"bank": {b"a": None}})
    ms.rollback(1)
    assert (ms.last_version, ms.last_app_hash, ms.versions()) == (1, h1, [1])
    assert list(ms.export()) == [("bank", b"a", b"1")]
    assert ms.stored_node_keys() == ms.reachable_node_keys()
    _commit(ms, {"bank": {b"c": b"4"}})
    assert ms.versions() == [1, 2]


def test_prune_keeps_recent_and_every_nth(ms: MultiStore) -> None:
    for i in range(1, 11):
        _commit(ms, {"bank": {b"k": b"%d" % i, b"k%d" % i: b"x"}})
    deleted = ms.prune(keep_recent=2, keep_every=4)
    assert deleted == [1, 2, 3, 5, 6, 7]
    assert ms.versions() == [4, 8, 9, 10]
    assert ms.query("bank", b"k", version=4).value == b"4"
    assert ms.query("bank", b"k3", version=4).value == b"x"
    reachable: set[bytes] = set()
    for v in ms.versions():
        reachable |= ms.reachable_node_keys(v)
    assert ms.stored_node_keys() == reachable


def test_unknown_format_raises(path: str) -> None:
    ms = MultiStore.open(path, NAMES)
    ms.close()
    opts = Options(raw_mode=True)
    db = Rdict(path, options=opts)
    db[b"F"] = b"taskmaster-store/99"
    db.close()
    with pytest.raises(UnknownFormatError, match="99"):
        MultiStore.open(path, NAMES)


def test_foreign_database_without_marker_raises(path: str) -> None:
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    db = Rdict(path, options=opts)
    db[b"something"] = b"else"
    db.close()
    with pytest.raises(UnknownFormatError):
        MultiStore.open(path, NAMES)


def test_node_whose_hash_does_not_match_raises(path: str) -> None:
    ms = MultiStore.open(path, NAMES, sync=False)
    _commit(ms, {"bank": {bytes([i]): b"v" for i in range(1, 30)}})
    ms.close()
    db = Rdict(path, options=Options(raw_mode=True))
    node_key = next(
        k for k, v in db.items(from_key=b"n") if isinstance(k, bytes) and k.startswith(b"n") and v[0] == 0
    )
    data = db[node_key]
    assert isinstance(data, bytes)
    db[node_key] = data[:-1] + bytes([data[-1] ^ 0xFF])  # flip a byte of a leaf's value
    db.close()
    with pytest.raises(CorruptNodeError, match="does not match"):
        ms = MultiStore.open(path, NAMES, sync=False)
        list(ms.export())


def test_export_then_node_import_reproduces_the_app_hash(ms: MultiStore, tmp_path: Path) -> None:
    for i in range(5):
        _commit(ms, {"bank": {b"%d" % j: b"%d" % i for j in range(i, 40, 3)}, "tasks": {b"t%d" % i: b"x"}})
    nodes = list(export_nodes(ms))
    copy = MultiStore.import_nodes(str(tmp_path / "copy"), NAMES, ms.last_version, nodes)
    assert copy.last_app_hash == ms.last_app_hash
    assert list(copy.export()) == list(ms.export())
    copy.close()


def test_key_value_import_is_reproducible(ms: MultiStore, tmp_path: Path) -> None:
    _commit(ms, {"bank": {b"%d" % j: b"v" for j in range(50)}, "tasks": {b"t": b"x"}})
    items = list(ms.export())
    assert items == sorted(items)
    a = MultiStore.import_kv(str(tmp_path / "a"), NAMES, 7, items)
    b = MultiStore.import_kv(str(tmp_path / "b"), NAMES, 7, iter(items))
    assert a.last_app_hash == b.last_app_hash
    assert list(a.export()) == items and a.last_version == 7
    # a single sorted block at version 1 builds the same trees as importing at version 1
    c = MultiStore.import_kv(str(tmp_path / "c"), NAMES, 1, items)
    assert c.last_app_hash == ms.last_app_hash
    for s in (a, b, c):
        s.close()


def test_import_into_non_empty_db_raises(ms: MultiStore, path: str) -> None:
    _commit(ms, {"bank": {b"a": b"1"}})
    ms.close()
    with pytest.raises(StoreError, match="empty"):
        MultiStore.import_kv(path, NAMES, 5, [])
    with pytest.raises(StoreError, match="empty"):
        MultiStore.import_nodes(path, NAMES, 5, [])
    MultiStore.open(path, NAMES).close()


def test_memory_does_not_grow_with_history_when_nothing_is_pruned(ms: MultiStore) -> None:
    """Old versions stay readable from disk, but the process keeps only a bounded set of them open."""
    import gc
    import random
    import tracemalloc

    from abci_app.store.gcpolicy import settle_after_commit

    rng = random.Random(5)

    def blocks(n: int) -> None:
        for _ in range(n):
            writes = {rng.randrange(5000).to_bytes(4, "big"): rng.randbytes(32) for _ in range(50)}
            _commit(ms, {"bank": dict(writes)})
            settle_after_commit()  # as the node does after every commit
            ms.branch().store("bank").get(b"\x00\x00\x00\x01")  # a read of the latest version

    blocks(150)  # the latest tree is fully resident from here on
    tracemalloc.start()
    try:
        blocks(100)
        middle = tracemalloc.get_traced_memory()[0]
        blocks(200)
        grown = tracemalloc.get_traced_memory()[0] - middle
    finally:
        tracemalloc.stop()
        gc.unfreeze()
    # keeping each version's tree open would hold ~50 new paths (~80 KB) per version: ~16 MB here
    assert grown < 1_500_000, f"{grown} bytes kept for 200 more versions"
    assert 3 in ms.versions() and len(list(ms.branch(3).store("bank").iterate())) > 100  # still readable
