"""Snapshot format 1: a written snapshot reads back to the same nodes and the exact app hash; a chunk that
is truncated, tampered with, out of order, or of an unknown format is refused with what is wrong."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from abci_app.statesync.format import (
    FORMAT,
    ChunkHashError,
    Metadata,
    SnapshotFormatError,
    StreamReader,
    StreamWriter,
    encode_record,
)
from abci_app.statesync.snapshots import SnapshotInfo, SnapshotStore, source_of
from abci_app.store import MultiStore
from abci_app.store.export import ExportNode, export_nodes

NAMES = ["bank", "tasks"]


@pytest.fixture
def source(tmp_path: Path) -> Iterator[MultiStore]:
    """Four versions over two stores, values large enough for several small chunks."""
    ms = MultiStore.open(str(tmp_path / "source"), NAMES, sync=False)
    for version in range(1, 5):
        b = ms.branch()
        for j in range(version, 400, version + 1):
            b.store("bank").set(b"k%04d" % j, hashlib.sha256(b"%d/%d" % (version, j)).digest())
        b.store("tasks").set(b"t%d" % version, b"x" * version)
        ms.stage(b, version)
        ms.commit()
    yield ms
    ms.close()


def _snapshot(ms: MultiStore, root: Path, chunk_size: int = 2048) -> tuple[SnapshotStore, SnapshotInfo]:
    snaps = SnapshotStore(root)
    info, _ = snaps.write(source_of(ms, ms.last_version, "test-chain", 1), chunk_size)
    return snaps, info


def _chunks(snaps: SnapshotStore, info: SnapshotInfo) -> list[bytes]:
    out = [snaps.load_chunk(info.height, info.format, i) for i in range(info.chunks)]
    assert all(c is not None for c in out)
    return [c for c in out if c is not None]


def _read(info: SnapshotInfo, chunks: list[bytes]) -> list[ExportNode]:
    reader = StreamReader(info.meta, info.hash)
    out = [rec for i, chunk in enumerate(chunks) for rec in reader.feed(i, chunk)]
    reader.finish()
    return out


def test_a_snapshot_reads_back_to_the_exported_node_stream(source: MultiStore, tmp_path: Path) -> None:
    snaps, info = _snapshot(source, tmp_path / "snaps")
    assert info.chunks > 3 and info.format == FORMAT
    assert _read(info, _chunks(snaps, info)) == list(export_nodes(source))
    assert info.meta.app_hash == source.last_app_hash


def test_chunks_are_at_most_the_chunk_size_and_hashed_in_the_metadata(
    source: MultiStore, tmp_path: Path
) -> None:
    snaps, info = _snapshot(source, tmp_path / "snaps", chunk_size=1000)
    chunks = _chunks(snaps, info)
    assert all(len(c) == 1000 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 1000
    assert list(info.meta.chunk_hashes) == [hashlib.sha256(c).digest() for c in chunks]
    assert info.hash == hashlib.sha256(b"".join(chunks)).digest()


def test_the_same_state_gives_the_same_snapshot_bytes(source: MultiStore, tmp_path: Path) -> None:
    _, a = _snapshot(source, tmp_path / "a")
    _, b = _snapshot(source, tmp_path / "b")
    assert (a.hash, a.metadata) == (b.hash, b.metadata)


def test_a_tampered_chunk_is_refused_by_its_hash_and_can_be_fed_again(
    source: MultiStore, tmp_path: Path
) -> None:
    snaps, info = _snapshot(source, tmp_path / "snaps")
    chunks = _chunks(snaps, info)
    reader = StreamReader(info.meta, info.hash)
    bad = bytes([chunks[0][0] ^ 1]) + chunks[0][1:]
    with pytest.raises(ChunkHashError, match="chunk 0"):
        list(reader.feed(0, bad))
    recs = [rec for i, chunk in enumerate(chunks) for rec in reader.feed(i, chunk)]
    reader.finish()
    assert recs == list(export_nodes(source))


def test_a_truncated_chunk_is_refused(source: MultiStore, tmp_path: Path) -> None:
    snaps, info = _snapshot(source, tmp_path / "snaps")
    chunks = _chunks(snaps, info)
    with pytest.raises(ChunkHashError):
        list(StreamReader(info.meta, info.hash).feed(0, chunks[0][:-1]))


def test_chunks_out_of_order_are_refused(source: MultiStore, tmp_path: Path) -> None:
    snaps, info = _snapshot(source, tmp_path / "snaps")
    chunks = _chunks(snaps, info)
    reader = StreamReader(info.meta, info.hash)
    with pytest.raises(SnapshotFormatError, match="chunk 1 arrived, but chunk 0 is next"):
        list(reader.feed(1, chunks[1]))


def test_a_stream_missing_its_last_chunk_does_not_finish(source: MultiStore, tmp_path: Path) -> None:
    snaps, info = _snapshot(source, tmp_path / "snaps")
    chunks = _chunks(snaps, info)
    reader = StreamReader(info.meta, info.hash)
    for i, chunk in enumerate(chunks[:-1]):
        list(reader.feed(i, chunk))
    with pytest.raises(SnapshotFormatError, match=f"only {len(chunks) - 1} of {len(chunks)}"):
        reader.finish()


def _single_chunk(raw: bytes, nodes: int) -> tuple[Metadata, bytes, bytes]:
    """A hand-made one-chunk snapshot whose metadata matches its (possibly malformed) stream."""
    chunk = zlib.compress(raw)
    digest = hashlib.sha256(chunk).digest()
    meta = Metadata(b"\0" * 32, "c", 1, ("bank",), (digest,), nodes)
    return meta, digest, chunk


def test_a_stream_cut_before_its_end_record_is_refused() -> None:
    leaf = encode_record(0, ExportNode("bank", b"k", b"v", 1, 0))
    meta, digest, chunk = _single_chunk(leaf, 1)
    reader = StreamReader(meta, digest)
    with pytest.raises(SnapshotFormatError, match="before its end record"):
        list(reader.feed(0, chunk))


def test_an_end_record_that_miscounts_is_refused() -> None:
    leaf = encode_record(0, ExportNode("bank", b"k", b"v", 1, 0))
    meta, digest, chunk = _single_chunk(leaf + b"\x00\x02", 1)
    with pytest.raises(SnapshotFormatError, match="counts 2 nodes"):
        list(StreamReader(meta, digest).feed(0, chunk))


def test_unknown_record_kinds_and_stores_are_refused() -> None:
    meta, digest, chunk = _single_chunk(b"\x07", 0)
    with pytest.raises(SnapshotFormatError, match="unknown record kind 0x07"):
        list(StreamReader(meta, digest).feed(0, chunk))
    meta, digest, chunk = _single_chunk(b"\x01\x05\x00\x01\x01k\x01v\x00\x01", 1)
    with pytest.raises(SnapshotFormatError, match="names store 5"):
        list(StreamReader(meta, digest).feed(0, chunk))


def test_a_chunk_that_is_not_zlib_is_refused() -> None:
    chunk = b"not zlib at all"
    digest = hashlib.sha256(chunk).digest()
    meta = Metadata(b"\0" * 32, "c", 1, ("bank",), (digest,), 0)
    with pytest.raises(SnapshotFormatError, match="does not decompress"):
        list(StreamReader(meta, digest).feed(0, chunk))


def test_a_highly_compressed_chunk_is_decompressed_in_bounded_steps() -> None:
    # 64 MB of zero bytes in a small chunk: records of store 0 with ... are refused early, without
    # expanding everything at once (the first 1 MB step already fails on a zero-length key)
    chunk = zlib.compress(b"\x01\x00\x00\x01" + b"\x00" * (64 << 20))
    digest = hashlib.sha256(chunk).digest()
    meta = Metadata(b"\0" * 32, "c", 1, ("bank",), (digest,), 0)
    with pytest.raises(SnapshotFormatError):
        for _ in StreamReader(meta, digest).feed(0, chunk):
            pass


@pytest.mark.parametrize(
    "raw, match",
    [
        (b"{}", "not a format-1"),
        (b"not json", "not a format-1"),
        (
            b'{"app_hash":"00","chain_id":"c","chunk_hashes":[],"initial_height":1,"nodes":0,"stores":[]}',
            "64",
        ),
    ],
)
def test_malformed_metadata_is_refused(raw: bytes, match: str) -> None:
    with pytest.raises(SnapshotFormatError, match=match):
        Metadata.decode(raw)


def test_metadata_must_be_canonical() -> None:
    meta = Metadata(b"\1" * 32, "c", 1, ("bank",), (b"\2" * 32,), 3)
    assert Metadata.decode(meta.encode()) == meta
    with pytest.raises(SnapshotFormatError, match="canonical"):
        Metadata.decode(meta.encode().replace(b",", b", "))


def test_a_writer_refuses_chunks_over_10_mib() -> None:
    with pytest.raises(ValueError, match="chunk size"):
        StreamWriter(NAMES, lambda i, c: None, 10 * 1024 * 1024 + 1)
