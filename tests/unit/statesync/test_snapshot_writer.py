"""The background snapshot writer: a separate process reading the node's database as a RocksDB
secondary writes the same snapshot as an in-process write, while the node keeps committing and
pruning; a failure or a cancellation is reported and leaves nothing listed half-written."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from abci_app.statesync.manager import Restore, SnapshotPolicy, Snapshotter
from abci_app.statesync.snapshots import TMP_PREFIX, SnapshotStore, source_of
from abci_app.store import MultiStore

NAMES = ["bank", "tasks"]


def _commit(ms: MultiStore, version: int, width: int = 300) -> None:
    b = ms.branch()
    for j in range(version % 7, width, 3):
        b.store("bank").set(b"k%05d" % j, hashlib.sha256(b"%d/%d" % (version, j)).digest())
    b.store("tasks").set(b"t%d" % version, b"x" * (version % 50))
    ms.stage(b, version)
    ms.commit()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MultiStore]:
    ms = MultiStore.open(str(tmp_path / "db"), NAMES)
    for version in range(1, 6):
        _commit(ms, version)
    yield ms
    ms.close()


def _chunks(snaps: SnapshotStore, height: int, count: int) -> list[bytes]:
    out = [snaps.load_chunk(height, 1, i) for i in range(count)]
    assert all(c is not None for c in out)
    return [c for c in out if c is not None]


def test_the_writer_process_writes_what_an_in_process_write_does(store: MultiStore, tmp_path: Path) -> None:
    expected, _ = SnapshotStore(tmp_path / "inproc").write(source_of(store, 5, "chain-x", 3), 1024)
    snapper = Snapshotter(store, SnapshotStore(tmp_path / "snaps"), SnapshotPolicy(5, 1, 1024))
    assert snapper.after_commit(5, "chain-x", 3)
    # the node goes on committing and pruning while the process walks the held version 5
    for version in range(6, 12):
        _commit(store, version)
        store.prune(keep_recent=1)
    snapper.wait()
    assert snapper.last_error is None
    got = snapper.snapshots.get(5, 1)
    assert got == expected
    assert _chunks(snapper.snapshots, 5, got.chunks) == _chunks(
        SnapshotStore(tmp_path / "inproc"), 5, got.chunks
    )
    assert 5 not in store.held_versions()
    assert [p.name for p in snapper.snapshots.root.iterdir() if p.name.startswith(TMP_PREFIX)] == []

    target = MultiStore.open(str(tmp_path / "target"), NAMES)
    restore = Restore(target, 5, got.hash, got.meta, got.meta.app_hash)
    results = [
        restore.apply(i, c, "peer").result.name
        for i, c in enumerate(_chunks(snapper.snapshots, 5, got.chunks))
    ]
    assert results == ["ACCEPT"] * got.chunks
    assert target.last_app_hash == store.app_hash(5)
    target.close()


def test_a_corrupt_database_fails_the_snapshot_with_the_reason_and_lists_nothing(
    store: MultiStore, tmp_path: Path
) -> None:
    db = store._ndb.db  # corrupt it under the store: remove one stored node of version 5
    version5 = (5).to_bytes(8, "big")
    keys = [k for k in db.keys(from_key=b"n") if isinstance(k, bytes)]
    victim = next(k for k in keys if k.startswith(b"n\x04bank") and k[-12:-4] == version5)
    del db[victim]
    snapper = Snapshotter(store, SnapshotStore(tmp_path / "snaps"), SnapshotPolicy(5, 1))
    assert snapper.after_commit(5, "c", 1)
    snapper.wait()
    assert snapper.last_error is not None
    assert f"node {victim[-12:].hex()} of store 'bank' is missing" in str(snapper.last_error)
    assert snapper.snapshots.listed() == []
    assert [p.name for p in snapper.snapshots.root.iterdir() if p.name.startswith(TMP_PREFIX)] == []
    assert store.held_versions() == []


def test_close_cancels_a_snapshot_being_written(tmp_path: Path) -> None:
    ms = MultiStore.open(str(tmp_path / "db"), NAMES, sync=False)
    _commit(ms, 1, width=60_000)  # big enough that the walk is still going when close() comes
    ms.close()
    ms = MultiStore.open(str(tmp_path / "db"), NAMES)  # reopened: everything flushed for the secondary
    snapper = Snapshotter(ms, SnapshotStore(tmp_path / "snaps"), SnapshotPolicy(1, 1, 4096))
    snapper.start(1, "c", 1)
    time.sleep(0.05)
    snapper.close()
    assert not snapper.busy
    assert snapper.last_error is None
    if snapper.snapshots.listed():  # the writer finished before it saw the request: a whole snapshot
        assert snapper.snapshots.listed()[0].height == 1
    assert [p.name for p in snapper.snapshots.root.iterdir() if p.name.startswith(TMP_PREFIX)] == []
    assert ms.held_versions() == []
    ms.close()
