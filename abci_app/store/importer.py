"""Streaming import of a node stream straight into the database (state-sync restore).

:class:`StreamingImport` takes :class:`~.export.ExportNode` records one at a time, as chunks of a
snapshot arrive, and writes each node the moment its subtree is complete (post-order), then forgets its
children and, for a leaf, its value. Memory holds the write batch being filled (at most
:data:`FLUSH_EVERY` nodes and :data:`FLUSH_BYTES` bytes, plus one node), RocksDB's in-memory tables
(flushed to disk every :data:`MEMTABLE_BYTES` written) and the subtrees not yet joined, each a node
key, a hash and two keys. The builder refuses a stream as soon as those could not be the pending
subtrees of a valid tree (at most two per tree level), so whatever a peer sends, memory is bounded by
the tree's depth, never by the stream's length. Node keys are the import version and post-order
nonces from 1, exactly what :meth:`MultiStore.commit_imported` assigns, so both imports of one stream
give the same database.

Nothing is visible until :meth:`StreamingImport.commit` writes the commit info and the latest-version
record; :meth:`StreamingImport.abort` (or a crash, then :meth:`MultiStore.wipe`) deletes the nodes
written so far.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .errors import StoreError
from .export import ExportNode, NodeStreamBuilder
from .node import Node, encode, inner_hash, leaf_hash
from .nodedb import NodeDB, node_db_key, node_key, store_prefix

FLUSH_EVERY = 20_000
"""Most nodes per write batch (the final batch carries the commit info)."""

FLUSH_BYTES = 8 * 1024 * 1024
"""Most bytes a write batch gathers before it is written: leaves of 4 MiB values (or of compressible
ones a hostile peer sends) would otherwise fill a batch of FLUSH_EVERY nodes with gigabytes."""

MEMTABLE_BYTES = 8 * 1024 * 1024
"""Bytes written between flushes of RocksDB's in-memory tables to disk: without them the import
would also hold RocksDB's own write buffers (two of 64 MiB by default, more than the rest of a
restore), which a stream of 4 MiB values fills at once. A flush writes one small table file; the
honest 1,000,000-key restore makes about 30 of them."""


class StreamingImport:
    """One import of a node stream at ``version`` into an empty database (use MultiStore.stream_import)."""

    def __init__(
        self,
        ndb: NodeDB,
        version: int,
        finish: Callable[[int, Mapping[str, Node | None], Mapping[bytes, bytes]], bytes],
    ) -> None:
        self._ndb = ndb
        self.version = version
        self._finish = finish
        self._builder = NodeStreamBuilder(ndb.store_names, version, self._persist, stores_in_order=True)
        self._nonces = {name: 0 for name in ndb.store_names}
        self._prefixes = {name: store_prefix(name) for name in ndb.store_names}
        self._batch = ndb.batch()
        self._pending = 0
        self._pending_bytes = 0
        self._unflushed_bytes = 0
        self.done = False

    @property
    def count(self) -> int:
        """Records taken so far."""
        return self._builder.count

    @property
    def pending_subtrees(self) -> int:
        """Subtrees held in memory, waiting for their parent (bounded by the trees' depth)."""
        return self._builder.pending

    def add(self, rec: ExportNode) -> None:
        """Take the next record; :class:`~.errors.InvalidImportError` if it cannot follow the others."""
        if self.done:
            raise StoreError("this import is finished; start another one")
        self._builder.add(rec)

    def _persist(self, store: str, node: Node) -> None:
        if node.height == 0:
            assert node.value is not None
            node.hash = leaf_hash(node.key, node.value, node.version)
        else:
            left, right = node.left, node.right
            assert left is not None and right is not None
            node.lnk, node.lhash, node.rnk, node.rhash = left.nk, left.hash, right.nk, right.hash
            assert node.lhash is not None and node.rhash is not None
            node.hash = inner_hash(node.height, node.size, node.version, node.lhash, node.rhash)
            node.left = node.right = None  # written: only the node keys are needed from now on
        self._nonces[store] += 1
        node.nk = node_key(self.version, self._nonces[store])
        data = encode(node)
        node.value = None  # written: the parent needs only the hash and node key
        self._batch.put(node_db_key(self._prefixes[store], node.nk), data)
        self._pending += 1
        self._pending_bytes += len(data)
        if self._pending >= FLUSH_EVERY or self._pending_bytes >= FLUSH_BYTES:
            self._write_batch()

    def _write_batch(self) -> None:
        self._ndb.write(self._batch)
        self._batch = self._ndb.batch()
        self._unflushed_bytes += self._pending_bytes
        self._pending = self._pending_bytes = 0
        if self._unflushed_bytes >= MEMTABLE_BYTES:
            self._ndb.flush_memtables()
            self._unflushed_bytes = 0

    def commit(self, meta: Mapping[bytes, bytes]) -> bytes:
        """Check that every store's records formed one tree, write the rest and the version; app hash.

        Raises :class:`~.errors.InvalidImportError` for an incomplete stream (nothing is committed then;
        call :meth:`abort`).
        """
        roots = self._builder.roots()
        self._ndb.write(self._batch)
        self._batch = self._ndb.batch()
        self.done = True
        return self._finish(self.version, roots, meta)

    def abort(self) -> None:
        """Forget the import; the caller wipes what was written (``MultiStore.wipe``)."""
        self.done = True
        self._batch = self._ndb.batch()
