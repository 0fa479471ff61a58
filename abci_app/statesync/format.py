"""Snapshot format 1: the node stream of every store, zlib-compressed, cut into chunks.

Specified in ``docs/statesync.md``. The *stream* (before compression) is a sequence of records::

    node  = 0x01 uvarint(store index) uvarint(height) uvarint(version) uvarint(len key) key
            [uvarint(len value) value]        (the value only for a leaf, height 0)
    end   = 0x00 uvarint(number of node records)

Store index is the position of the store's name in the metadata's ``stores`` list; each store's nodes
come in post-order (:func:`abci_app.store.export.export_nodes`), stores in sorted name order. The
compressed stream is cut into chunks of :data:`MAX_CHUNK_SIZE` bytes (the last one shorter). The
metadata lists every chunk's SHA-256; the snapshot hash is the SHA-256 of the whole compressed stream.

:class:`StreamWriter` turns records into chunks; :class:`StreamReader` takes chunks in order and
yields the records back, never holding more than one chunk and one bounded piece of decompressed
output, and refusing a record higher than a tree of the metadata's node count can be
(:func:`max_tree_height`). Every malformed input raises :class:`SnapshotFormatError` saying what is
wrong.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from abci_app.store.encoding import MAX_KEY_LEN, MAX_VALUE_LEN, uvarint
from abci_app.store.export import ExportNode

FORMAT = 1
"""The only snapshot format this code writes and reads."""

MAX_CHUNK_SIZE = 10 * 1024 * 1024
"""Largest chunk (bytes): below CometBFT's 16 MB p2p message limit for the snapshot channel."""

MAX_CHUNKS = 100_000
"""Most chunks a snapshot may have (1 TB of compressed state); more is bad metadata."""

MAX_METADATA_SIZE = 8 * 1024 * 1024
"""Largest metadata accepted (the chunk hashes of MAX_CHUNKS chunks fit)."""

COMPRESSION_LEVEL = 6
DECOMPRESS_STEP = 1 << 20
"""Decompressed bytes produced per step: a hostile chunk cannot expand into unbounded memory."""

_NODE = 0x01
_END = 0x00
MAX_TREE_HEIGHT = 255
MAX_MAX_VERSION = (1 << 63) - 1


def min_tree_nodes(height: int) -> int:
    """Fewest nodes of an IAVL tree of ``height``: every inner node has two children whose heights
    differ by at most one, so N(0) = 1, N(1) = 3, N(h) = N(h - 1) + N(h - 2) + 1 (Fibonacci-like)."""
    low, high = 1, 3
    if height == 0:
        return low
    for _ in range(height - 1):
        low, high = high, high + low + 1
    return high


def max_tree_height(nodes: int) -> int:
    """Greatest height of an IAVL tree of at most ``nodes`` nodes (0 for fewer than 3)."""
    height = 0
    while min_tree_nodes(height + 1) <= nodes:
        height += 1
    return height


class SnapshotFormatError(ValueError):
    """A snapshot stream, chunk or metadata that cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class Metadata:
    """What a snapshot's ``metadata`` bytes hold (canonical JSON, see :meth:`encode`)."""

    app_hash: bytes
    chain_id: str
    initial_height: int
    stores: tuple[str, ...]
    chunk_hashes: tuple[bytes, ...]
    nodes: int

    def encode(self) -> bytes:
        """Canonical JSON: sorted keys, no spaces, hashes in lowercase hex."""
        return json.dumps(
            {
                "app_hash": self.app_hash.hex(),
                "chain_id": self.chain_id,
                "chunk_hashes": [h.hex() for h in self.chunk_hashes],
                "initial_height": self.initial_height,
                "nodes": self.nodes,
                "stores": list(self.stores),
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Metadata:
        """Inverse of :meth:`encode`; :class:`SnapshotFormatError` for anything else (non-canonical too)."""
        if len(raw) > MAX_METADATA_SIZE:
            raise SnapshotFormatError(f"metadata is {len(raw)} bytes; at most {MAX_METADATA_SIZE}")
        try:
            data = json.loads(raw)
            meta = cls(
                app_hash=_hash32(data["app_hash"]),
                chain_id=_text(data["chain_id"], 50),
                initial_height=_count(data["initial_height"], 1),
                stores=tuple(_text(s, 255) for s in _list(data["stores"])),
                chunk_hashes=tuple(_hash32(h) for h in _list(data["chunk_hashes"])),
                nodes=_count(data["nodes"], 0),
            )
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise SnapshotFormatError(f"metadata is not a format-{FORMAT} snapshot's: {exc}") from exc
        if meta.encode() != raw:
            raise SnapshotFormatError("metadata is not in canonical form (sorted keys, no spaces, no extras)")
        if list(meta.stores) != sorted(set(meta.stores)):
            raise SnapshotFormatError("metadata stores must be distinct and sorted")
        if not 0 < len(meta.chunk_hashes) <= MAX_CHUNKS:
            raise SnapshotFormatError(f"metadata lists {len(meta.chunk_hashes)} chunks; 1 to {MAX_CHUNKS}")
        return meta


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value


def _text(value: object, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"expected a string of at most {limit} characters")
    return value


def _count(value: object, low: int) -> int:
    if type(value) is not int or not low <= value <= MAX_MAX_VERSION:
        raise ValueError(f"expected a whole number from {low} to 2^63-1")
    return value


def _hash32(value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or value != value.lower():
        raise ValueError("expected 64 lowercase hex digits")
    return bytes.fromhex(value)


def encode_record(index: int, rec: ExportNode) -> bytes:
    """One node record of the stream."""
    parts = [bytes((_NODE,)), uvarint(index), uvarint(rec.height), uvarint(rec.version)]
    parts += [uvarint(len(rec.key)), rec.key]
    if rec.height == 0:
        value = rec.value or b""
        parts += [uvarint(len(value)), value]
    return b"".join(parts)


# ----------------------------------------------------------------- writing


@dataclass(frozen=True)
class WrittenStream:
    """What :meth:`StreamWriter.finish` reports: chunk hashes, the snapshot hash and the sizes."""

    chunk_hashes: tuple[bytes, ...]
    hash: bytes
    nodes: int
    raw_size: int
    size: int


class StreamWriter:
    """Compresses records and hands out chunks of exactly ``chunk_size`` bytes (the last shorter)."""

    def __init__(
        self, stores: Sequence[str], emit: Callable[[int, bytes], None], chunk_size: int = MAX_CHUNK_SIZE
    ) -> None:
        if not 0 < chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {chunk_size} must be 1 to {MAX_CHUNK_SIZE} bytes")
        self._index = {name: i for i, name in enumerate(stores)}
        self._emit = emit
        self._chunk_size = chunk_size
        self._zlib = zlib.compressobj(COMPRESSION_LEVEL)
        self._out = bytearray()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._hashes: list[bytes] = []
        self._whole = hashlib.sha256()
        self.nodes = 0
        self.raw_size = 0
        self.size = 0

    def add(self, rec: ExportNode) -> None:
        """Append one node record."""
        raw = encode_record(self._index[rec.store], rec)
        self.nodes += 1
        self._pending.append(raw)
        self._pending_size += len(raw)
        if self._pending_size >= 1 << 18:
            self._compress()

    def _compress(self, final: bool = False) -> None:
        data = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        self.raw_size += len(data)
        self._out += self._zlib.compress(data)
        if final:
            self._out += self._zlib.flush()
        while len(self._out) >= self._chunk_size or (final and self._out):
            self._cut(bytes(self._out[: self._chunk_size]))
            del self._out[: self._chunk_size]

    def _cut(self, chunk: bytes) -> None:
        self._hashes.append(hashlib.sha256(chunk).digest())
        self._whole.update(chunk)
        self.size += len(chunk)
        self._emit(len(self._hashes) - 1, chunk)

    def finish(self) -> WrittenStream:
        """Write the end record, flush the compressor, emit the last chunk; what was written."""
        self._pending.append(bytes((_END,)) + uvarint(self.nodes))
        self._compress(final=True)
        return WrittenStream(tuple(self._hashes), self._whole.digest(), self.nodes, self.raw_size, self.size)


# ----------------------------------------------------------------- reading


class _Incomplete(Exception):
    """The buffer ends inside a record: wait for the next chunk."""


class StreamReader:
    """Takes a snapshot's chunks in order, checks each against the metadata, yields its node records.

    ``feed(index, chunk)`` checks the chunk's SHA-256 before anything else (:class:`ChunkHashError`,
    state unchanged, so the same index can be fed again with a refetched chunk) and that chunks come in
    order. :meth:`finish` checks that the stream ended exactly at the end record after the last chunk
    and that the whole stream's hash is the snapshot hash.
    """

    def __init__(self, meta: Metadata, snapshot_hash: bytes) -> None:
        self.meta = meta
        self._snapshot_hash = snapshot_hash
        self._zlib = zlib.decompressobj()
        self._buf = bytearray()
        self._whole = hashlib.sha256()
        self.next_index = 0
        self.nodes = 0
        self._ended = False
        self._max_height = max_tree_height(meta.nodes)

    @property
    def chunks(self) -> int:
        """Number of chunks of the snapshot."""
        return len(self.meta.chunk_hashes)

    def check_chunk(self, index: int, chunk: bytes) -> None:
        """:class:`ChunkHashError` unless ``chunk`` is chunk ``index`` as the metadata lists it."""
        if not 0 <= index < self.chunks:
            raise SnapshotFormatError(f"chunk {index} does not exist: the snapshot has {self.chunks}")
        if len(chunk) > MAX_CHUNK_SIZE or hashlib.sha256(chunk).digest() != self.meta.chunk_hashes[index]:
            raise ChunkHashError(f"chunk {index}: its SHA-256 is not the one the snapshot metadata lists")

    def feed(self, index: int, chunk: bytes) -> Iterator[ExportNode]:
        """Check chunk ``index`` and yield the records it completes (lazily: consume them all)."""
        self.check_chunk(index, chunk)
        if index != self.next_index:
            raise SnapshotFormatError(f"chunk {index} arrived, but chunk {self.next_index} is next")
        self.next_index += 1
        self._whole.update(chunk)
        data = chunk
        while data or self._zlib.unconsumed_tail:
            try:
                out = self._zlib.decompress(data or self._zlib.unconsumed_tail, DECOMPRESS_STEP)
            except zlib.error as exc:
                raise SnapshotFormatError(f"chunk {index} does not decompress: {exc}") from exc
            data = b""
            self._buf += out
            yield from self._records()
            if self._zlib.eof and (self._zlib.unused_data or not self._ended):
                raise SnapshotFormatError(
                    "the compressed stream ends before its end record or has extra bytes"
                )
        if self.next_index == self.chunks and not self._zlib.eof:
            raise SnapshotFormatError("the last chunk ends inside the compressed stream: it is truncated")

    def _records(self) -> Iterator[ExportNode]:
        pos = 0
        buf = self._buf
        stores = self.meta.stores
        try:
            while pos < len(buf):
                if self._ended:
                    raise SnapshotFormatError("records follow the end record")
                rec, pos = _parse_record(buf, pos, stores)
                if isinstance(rec, int):
                    self._check_end(rec)
                    continue
                if rec.height > self._max_height:
                    raise SnapshotFormatError(
                        f"a record has height {rec.height}; a tree that high has at least "
                        f"{min_tree_nodes(rec.height):,} nodes, and the metadata counts {self.meta.nodes:,}"
                    )
                self.nodes += 1
                yield rec
        except _Incomplete:
            pass
        finally:
            del buf[:pos]

    def _check_end(self, count: int) -> None:
        if count != self.nodes or count != self.meta.nodes:
            raise SnapshotFormatError(
                f"the end record counts {count} nodes; the stream had {self.nodes}, the metadata says "
                f"{self.meta.nodes}"
            )
        self._ended = True

    def finish(self) -> None:
        """:class:`SnapshotFormatError` unless every chunk was fed, the stream ended and its hash matches."""
        if self.next_index != self.chunks:
            raise SnapshotFormatError(f"only {self.next_index} of {self.chunks} chunks were applied")
        if not self._ended or self._buf:
            raise SnapshotFormatError("the stream ends without its end record")
        if self._whole.digest() != self._snapshot_hash:
            raise SnapshotFormatError("the SHA-256 of the whole stream is not the snapshot hash")


class ChunkHashError(SnapshotFormatError):
    """A chunk whose SHA-256 is not the one in the metadata (refetch it from another peer)."""


def _uv(buf: bytearray, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _Incomplete
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise SnapshotFormatError("a varint of the stream overflows 64 bits")


def _take(buf: bytearray, pos: int, limit: int, what: str) -> tuple[bytes, int]:
    n, pos = _uv(buf, pos)
    if n > limit:
        raise SnapshotFormatError(f"a {what} of {n} bytes; at most {limit}")
    if pos + n > len(buf):
        raise _Incomplete
    with memoryview(buf) as view:  # one copy of a value of up to 4 MiB, not two
        return bytes(view[pos : pos + n]), pos + n


def _parse_record(buf: bytearray, pos: int, stores: Sequence[str]) -> tuple[ExportNode | int, int]:
    """One record at ``pos``: (the node, or the end record's count; next position); _Incomplete if cut."""
    kind = buf[pos]
    if kind == _END:
        return _uv(buf, pos + 1)
    if kind != _NODE:
        raise SnapshotFormatError(f"unknown record kind {kind:#04x}")
    index, p = _uv(buf, pos + 1)
    if index >= len(stores):
        raise SnapshotFormatError(f"a record names store {index}; the metadata lists {len(stores)}")
    height, p = _uv(buf, p)
    version, p = _uv(buf, p)
    if height > MAX_TREE_HEIGHT or not 0 < version <= MAX_MAX_VERSION:
        raise SnapshotFormatError(f"a record has height {height} and version {version}: out of range")
    key, p = _take(buf, p, MAX_KEY_LEN, "key")
    value = None
    if height == 0:
        value, p = _take(buf, p, MAX_VALUE_LEN, "value")
    return ExportNode(stores[index], key, value, version, height), p
