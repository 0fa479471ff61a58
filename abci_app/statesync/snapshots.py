"""The node's snapshot directory: writing a snapshot of a committed version, listing, serving, pruning.

Layout under ``<home>/data/snapshots/`` (see ``docs/statesync.md``)::

    <height:020>-<format>/snapshot.json   height, format, chunks, hash (hex)
    <height:020>-<format>/metadata        the metadata bytes exactly as served
    <height:020>-<format>/chunk-<i:06>    chunk i
    .tmp-...                              a snapshot being written (never listed; removed at open)

A snapshot is written into a ``.tmp-`` directory, each file fsynced, and renamed into place in one
step, so a crash leaves either the whole snapshot or a temp directory that the next open removes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from abci_app.store import MultiStore
from abci_app.store.export import ExportNode
from abci_app.store.node import Node
from abci_app.store.tree import Loader

from .format import (
    FORMAT,
    MAX_CHUNK_SIZE,
    Metadata,
    SnapshotFormatError,
    StreamReader,
    StreamWriter,
    WrittenStream,
)

TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class SnapshotInfo:
    """One listed snapshot: what ListSnapshots reports for it."""

    height: int
    format: int
    chunks: int
    hash: bytes
    metadata: bytes

    @property
    def meta(self) -> Metadata:
        """The decoded metadata."""
        return Metadata.decode(self.metadata)


def dir_name(height: int, fmt: int) -> str:
    """Directory name of a snapshot: zero-padded height so names sort by height."""
    return f"{height:020d}-{fmt}"


class SnapshotStore:
    """The snapshots of one node home (``<home>/data/snapshots``), safe to list while one is written."""

    def __init__(self, root: Path, clean: bool = True) -> None:
        """Open (creating) ``root``; ``clean`` removes what writes interrupted by a crash left behind.

        (The node cleans at start; a snapshot writer process it started must not.)"""
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        if clean:
            for stale in root.glob(TMP_PREFIX + "*"):
                shutil.rmtree(stale, ignore_errors=True)

    def listed(self) -> list[SnapshotInfo]:
        """Every complete snapshot, newest first (unreadable directories are skipped)."""
        out = []
        for path in sorted(self.root.iterdir(), reverse=True):
            if path.name.startswith(TMP_PREFIX) or not path.is_dir():
                continue
            info = self._read(path)
            if info is not None:
                out.append(info)
        return out

    def get(self, height: int, fmt: int) -> SnapshotInfo | None:
        """The snapshot of ``height`` in ``fmt``, or None."""
        if not 0 < height < 1 << 63 or not 0 <= fmt < 1 << 32:
            return None
        return self._read(self.root / dir_name(height, fmt))

    def _read(self, path: Path) -> SnapshotInfo | None:
        try:
            head = json.loads((path / "snapshot.json").read_text())
            return SnapshotInfo(
                height=int(head["height"]),
                format=int(head["format"]),
                chunks=int(head["chunks"]),
                hash=bytes.fromhex(head["hash"]),
                metadata=(path / "metadata").read_bytes(),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load_chunk(self, height: int, fmt: int, index: int) -> bytes | None:
        """Chunk ``index`` of a listed snapshot, or None when there is no such chunk."""
        info = self.get(height, fmt)
        if info is None or not 0 <= index < info.chunks:
            return None
        try:
            return (self.root / dir_name(height, fmt) / f"chunk-{index:06d}").read_bytes()
        except OSError:
            return None

    def delete(self, height: int, fmt: int) -> None:
        """Remove a snapshot (renamed away first, so it is never listed half-deleted)."""
        path = self.root / dir_name(height, fmt)
        if path.exists():
            doomed = self.root / f"{TMP_PREFIX}deleting-{path.name}"
            path.rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def prune(self, keep_recent: int) -> list[int]:
        """Delete all but the ``keep_recent`` newest snapshots (0 keeps all); the deleted heights."""
        if keep_recent <= 0:
            return []
        doomed = self.listed()[keep_recent:]
        for info in doomed:
            self.delete(info.height, info.format)
        return [info.height for info in doomed]

    def add(self, info: SnapshotInfo, chunks: Iterator[bytes]) -> SnapshotInfo:
        """Store a snapshot received whole (``snapshots import``): checks every chunk against the metadata."""
        meta = info.meta
        if info.format != FORMAT or info.chunks != len(meta.chunk_hashes):
            raise SnapshotFormatError(
                f"format {info.format} with {info.chunks} chunks is not a valid snapshot"
            )
        tmp = self._tmp_dir(info.height)
        try:
            reader = StreamReader(meta, info.hash)
            for i, chunk in enumerate(chunks):
                for _ in reader.feed(i, chunk):
                    pass
                _write_file(tmp / f"chunk-{i:06d}", chunk)
            reader.finish()
            return self._publish(tmp, info)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _tmp_dir(self, height: int) -> Path:
        tmp = self.root / f"{TMP_PREFIX}{height}-{os.getpid()}-{id(self)}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        return tmp

    def _publish(self, tmp: Path, info: SnapshotInfo) -> SnapshotInfo:
        head = {"chunks": info.chunks, "format": info.format, "hash": info.hash.hex(), "height": info.height}
        _write_file(tmp / "metadata", info.metadata)
        _write_file(tmp / "snapshot.json", json.dumps(head, sort_keys=True).encode() + b"\n")
        final = self.root / dir_name(info.height, info.format)
        if final.exists():
            self.delete(info.height, info.format)
        os.rename(tmp, final)
        _fsync_dir(self.root)
        return info

    def write(
        self, source: SnapshotSource, chunk_size: int = MAX_CHUNK_SIZE
    ) -> tuple[SnapshotInfo, WrittenStream]:
        """Write the snapshot of ``source``; its listing and what was written.

        Safe on another thread while blocks commit, provided the caller holds the version
        (``MultiStore.hold``): ``source`` was gathered on the block thread, the nodes are read through
        cache-free loaders and no node is changed. ``source.cancelled`` stops it (SnapshotCancelled).
        """
        tmp = self._tmp_dir(source.version)
        try:

            def emit(index: int, chunk: bytes) -> None:
                _write_file(tmp / f"chunk-{index:06d}", chunk)

            writer = StreamWriter(source.stores, emit, chunk_size)
            for name in source.stores:
                for rec in walk_nodes(name, source.roots[name], source.loaders[name]):
                    writer.add(rec)
                    if writer.nodes % 4096 == 0 and source.cancelled():
                        raise SnapshotCancelled(f"the snapshot of height {source.version} was cancelled")
            written = writer.finish()
            meta = Metadata(
                app_hash=source.app_hash,
                chain_id=source.chain_id,
                initial_height=source.initial_height,
                stores=tuple(source.stores),
                chunk_hashes=written.chunk_hashes,
                nodes=written.nodes,
            )
            info = SnapshotInfo(
                source.version, FORMAT, len(written.chunk_hashes), written.hash, meta.encode()
            )
            return self._publish(tmp, info), written
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


class SnapshotCancelled(Exception):
    """A snapshot write stopped because the node is shutting down."""


@dataclass(frozen=True)
class SnapshotSource:
    """Everything a snapshot write reads, gathered on the block thread (:func:`source_of`)."""

    version: int
    stores: tuple[str, ...]
    roots: dict[str, Node | None]
    loaders: dict[str, Loader]
    app_hash: bytes
    chain_id: str
    initial_height: int
    cancelled: Callable[[], bool] = lambda: False


def source_of(
    store: MultiStore,
    version: int,
    chain_id: str,
    initial_height: int,
    cancelled: Callable[[], bool] = lambda: False,
) -> SnapshotSource:
    """The :class:`SnapshotSource` of retained ``version`` (call on the thread that commits)."""
    names = tuple(store.store_names)
    return SnapshotSource(
        version=version,
        stores=names,
        roots=store.root_nodes(version),
        loaders={name: store.raw_loader(name) for name in names},
        app_hash=store.app_hash(version),
        chain_id=chain_id,
        initial_height=initial_height,
        cancelled=cancelled,
    )


def walk_nodes(store: str, root: Node | None, load: Loader) -> Iterator[ExportNode]:
    """Every node of one committed tree in post-order, without attaching loaded children to it.

    (Unlike :func:`abci_app.store.export.export_nodes`, which attaches them: a walk of a whole version
    on another thread must neither change shared nodes nor keep the tree it loads in memory.)
    """
    if root is None:
        return
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if node.height and not expanded:
            stack.append((node, True))
            right = node.right
            if right is None:
                assert node.rnk is not None
                right = load(node.rnk)
            left = node.left
            if left is None:
                assert node.lnk is not None
                left = load(node.lnk)
            stack.append((right, False))
            stack.append((left, False))
            continue
        yield ExportNode(store, node.key, node.value, node.version, node.height)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
