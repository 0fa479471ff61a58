"""Streaming import of a node stream straight into the database (state-sync restore).

:class:`StreamingImport` takes :class:`~.export.ExportNode` records one at a time, as chunks of a
snapshot arrive, and writes each node the moment its subtree is complete (post-order), then forgets its
children: memory holds the write batch being filled and the subtrees not yet joined (about two per tree
level), never the whole tree. Node keys are the import version and post-order nonces from 1, exactly
what :meth:`MultiStore.commit_imported` assigns, so both imports of one stream give the same database.

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
"""Nodes per write batch (bounds the batch's memory; the final batch carries the commit info)."""


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
        self._builder = NodeStreamBuilder(ndb.store_names, version, self._persist)
        self._nonces = {name: 0 for name in ndb.store_names}
        self._prefixes = {name: store_prefix(name) for name in ndb.store_names}
        self._batch = ndb.batch()
        self._pending = 0
        self.done = False

    @property
    def count(self) -> int:
        """Records taken so far."""
        return self._builder.count

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
        self._batch.put(node_db_key(self._prefixes[store], node.nk), encode(node))
        self._pending += 1
        if self._pending >= FLUSH_EVERY:
            self._ndb.write(self._batch)
            self._batch = self._ndb.batch()
            self._pending = 0

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
