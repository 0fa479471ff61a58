"""State sync's ABCI answers in process: a node serves its snapshots, an empty node restores one to the
exact app hash (and Info then reports it), and every refusal of the ABCI 2.0 spec is given for its case:
ABORT for a node with state, REJECT_FORMAT for an unknown format, REJECT for bad metadata or a snapshot
whose app hash is not the trusted one, RETRY (refetch, reject the sender) for a chunk that fails its hash.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.statesync.format import FORMAT
from abci_app.statesync.manager import SnapshotPolicy
from tests.app.driver import CHAIN_ID, Chain, address_of

HASHES: dict[int, bytes] = {}
"""Each height's app hash as the serving chain's FinalizeBlock answered it."""

Offer = abci.ResponseOfferSnapshot
Apply = abci.ResponseApplySnapshotChunk


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Chain, abci.Snapshot, list[bytes]]]:
    """A chain that snapshots every 4 heights in 512-byte chunks, at height 9 with snapshots 4 and 8."""
    chain = Chain.start(str(tmp_path / "a"))
    chain.block([])  # genesis is committed with the first block; then reopen with snapshots on
    chain.app.close()
    chain.app = Application(
        AppConfig(
            db_path=str(tmp_path / "a"),
            snapshot_dir=str(tmp_path / "a-snaps"),
            snapshots=SnapshotPolicy(interval=4, keep_recent=2, chunk_size=512),
            chain_id=CHAIN_ID,
        )
    )
    chain.app.info(abci.RequestInfo())
    bob = address_of(chain.accounts["user1"])
    for _ in range(8):
        answer = chain.block([chain.send_tx("user0", bob, "1000")])
        HASHES[chain.height] = answer.app_hash
        assert chain.app.snapshotter is not None
        chain.app.snapshotter.wait()
    listed = chain.app.list_snapshots(abci.RequestListSnapshots()).snapshots
    assert [s.height for s in listed] == [8, 4]
    snap = listed[0]
    chunks = [
        chain.app.load_snapshot_chunk(
            abci.RequestLoadSnapshotChunk(height=8, format=snap.format, chunk=i)
        ).chunk
        for i in range(snap.chunks)
    ]
    yield chain, snap, chunks
    chain.app.close()


def _empty(tmp_path: Path) -> Application:
    app = Application(AppConfig(db_path=str(tmp_path / "b"), chain_id=CHAIN_ID))
    app.info(abci.RequestInfo())
    return app


def test_an_empty_node_restores_the_snapshot_and_reports_it_in_info(
    served: tuple[Chain, abci.Snapshot, list[bytes]], tmp_path: Path
) -> None:
    chain, snap, chunks = served
    assert snap.format == FORMAT and snap.chunks == len(chunks) > 1
    trusted = _trusted(chain, snap)
    app = _empty(tmp_path)
    try:
        offer = app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snap, app_hash=trusted))
        assert offer.result == Offer.ACCEPT
        tampered = bytes([chunks[0][0] ^ 1]) + chunks[0][1:]
        bad = app.apply_snapshot_chunk(abci.RequestApplySnapshotChunk(index=0, chunk=tampered, sender="evil"))
        assert (bad.result, list(bad.refetch_chunks), list(bad.reject_senders)) == (
            Apply.RETRY,
            [0],
            ["evil"],
        )
        for i, chunk in enumerate(chunks):
            answer = app.apply_snapshot_chunk(
                abci.RequestApplySnapshotChunk(index=i, chunk=chunk, sender="ok")
            )
            assert answer.result == Apply.ACCEPT, i
        info = app.info(abci.RequestInfo())
        assert (info.last_block_height, info.last_block_app_hash) == (8, trusted)
        assert app.chain_id == CHAIN_ID
    finally:
        app.close()


def _trusted(chain: Chain, snap: abci.Snapshot) -> bytes:
    """The app hash the light client trusts for the snapshot height: FinalizeBlock's answer there."""
    return HASHES[snap.height]


def test_refusals(served: tuple[Chain, abci.Snapshot, list[bytes]], tmp_path: Path) -> None:
    chain, snap, chunks = served
    trusted = _trusted(chain, snap)
    # a node that already has state: ABORT (and its state is untouched)
    before = chain.app.info(abci.RequestInfo())
    has_state = chain.app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snap, app_hash=trusted))
    assert has_state.result == Offer.ABORT
    assert chain.app.info(abci.RequestInfo()) == before
    app = _empty(tmp_path)
    try:
        unknown = abci.Snapshot(height=snap.height, format=FORMAT + 1, chunks=snap.chunks, hash=snap.hash)
        unknown.metadata = snap.metadata
        offer = app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=unknown, app_hash=trusted))
        assert offer.result == Offer.REJECT_FORMAT
        garbled = abci.Snapshot(height=snap.height, format=FORMAT, chunks=snap.chunks, hash=snap.hash)
        garbled.metadata = b"{not json"
        offer = app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=garbled, app_hash=trusted))
        assert offer.result == Offer.REJECT
        offer = app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snap, app_hash=b"\x00" * 32))
        assert offer.result == Offer.REJECT
        # a chunk with no accepted snapshot
        stray = app.apply_snapshot_chunk(abci.RequestApplySnapshotChunk(index=0, chunk=chunks[0]))
        assert stray.result == Apply.ABORT
        # chunks out of order abandon the snapshot; the store is empty again and takes a new offer
        assert (
            app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snap, app_hash=trusted)).result
            == Offer.ACCEPT
        )
        skip = app.apply_snapshot_chunk(abci.RequestApplySnapshotChunk(index=1, chunk=chunks[1]))
        assert skip.result == Apply.RETRY_SNAPSHOT
        assert app.info(abci.RequestInfo()).last_block_height == 0
        assert (
            app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snap, app_hash=trusted)).result
            == Offer.ACCEPT
        )
    finally:
        app.close()
