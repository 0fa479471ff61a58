"""A hostile state-sync peer: it chooses the chunks, their hashes and the snapshot hash, and only the
final app hash is trusted. Whatever its stream holds, a restore keeps memory bounded by the chunk size
and the tree's depth, and refuses the snapshot (naming the peers that sent it) at the first record
that shows the stream cannot be a valid tree."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.statesync.format import (
    Metadata,
    SnapshotFormatError,
    StreamReader,
    StreamWriter,
    max_tree_height,
)
from abci_app.statesync.manager import Apply, ApplyOutcome, Restore
from abci_app.store import MultiStore
from abci_app.store.encoding import MAX_VALUE_LEN
from abci_app.store.export import ExportNode, export_nodes

NAMES = ["bank", "tasks"]
HEIGHT = 7
TRUSTED = hashlib.sha256(b"the app hash the light client trusts").digest()


def _hostile(
    records: Iterable[ExportNode], chunk_size: int, app_hash: bytes = TRUSTED
) -> tuple[Metadata, bytes, list[bytes]]:
    """A snapshot as a hostile peer would serve it: any records, with matching chunk hashes, snapshot
    hash and node count, and metadata claiming the trusted app hash."""
    chunks: list[bytes] = []
    writer = StreamWriter(NAMES, lambda _, chunk: chunks.append(chunk), chunk_size)
    for rec in records:
        writer.add(rec)
    written = writer.finish()
    meta = Metadata(app_hash, "test-chain", 1, tuple(NAMES), written.chunk_hashes, written.nodes)
    return meta, written.hash, chunks


@pytest.fixture
def target(tmp_path: Path) -> Iterator[MultiStore]:
    """The empty store of a joining node."""
    ms = MultiStore.open(str(tmp_path / "joining"), NAMES, sync=False)
    yield ms
    ms.close()


def _leaves(n: int, value: bytes) -> Iterator[ExportNode]:
    return (ExportNode("bank", b"k%08d" % i, value, 1, 0) for i in range(n))


def test_a_chunk_of_leaves_never_joined_is_refused_at_once_within_bounded_memory(
    target: MultiStore,
) -> None:
    """The reported attack: 4 MiB values of zeros compress ~1000x, so a 256 KiB chunk held 530 MB of
    leaves waiting on the builder's stack. Now the fourth leaf is refused, and the peer rejected."""
    meta, snapshot_hash, chunks = _hostile(_leaves(130, bytes(MAX_VALUE_LEN)), chunk_size=256 * 1024)
    restore = Restore(target, HEIGHT, snapshot_hash, meta, TRUSTED)
    tracemalloc.start()
    try:
        outcome = restore.apply(0, chunks[0], "evil")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (outcome.result, outcome.reject_senders) == (Apply.REJECT_SNAPSHOT, ("evil",))
    assert "waiting for parents" in outcome.reason
    assert restore.importer.count == 3
    # a record (4 MiB) and its encoding, one decompression step and the chunk: far below the 130 values
    assert peak < 8 * MAX_VALUE_LEN, f"{peak / 2**20:.0f} MiB traced while applying one 256 KiB chunk"
    assert target.last_version == 0


def test_every_peer_that_sent_chunks_of_a_hostile_snapshot_is_rejected(target: MultiStore) -> None:
    leaves = (ExportNode("bank", b"k%02d" % i, hashlib.sha256(b"%d" % i).digest(), 1, 0) for i in range(9))
    meta, snapshot_hash, chunks = _hostile(leaves, chunk_size=48)  # the fourth leaf is in a later chunk
    restore = Restore(target, HEIGHT, snapshot_hash, meta, TRUSTED)
    outcomes: list[ApplyOutcome] = []
    senders = ["peer-b", "peer-a", "peer-b", "peer-c"]
    for index, chunk in enumerate(chunks):
        outcomes.append(restore.apply(index, chunk, senders[index % len(senders)]))
        if outcomes[-1].result != Apply.ACCEPT:
            break
    refused = outcomes[-1]
    assert len(outcomes) > 1 and all(o.result == Apply.ACCEPT for o in outcomes[:-1])
    assert refused.result == Apply.REJECT_SNAPSHOT
    assert refused.reject_senders == tuple(sorted(set(senders[: len(outcomes)])))
    assert target.last_version == 0


@pytest.fixture
def source(tmp_path: Path) -> Iterator[MultiStore]:
    ms = MultiStore.open(str(tmp_path / "source"), NAMES, sync=False)
    for version in (1, 2):
        b = ms.branch()
        for j in range(version, 200, version + 1):
            b.store("bank").set(b"k%04d" % j, b"v%d" % version)
        b.store("tasks").set(b"t%d" % version, b"x")
        ms.stage(b, version)
        ms.commit()
    yield ms
    ms.close()


def _apply_all(restore: Restore, chunks: list[bytes], sender: str = "peer") -> ApplyOutcome:
    outcome = ApplyOutcome(Apply.ABORT, "no chunk")
    for index, chunk in enumerate(chunks):
        outcome = restore.apply(index, chunk, sender)
        if outcome.result != Apply.ACCEPT:
            break
    return outcome


def test_a_valid_tree_of_another_app_hash_is_rejected_with_its_senders_at_the_end(
    source: MultiStore, target: MultiStore
) -> None:
    meta, snapshot_hash, chunks = _hostile(export_nodes(source), chunk_size=512)
    assert source.last_app_hash != TRUSTED
    outcome = _apply_all(Restore(target, HEIGHT, snapshot_hash, meta, TRUSTED), chunks, "liar")
    assert (outcome.result, outcome.reject_senders) == (Apply.REJECT_SNAPSHOT, ("liar",))
    assert "is not the trusted" in outcome.reason and target.last_version == 0


def test_an_honest_snapshot_restores_and_rejects_nobody(source: MultiStore, target: MultiStore) -> None:
    meta, snapshot_hash, chunks = _hostile(export_nodes(source), 512, source.last_app_hash)
    outcome = _apply_all(Restore(target, 2, snapshot_hash, meta, source.last_app_hash), chunks)
    assert (outcome.result, outcome.done, outcome.reject_senders) == (Apply.ACCEPT, True, ())
    assert target.last_app_hash == source.last_app_hash


def test_a_record_higher_than_the_metadata_node_count_allows_is_refused() -> None:
    leaves = list(_leaves(2, b"v"))
    records = [*leaves, ExportNode("bank", leaves[1].key, None, 1, 5)]  # 3 nodes: at most height 1
    meta, snapshot_hash, chunks = _hostile(records, chunk_size=1024)
    reader = StreamReader(meta, snapshot_hash)
    with pytest.raises(SnapshotFormatError, match="height 5; a tree that high has at least 25 nodes"):
        list(reader.feed(0, chunks[0]))


# ----------------------------------------------------------------- properties


def _bound(records: int) -> int:
    """Most subtrees a valid stream can leave pending after ``records`` records over NAMES."""
    return len(NAMES) - 1 + 2 * (max_tree_height(records) + 1) + 1


def _edit(records: list[ExportNode], data: st.DataObject) -> list[ExportNode]:
    """A hostile peer's edit of an honest stream."""
    out = list(records)
    i = data.draw(st.integers(0, len(out) - 1))
    kind = data.draw(st.sampled_from(["drop", "repeat", "swap", "height", "value", "leaves_only"]))
    if kind == "leaves_only":
        return [r for r in out if r.height == 0]
    if kind == "drop":
        del out[i]
    elif kind == "repeat":
        out[i:i] = [out[i]] * data.draw(st.integers(1, 50))
    elif kind == "swap":
        j = data.draw(st.integers(0, len(out) - 1))
        out[i], out[j] = out[j], out[i]
    elif kind == "height":
        out[i] = ExportNode(out[i].store, out[i].key, None, out[i].version, data.draw(st.integers(1, 9)))
    else:
        out[i] = ExportNode(out[i].store, out[i].key, data.draw(st.binary(max_size=9)), out[i].version, 0)
    return out


@settings(max_examples=80, deadline=None)
@given(n_keys=st.integers(1, 120), chunk_size=st.integers(16, 2048), data=st.data())
def test_an_edited_snapshot_is_refused_with_its_peer_and_never_exceeds_the_bound(
    n_keys: int, chunk_size: int, data: st.DataObject
) -> None:
    root = tempfile.mkdtemp(prefix="restore-prop-")
    try:
        source = MultiStore.open(f"{root}/source", NAMES, sync=False)
        b = source.branch()
        for i in range(n_keys):
            b.store(NAMES[i % 2]).set(b"k%04d" % i, b"v%d" % i)
        source.stage(b, 1)
        source.commit()
        honest = list(export_nodes(source))
        trusted = source.last_app_hash
        source.close()
        edited = _edit(honest, data)
        meta, snapshot_hash, chunks = _hostile(edited, chunk_size, trusted)
        target = MultiStore.open(f"{root}/target", NAMES, sync=False)
        restore = Restore(target, 1, snapshot_hash, meta, trusted)
        taken = restore.importer.add

        def watched(rec: ExportNode) -> None:
            taken(rec)
            assert restore.importer.pending_subtrees <= _bound(restore.importer.count)

        restore.importer.add = watched  # type: ignore[method-assign]
        outcome = _apply_all(restore, chunks, "edited")
        if outcome.result == Apply.ACCEPT:  # only an edit that changed nothing the app hash covers
            assert outcome.done and target.last_app_hash == trusted
        else:
            assert (outcome.result, outcome.reject_senders) == (Apply.REJECT_SNAPSHOT, ("edited",))
            assert target.last_version == 0
        target.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_abci_answer_to_a_hostile_chunk_rejects_the_snapshot_and_its_peer(tmp_path: Path) -> None:
    """Through ApplySnapshotChunk as CometBFT calls it: ResponseApplySnapshotChunk with REJECT_SNAPSHOT
    and the sender in reject_senders ("Reject the given P2P senders, regardless of the Result", the
    ABCI 2.0 spec of CometBFT v0.38), and the node can take another offer."""
    app = Application(AppConfig(db_path=str(tmp_path / "joining"), chain_id="test-chain"))
    app.info(abci.RequestInfo())
    try:
        stores = tuple(app.store.store_names)
        chunks: list[bytes] = []
        writer = StreamWriter(stores, lambda _, chunk: chunks.append(chunk), 256 * 1024)
        for i in range(130):
            writer.add(ExportNode(stores[0], b"k%08d" % i, bytes(MAX_VALUE_LEN), 1, 0))
        written = writer.finish()
        meta = Metadata(TRUSTED, "test-chain", 1, stores, written.chunk_hashes, written.nodes)
        snap = abci.Snapshot(
            height=HEIGHT, format=1, chunks=len(chunks), hash=written.hash, metadata=meta.encode()
        )
        offer = app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snap, app_hash=TRUSTED))
        assert offer.result == abci.ResponseOfferSnapshot.ACCEPT
        answer = app.apply_snapshot_chunk(
            abci.RequestApplySnapshotChunk(index=0, chunk=chunks[0], sender="evil-peer-id")
        )
        assert answer.result == abci.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
        assert list(answer.reject_senders) == ["evil-peer-id"]
        assert app.info(abci.RequestInfo()).last_block_height == 0
        again = app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snap, app_hash=TRUSTED))
        assert again.result == abci.ResponseOfferSnapshot.ACCEPT
    finally:
        app.close()
