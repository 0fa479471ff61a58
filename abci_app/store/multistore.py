"""The multistore: one tree per module store on one RocksDB, versions, atomic commit, queries, pruning.

Lifecycle per block: ``stage(branch, height)`` applies a block branch to in-memory working trees and
returns the app hash (persisting nothing, replacing anything staged before); ``commit(meta)`` writes the
staged version's new nodes, orphan records, commit info, latest-version record and the app's metadata in
one RocksDB write batch. Reads (branches, queries) only ever see committed versions.

This module decides which versions exist and what a commit holds; :mod:`.nodedb` knows how each record
is keyed and builds the write batches (node writes, rollback, pruning).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from .branch import Branch, GasObserver, VersionView
from .encoding import read_uvarint, uvarint
from .errors import CorruptNodeError, StoreError, VersionNotFoundError
from .export import ExportNode, KVItem, trees_from_kv, trees_from_nodes
from .importer import StreamingImport
from .limits import MAX_CACHED_INFOS, MAX_CACHED_VIEWS, StoreLimits
from .node import HASH_LEN, Node
from .nodedb import NodeDB, uncached_loader
from .proofs import IAVL_OP, SIMPLE_OP, ProofOp, app_hash_of, store_root_proof, tree_proof
from .tree import Loader, MutableTree, root_hash
from .tree import get as tree_get
from .versions import RetainedVersions


@dataclass(frozen=True)
class QueryResult:
    """Answer of :meth:`MultiStore.query`."""

    value: bytes | None
    version: int
    proof_ops: list[ProofOp] = field(default_factory=list)


@dataclass(frozen=True)
class CommitResult:
    """Version and app hash written by :meth:`MultiStore.commit`."""

    version: int
    app_hash: bytes


@dataclass(frozen=True)
class StoreRoot:
    """One store's root in a commit info: node key (``b""`` for an empty tree) and root hash."""

    nk: bytes
    hash: bytes

    @classmethod
    def of(cls, root: Node | None) -> StoreRoot:
        """The record of a committed (node-keyed, hashed) root."""
        return cls(b"" if root is None else root.nk or b"", root_hash(root))


@dataclass(frozen=True)
class CommitInfo:
    """What ``V<version>`` holds: the app hash and every store's root."""

    app_hash: bytes
    roots: dict[str, StoreRoot]

    @staticmethod
    def app_hash_over(roots: Mapping[str, Node | None]) -> bytes:
        """The app hash of a version whose stores have these hashed root nodes (``None`` = empty store).

        The only place the app hash is computed (staging, import and the empty store all call it)."""
        return app_hash_of([(name, root_hash(root)) for name, root in roots.items()])

    def encode(self) -> bytes:
        """``app_hash || uvarint(n) || (uvarint(len name) name uvarint(len nk) nk root_hash)*``."""
        parts = [self.app_hash, uvarint(len(self.roots))]
        for name in sorted(self.roots):
            raw = name.encode()
            root = self.roots[name]
            parts += [uvarint(len(raw)), raw, uvarint(len(root.nk)), root.nk, root.hash]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> CommitInfo:
        """Inverse of :meth:`encode`; :class:`CorruptNodeError` when malformed."""
        try:
            app_hash = data[:HASH_LEN]
            count, pos = read_uvarint(data, HASH_LEN)
            roots = {}
            for _ in range(count):
                n, pos = read_uvarint(data, pos)
                name = data[pos : pos + n].decode()
                m, pos = read_uvarint(data, pos + n)
                nk = data[pos : pos + m]
                pos += m
                roots[name] = StoreRoot(nk, data[pos : pos + HASH_LEN])
                pos += HASH_LEN
            if pos != len(data) or len(app_hash) != HASH_LEN:
                raise ValueError("length mismatch")
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorruptNodeError(f"commit info cannot be decoded: {exc}") from exc
        return cls(app_hash, roots)


@dataclass
class _Staged:
    version: int
    trees: dict[str, MutableTree]
    app_hash: bytes

    @classmethod
    def over(cls, version: int, trees: dict[str, MutableTree]) -> _Staged:
        """Hash ``trees`` (working trees of ``version``) and what the version's app hash would be."""
        for tree in trees.values():
            tree.hash()
        return cls(version, trees, CommitInfo.app_hash_over({n: t.root for n, t in trees.items()}))


def _check_new_version(version: int) -> None:
    if not 0 < version < 1 << 63:  # heights are int64 on the wire; the key encoding is 8 bytes
        raise StoreError(f"version {version} cannot be committed: versions are heights, 1 to 2^63-1")


class MultiStore:
    """All module stores of the chain on one RocksDB database."""

    def __init__(self, ndb: NodeDB) -> None:
        """Use :meth:`open`; this wires an already opened, format-checked node database."""
        self._ndb = ndb
        self._closed = False
        self.store_names: tuple[str, ...] = ndb.store_names
        self._loaders = {name: ndb.loader(name) for name in self.store_names}
        self._staged: _Staged | None = None
        self._views: dict[int, VersionView] = {}
        self._infos: dict[int, CommitInfo] = {}
        self._held: dict[int, int] = {}  # version -> readers holding it through pruning
        self._load_latest()

    @classmethod
    def open(
        cls, path: str, store_names: Sequence[str], sync: bool = True, limits: StoreLimits | None = None
    ) -> MultiStore:
        """Create or reopen the database at ``path``; stores new to it start empty.

        Raises :class:`UnknownFormatError` for a database in another format. ``sync=False`` skips the
        fsync of each commit (a kill -9 is still safe; a power cut may lose the last commits).
        ``limits`` bound its caches (default :class:`StoreLimits`).
        """
        ndb = NodeDB.open(path, store_names, sync, limits)
        try:
            return cls(ndb)
        except BaseException:
            ndb.close()
            raise

    # ----------------------------------------------------------------- versions

    def _load_latest(self) -> None:
        """(Re)load the latest committed version and the list of retained versions from disk."""
        self._ndb.clear_cache()
        self._views.clear()
        self._infos.clear()
        self._staged = None
        self.last_version = self._ndb.latest_version()
        self._versions = RetainedVersions(self._ndb.iter_versions())
        roots: dict[str, Node | None] = {name: None for name in self.store_names}
        if self.last_version:
            info = self._info(self.last_version)
            unknown = sorted(set(info.roots) - set(self.store_names))
            if unknown:
                raise StoreError(f"database has stores {unknown} that were not named when opening it")
            for name, root in info.roots.items():
                roots[name] = self._ndb.get(name, root.nk) if root.nk else None
        self._roots = roots
        self.last_app_hash = CommitInfo.app_hash_over(roots)

    def _info(self, version: int) -> CommitInfo:
        if not 0 < version < 1 << 63:  # heights are int64 on the wire; the key encoding is 8 bytes
            raise VersionNotFoundError(f"version {version} is not a committed height (must be 1 to 2^63-1)")
        info = self._infos.get(version)
        if info is None:
            raw = self._ndb.commit_info(version)
            if raw is None:
                raise VersionNotFoundError(
                    f"version {version} is not retained (retained: {self._describe_versions()})"
                )
            info = CommitInfo.decode(raw)
            self._remember_info(version, info)
        return info

    def _remember_info(self, version: int, info: CommitInfo) -> None:
        """Cache ``info``; the cache is bounded (the database has every retained version's)."""
        self._infos[version] = info
        while len(self._infos) > MAX_CACHED_INFOS:
            self._infos.pop(next(iter(self._infos)))

    def _remember_view(self, version: int, view: VersionView) -> None:
        """Cache ``view``; at most MAX_CACHED_VIEWS, never evicting the latest version's.

        A view holds its version's tree roots, and so every node of that version: an unbounded cache
        would keep the whole history in memory.
        """
        self._views[version] = view
        while len(self._views) > MAX_CACHED_VIEWS:
            self._views.pop(next(k for k in self._views if k != self.last_version))

    def _describe_versions(self) -> str:
        v = self._versions
        if not v:
            return "none"
        return f"{v.first}..{v.last} ({len(v)} versions)" if len(v) > 3 else ", ".join(map(str, v))

    def versions(self) -> list[int]:
        """Retained versions, ascending."""
        return list(self._versions)

    def view(self, version: int | None = None) -> VersionView:
        """Read-only trees of a committed version (latest by default)."""
        if version is None or version == self.last_version:
            version = self.last_version
            view = self._views.get(version)
            if view is None:
                view = VersionView(version, {n: (r, self._loaders[n]) for n, r in self._roots.items()})
                self._remember_view(version, view)
            return view
        view = self._views.get(version)
        if view is None:
            info = self._info(version)
            loaded: dict[str, tuple[Node | None, Loader]] = {}
            for name in self.store_names:
                root = info.roots.get(name)
                node = self._ndb.get(name, root.nk) if root and root.nk else None
                loaded[name] = (node, self._loaders[name])
            view = VersionView(version, loaded)
            self._remember_view(version, view)
        return view

    def branch(self, version: int | None = None, gas: GasObserver | None = None) -> Branch:
        """A write set over a committed version (latest by default)."""
        return Branch(self.view(version), gas)

    # ----------------------------------------------------------------- stage / commit

    def stage(self, branch: Branch, version: int) -> bytes:
        """Apply top-level ``branch`` (over the latest version) to working trees as ``version``.

        Returns the app hash the version would have; persists nothing; replaces any earlier staging.
        """
        self._staged = None
        if version <= self.last_version:
            raise StoreError(f"cannot stage version {version}: last committed version is {self.last_version}")
        if branch.parent is not self.view():
            raise StoreError("stage() needs a top-level branch over the latest committed version")
        changes = branch.changes()
        trees = {}
        for name in self.store_names:
            tree = MutableTree(self._roots[name], version, self._loaders[name])
            for key, value in changes.get(name, {}).items():
                if value is None:
                    tree.remove(key)
                else:
                    tree.set(key, value)
            trees[name] = tree
        self._staged = _Staged.over(version, trees)
        return self._staged.app_hash

    def commit(self, meta: Mapping[bytes, bytes] | None = None) -> CommitResult:
        """Persist the staged version and ``meta`` in one write batch; StoreError if nothing is staged."""
        staged = self._staged
        if staged is None:
            raise StoreError("commit() without a staged version: call stage() first")
        self._staged = None
        try:
            self._write_version(staged, meta or {})
        except BaseException:
            self._load_latest()  # node keys may have been assigned in memory; start again from disk
            raise
        self.last_version = staged.version
        self.last_app_hash = staged.app_hash
        self._versions.append(staged.version)
        self._roots = {name: tree.root for name, tree in staged.trees.items()}
        return CommitResult(staged.version, staged.app_hash)

    def _write_version(self, staged: _Staged, meta: Mapping[bytes, bytes]) -> None:
        batch = self._ndb.batch()
        for name, tree in staged.trees.items():
            self._ndb.save_tree(batch, name, tree, self.last_version)
        info = CommitInfo(staged.app_hash, {n: StoreRoot.of(t.root) for n, t in staged.trees.items()})
        self._ndb.save_version(batch, staged.version, info.encode(), meta)
        self._ndb.write(batch)
        self._remember_info(staged.version, info)

    def commit_imported(
        self, version: int, roots: Mapping[str, Node | None], meta: Mapping[bytes, bytes] | None = None
    ) -> CommitResult:
        """Commit trees built in memory (an import) as ``version``, the first version of this database.

        ``roots`` maps store names to the roots of unpersisted trees (``None`` or a missing name: empty
        store), as :mod:`.export`'s builders return them. Raises :class:`StoreError` if anything is
        committed or staged already, for a version outside 1..2^63-1, or for a store this multistore
        was not opened with.
        """
        self._require_empty("commit_imported")
        _check_new_version(version)
        unknown = sorted(set(roots) - set(self.store_names))
        if unknown:
            raise StoreError(
                f"commit_imported: trees of stores {unknown}, which this multistore was not opened with: "
                "open it with those store names too"
            )
        trees = {}
        for name in self.store_names:
            root = roots.get(name)
            if root is not None and root.nk is not None:
                raise StoreError(f"commit_imported: store {name!r}'s root is already persisted")
            trees[name] = MutableTree(root, version, self._loaders[name])
        self._staged = _Staged.over(version, trees)
        return self.commit(meta)

    def stream_import(self, version: int) -> StreamingImport:
        """Start importing a node stream as ``version`` into this empty database, record by record.

        Leftovers of an import that never committed (a crash) are wiped first. Raises
        :class:`StoreError` when the database holds versions or ``version`` is out of range.
        """
        self._require_empty("stream_import")
        _check_new_version(version)
        self.wipe()
        return StreamingImport(self._ndb, version, self._commit_streamed)

    def _commit_streamed(
        self, version: int, roots: Mapping[str, Node | None], meta: Mapping[bytes, bytes]
    ) -> bytes:
        """Write the commit info of a streamed import whose nodes are all written; reload; app hash."""
        self._require_empty("stream_import")
        info = CommitInfo(
            CommitInfo.app_hash_over(roots), {n: StoreRoot.of(roots.get(n)) for n in self.store_names}
        )
        batch = self._ndb.batch()
        self._ndb.save_version(batch, version, info.encode(), meta)
        self._ndb.write(batch)
        self._load_latest()
        return info.app_hash

    def wipe(self) -> None:
        """Delete every version, node and orphan record (metadata stays): an empty database again."""
        batch = self._ndb.batch()
        self._ndb.delete_versions_above(batch, 0)
        self._ndb.write(batch)
        self._load_latest()

    def hold(self, version: int) -> None:
        """Keep retained ``version`` through pruning until :meth:`release` (a snapshot is reading it).

        Holds nest: a version held twice needs two releases."""
        if version not in self._versions:
            raise VersionNotFoundError(
                f"cannot hold version {version}: not retained ({self._describe_versions()})"
            )
        self._held[version] = self._held.get(version, 0) + 1

    def release(self, version: int) -> None:
        """Undo one :meth:`hold`; the next prune may then delete the version."""
        count = self._held.get(version, 0)
        if count <= 1:
            self._held.pop(version, None)
        else:
            self._held[version] = count - 1

    def held_versions(self) -> list[int]:
        """Versions pruning must keep because a reader holds them, ascending."""
        return sorted(self._held)

    @property
    def db_path(self) -> str:
        """The directory of the RocksDB database (empty when not opened from a path)."""
        return self._ndb.path

    def raw_loader(self, store: str) -> Loader:
        """A loader of ``store``'s nodes that bypasses (and never fills) the node cache.

        For a reader on another thread walking a whole held version (a snapshot being written): it
        neither evicts the block path's cached nodes nor races the cache's bookkeeping."""
        return uncached_loader(self._ndb.db, store)

    def root_nodes(self, version: int) -> dict[str, Node | None]:
        """Each store's root node at retained ``version`` (``None``: empty store)."""
        return {name: root for name, (root, _) in self.view(version).roots.items()}

    def _require_empty(self, what: str) -> None:
        if self.last_version or self._versions:
            raise StoreError(
                f"{what} needs an empty database; this one has versions {self._describe_versions()}"
            )
        if self._staged is not None:
            raise StoreError(f"{what} needs an empty database; version {self._staged.version} is staged")

    def get_meta(self, key: bytes) -> bytes | None:
        """Application metadata ``key`` as of the last commit."""
        return self._ndb.get_meta(key)

    # ----------------------------------------------------------------- queries

    def query(self, store: str, key: bytes, version: int | None = None, prove: bool = False) -> QueryResult:
        """Committed value of ``key`` in ``store`` at ``version`` (latest by default), with proof ops."""
        if store not in self.store_names:
            raise StoreError(f"unknown store {store!r}")
        if version is None or version == 0:
            version = self.last_version
        if version and version not in self._versions:
            raise VersionNotFoundError(f"version {version} is not retained ({self._describe_versions()})")
        root, load = self.view(version).roots[store]
        value = tree_get(root, key, load)
        ops: list[ProofOp] = []
        if prove:
            if version == 0:
                raise VersionNotFoundError("nothing is committed yet: no proof is possible")
            info = self._info(version)
            if store not in info.roots:
                raise StoreError(f"store {store!r} did not exist at version {version}")
            pairs = [(n, r.hash) for n, r in info.roots.items()]
            ops = [
                ProofOp(IAVL_OP, key, tree_proof(root, key, load).SerializeToString()),
                ProofOp(SIMPLE_OP, store.encode(), store_root_proof(pairs, store).SerializeToString()),
            ]
        return QueryResult(value, version, ops)

    def app_hash(self, version: int) -> bytes:
        """App hash of a retained version."""
        return self._info(version).app_hash

    # ----------------------------------------------------------------- rollback / prune

    def rollback(self, version: int) -> None:
        """Delete every version above ``version`` (a retained version, or 0 to empty the store).

        Application metadata (``get_meta``) is not versioned and is left as it is."""
        if version == self.last_version:
            self._staged = None
            return
        if version != 0 and version not in self._versions:
            raise VersionNotFoundError(
                f"cannot roll back to {version}: not retained ({self._describe_versions()})"
            )
        batch = self._ndb.batch()
        self._ndb.delete_versions_above(batch, version)
        self._ndb.write(batch)
        self._load_latest()

    def prune(self, keep_recent: int, keep_every: int = 0) -> list[int]:
        """Delete old versions, keeping the ``keep_recent`` most recent (at least the latest) and every
        multiple of ``keep_every`` (if > 0). Returns the deleted versions. Reads only the orphan
        records of the deleted versions, never the whole database."""
        latest = self.last_version
        cutoff = latest - keep_recent  # versions above it are recent
        doomed: list[int] = []
        kept_below: int | None = None  # the newest kept version below the one being judged
        batch = self._ndb.batch()
        for v in self._versions.up_to(cutoff):
            if v == latest or (keep_every > 0 and v % keep_every == 0) or v in self._held:
                kept_below = v
                continue
            self._ndb.delete_version(batch, v, kept_below)
            doomed.append(v)
        if not doomed:
            return []
        self._ndb.write(batch)
        for v in doomed:
            self._versions.remove(v)
            self._views.pop(v, None)
            self._infos.pop(v, None)
        return doomed

    # ----------------------------------------------------------------- export / import / close

    def export(self, version: int | None = None) -> Iterator[KVItem]:
        """``(store, key, value)`` of a committed version, by store name then key."""
        view = self.view(version)
        for name in self.store_names:
            for key, value in view.iterate(name, None, None, False):
                yield name, key, value

    @classmethod
    def import_nodes(
        cls,
        path: str,
        store_names: Sequence[str],
        version: int,
        nodes: Iterable[ExportNode],
        sync: bool = True,
    ) -> MultiStore:
        """A new database at ``path`` whose version ``version`` is the exported trees, rebuilt exactly.

        ``nodes`` is a node stream (:func:`.export.export_nodes`): the result has the exporter's root
        hashes and app hash when ``version`` is the exported version. Raises
        :class:`~.errors.InvalidImportError` for records that do not form valid trees or name a store
        not in ``store_names``, :class:`StoreError` when ``path`` already holds versions.
        """
        return cls._import(
            path, store_names, version, lambda names: trees_from_nodes(names, version, nodes), sync
        )

    @classmethod
    def import_kv(
        cls, path: str, store_names: Sequence[str], version: int, items: Iterable[KVItem], sync: bool = True
    ) -> MultiStore:
        """A new database at ``path`` whose version ``version`` holds ``(store, key, value)`` ``items``.

        The keys are inserted in order into empty trees, as one block writing them would: every
        importer of the same stream gets the same app hash, in general not the exporter's (see
        :mod:`.export`). Raises :class:`~.errors.InvalidImportError` for keys of a store that are not
        strictly ascending, invalid keys or values, or a store not in ``store_names``;
        :class:`StoreError` when ``path`` already holds versions.
        """
        return cls._import(
            path, store_names, version, lambda names: trees_from_kv(names, version, items), sync
        )

    @classmethod
    def _import(
        cls,
        path: str,
        store_names: Sequence[str],
        version: int,
        build: Callable[[tuple[str, ...]], Mapping[str, Node | None]],
        sync: bool,
    ) -> MultiStore:
        _check_new_version(version)
        ms = cls.open(path, store_names, sync)
        try:
            ms._require_empty(f"an import into {path}")  # before reading a possibly long stream
            ms.commit_imported(version, build(ms.store_names))
        except BaseException:
            ms.close()
            raise
        return ms

    def memory(self) -> dict[str, int]:
        """What the store's caches hold now, with their bounds (``*_bound``); see ``limits.py``.

        Node caches count nodes, RocksDB's buffers and cache bytes; ``version_runs`` is what the
        list of retained versions grows with (one per run of consecutive versions)."""
        return {
            **self._ndb.memory(),
            "views": len(self._views),
            "views_bound": MAX_CACHED_VIEWS,
            "commit_infos": len(self._infos),
            "commit_infos_bound": MAX_CACHED_INFOS,
            "version_runs": self._versions.runs,
        }

    def node_count(self) -> int:
        """Number of stored tree nodes (for tests and tooling; scans the node key range)."""
        return self._ndb.node_count()

    def orphan_count(self) -> int:
        """Number of orphan records (for tests and tooling)."""
        return self._ndb.orphan_count()

    def reachable_node_keys(self, version: int | None = None) -> set[bytes]:
        """Database keys of every node reachable from a version's roots (tests and tooling)."""
        return self._ndb.reachable_node_keys({n: r for n, (r, _) in self.view(version).roots.items()})

    def stored_node_keys(self) -> set[bytes]:
        """Database keys of every stored node (tests and tooling)."""
        return self._ndb.stored_node_keys()

    def close(self) -> None:
        """Close the database (idempotent); the object is unusable afterwards."""
        self._staged = None
        self._views.clear()
        if not self._closed:
            self._closed = True
            self._ndb.close()
