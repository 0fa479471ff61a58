"""The node database: the RocksDB key layout, node reads behind a cache, node writes, rollback, pruning.

As cosmos/iavl's nodedb.go, this is the only module that knows how records are keyed: the multistore
asks it to save a version's trees and commit info, to delete versions above a height (rollback) or one
version (pruning), and to count what is stored (tooling). ``docs/store.md`` specifies the format.

Key layout (all integers big-endian so they sort numerically; ``sp`` = one length byte + store name)::

    F                         format marker, b"taskmaster-store/1"
    L                         latest committed version (8 bytes)
    V <version:8>             commit info of a retained version (store roots, app hash)
    M <meta key>              application metadata, as of the last commit
    n <sp> <nk:12>            a tree node; nk = <version it was written:8><nonce:4>
    o <sp> <to:8> <nk:12>     orphan record: node nk is reachable up to version ``to`` only
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteBatch, WriteOptions

from .encoding import be64
from .errors import CorruptNodeError, UnknownFormatError
from .limits import WRITE_BUFFERS, StoreLimits
from .node import NODE_KEY_LEN, Node, decode, encode
from .tree import Loader, MutableTree, left_child, right_child

FORMAT_KEY = b"F"
FORMAT_VALUE = b"taskmaster-store/1"
LATEST_KEY = b"L"
VERSION_PREFIX = b"V"
META_PREFIX = b"M"
NODE_PREFIX = b"n"
ORPHAN_PREFIX = b"o"
_KEY_TAIL = b"\xff" * (8 + NODE_KEY_LEN + 1)  # sorts after every <to:8><nk:12> and <nk:12> suffix


def store_prefix(name: str) -> bytes:
    """``sp``: the length-prefixed store name that namespaces a store's nodes and orphans."""
    raw = name.encode()
    if not 0 < len(raw) < 256:
        raise ValueError(f"store name {name!r} must be 1..255 bytes of UTF-8")
    return bytes((len(raw),)) + raw


def node_db_key(sp: bytes, nk: bytes) -> bytes:
    """Database key of node ``nk`` in the store with prefix ``sp``."""
    return NODE_PREFIX + sp + nk


def orphan_db_key(sp: bytes, to_version: int, nk: bytes) -> bytes:
    """Database key of the orphan record of ``nk``, last reachable at ``to_version``."""
    return ORPHAN_PREFIX + sp + be64(to_version) + nk


def version_db_key(version: int) -> bytes:
    """Database key of the commit info of ``version``."""
    return VERSION_PREFIX + be64(version)


def node_key(version: int, nonce: int) -> bytes:
    """Node key: the version that wrote the node and a per-version, per-store nonce."""
    return version.to_bytes(8, "big") + nonce.to_bytes(4, "big")


def open_rdict(path: str, limits: StoreLimits | None = None) -> Rdict:
    """Open (creating if missing) the RocksDB database at ``path`` with raw byte keys and values.

    RocksDB's memory is bounded by ``limits`` (default :class:`StoreLimits`): at most
    :data:`WRITE_BUFFERS` memtables of ``write_buffer_bytes`` and a block cache of
    ``block_cache_bytes`` that also holds the table files' index and filter blocks.
    """
    limits = limits or StoreLimits()
    opts = Options(raw_mode=True)
    opts.create_if_missing(True)
    opts.set_write_buffer_size(limits.write_buffer_bytes)
    opts.set_max_write_buffer_number(WRITE_BUFFERS)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(limits.block_cache_bytes))
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    opts.set_block_based_table_factory(table)
    return Rdict(path, options=opts)


def uncached_loader(db: Rdict, store: str) -> Loader:
    """A loader of ``store``'s nodes straight from ``db``: no cache is read or filled."""
    sp = store_prefix(store)

    def load(nk: bytes) -> Node:
        data = db.get(node_db_key(sp, nk))
        if data is None:
            raise CorruptNodeError(f"node {nk.hex()} of store {store!r} is missing")
        return decode(nk, data)

    return load


def save_new_nodes(root: Node | None, version: int, sp: bytes, out: list[tuple[bytes, bytes]]) -> None:
    """Give every unpersisted node of a hashed tree a node key and append ``(db key, bytes)`` to ``out``.

    Post-order, nonces counting from 1, so children are keyed before their parent encodes them. The
    bytes are :func:`abci_app.store.node.encode`'s; the loop is hot, so it is written out inline.
    """
    if root is None or root.nk is not None:
        return
    nonce = 0
    vkey = version.to_bytes(8, "big")
    dbprefix = node_db_key(sp, b"")
    append = out.append
    stack: list[tuple[Node, bool]] = [(root, False)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, children_done = pop()
        if node.height:
            if not children_done:
                push((node, True))
                if node.rnk is None:
                    push((node.right, False))  # type: ignore[arg-type]
                if node.lnk is None:
                    push((node.left, False))  # type: ignore[arg-type]
                continue
            if node.lnk is None:
                node.lnk = node.left.nk  # type: ignore[union-attr]
            if node.rnk is None:
                node.rnk = node.right.nk  # type: ignore[union-attr]
        nonce += 1
        nk = vkey + nonce.to_bytes(4, "big")
        node.nk = nk
        append((dbprefix + nk, encode(node)))


class NodeDB:
    """One store database: reads nodes (decoded, hash-checked, cached) and builds every write batch.

    Write methods take a :class:`WriteBatch` (from :meth:`batch`) and only add to it; :meth:`write`
    applies it atomically, so a caller composes one version's writes, or one rollback, in one batch.
    """

    def __init__(
        self, db: Rdict, store_names: Sequence[str], sync: bool = True, cache_size: int = 500_000
    ) -> None:
        """Wrap an opened, format-checked database (use :meth:`open`); ``store_names`` are its stores.

        ``cache_size``: decoded nodes kept at most (:attr:`StoreLimits.node_cache_nodes`)."""
        self.db = db
        self.path = ""  # where the database is, when opened by :meth:`open`
        self.store_names: tuple[str, ...] = tuple(sorted(set(store_names)))
        self._prefixes = {name: store_prefix(name) for name in self.store_names}
        self.cache_size = cache_size
        self.limits = StoreLimits(node_cache_nodes=cache_size)
        self._cache: dict[bytes, Node] = {}
        self._write_opts = WriteOptions()
        self._write_opts.sync = sync

    @classmethod
    def open(
        cls, path: str, store_names: Sequence[str], sync: bool = True, limits: StoreLimits | None = None
    ) -> NodeDB:
        """Create or reopen the database at ``path``, writing the format marker into a new one.

        Raises :class:`UnknownFormatError` for a database in another format, or one holding data but
        no marker; ``ValueError`` for a store name that is not 1..255 bytes of UTF-8. ``sync=False``
        skips the fsync of each write. ``limits`` bound the node cache and RocksDB's memory.
        """
        limits = limits or StoreLimits()
        db = open_rdict(path, limits)
        try:
            fmt = db.get(FORMAT_KEY)
            if fmt is None:
                if next(iter(db.keys()), None) is not None:
                    raise UnknownFormatError(f"{path} holds data without a store format marker")
                db[FORMAT_KEY] = FORMAT_VALUE
            elif fmt != FORMAT_VALUE:
                raise UnknownFormatError(
                    f"{path} is in store format {fmt!r}; this code reads only {FORMAT_VALUE!r}"
                )
            ndb = cls(db, store_names, sync, limits.node_cache_nodes)
            ndb.limits = limits
            ndb.path = path
            return ndb
        except BaseException:
            db.close()
            raise

    def close(self) -> None:
        """Close the database; the object is unusable afterwards."""
        self._cache.clear()
        self.db.close()

    # ----------------------------------------------------------------- reads

    def latest_version(self) -> int:
        """The latest committed version (``L``), 0 when nothing is committed."""
        raw = self.db.get(LATEST_KEY)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def versions(self) -> list[int]:
        """Every version with a commit info record, ascending."""
        return list(self.iter_versions())

    def iter_versions(self) -> Iterator[int]:
        """:meth:`versions`, read lazily (a node that keeps every version has millions)."""
        return (int.from_bytes(k[1:], "big") for k in self._keys_with_prefix(VERSION_PREFIX))

    def commit_info(self, version: int) -> bytes | None:
        """The encoded commit info of ``version`` (``None`` when not retained)."""
        raw: bytes | None = self.db.get(version_db_key(version))
        return raw

    def get_meta(self, key: bytes) -> bytes | None:
        """Application metadata ``key`` as of the last commit."""
        value: bytes | None = self.db.get(META_PREFIX + key)
        return value

    def get(self, store: str, nk: bytes) -> Node:
        """The node ``nk`` of ``store``. Raises :class:`CorruptNodeError` if absent or damaged."""
        return self._get(self._prefixes[store], nk)

    def loader(self, store: str) -> Loader:
        """A function loading nodes of ``store`` by node key."""
        sp = self._prefixes[store]

        def load(nk: bytes) -> Node:
            return self._get(sp, nk)

        return load

    def _get(self, sp: bytes, nk: bytes) -> Node:
        dbkey = NODE_PREFIX + sp + nk
        node = self._cache.get(dbkey)
        if node is not None:
            return node
        data = self.db.get(dbkey)
        if data is None:
            raise CorruptNodeError(f"node {nk.hex()} of store {sp[1:].decode()!r} is missing")
        node = decode(nk, data)
        if len(self._cache) >= self.cache_size:
            self._evict()
        self._cache[dbkey] = node
        return node

    def clear_cache(self) -> None:
        """Forget every cached node (after a failed write, or when deleted node keys may be reused)."""
        self._cache.clear()

    def _evict(self) -> None:
        """Drop the older half of the cache (insertion order): cheap and good enough for roots."""
        keep = list(self._cache.items())[self.cache_size // 2 :]
        self._cache = dict(keep)

    def _keys_with_prefix(self, prefix: bytes) -> Iterator[bytes]:
        for key in self.db.keys(from_key=prefix):
            assert isinstance(key, bytes)
            if not key.startswith(prefix):
                break
            yield key

    # ----------------------------------------------------------------- writes

    def batch(self) -> WriteBatch:
        """An empty write batch for the write methods below."""
        return WriteBatch(raw_mode=True)

    def write(self, batch: WriteBatch) -> None:
        """Apply ``batch`` atomically (fsynced unless opened with ``sync=False``)."""
        self.db.write(batch, self._write_opts)

    def flush_memtables(self) -> None:
        """Write RocksDB's in-memory tables to disk now (a streaming import bounds its memory so)."""
        self.db.flush(True)

    def save_tree(self, batch: WriteBatch, store: str, tree: MutableTree, prev_version: int) -> None:
        """Add the nodes ``tree`` created and the orphan records of the nodes it replaced.

        Assigns node keys (the tree's version + post-order nonces) to the new nodes. The replaced nodes
        were last reachable at ``prev_version``, the version the tree was built on.
        """
        sp = self._prefixes[store]
        out: list[tuple[bytes, bytes]] = []
        save_new_nodes(tree.root, tree.version, sp, out)
        for key, data in out:
            batch.put(key, data)
        for nk in tree.orphans:
            batch.put(orphan_db_key(sp, prev_version, nk), b"")

    def save_version(
        self, batch: WriteBatch, version: int, commit_info: bytes, meta: Mapping[bytes, bytes]
    ) -> None:
        """Add ``version``'s commit info, make it the latest version and set the metadata ``meta``."""
        batch.put(version_db_key(version), commit_info)
        batch.put(LATEST_KEY, be64(version))
        for key in sorted(meta):
            batch.put(META_PREFIX + key, meta[key])

    def delete_versions_above(self, batch: WriteBatch, version: int) -> None:
        """Add the deletion of every version above ``version`` (0: all) and make ``version`` the latest.

        Deletes their commit infos, the nodes they wrote and the orphan records with ``to >= version``
        (those nodes are reachable again in ``version``). Metadata is not versioned and stays.
        """
        for key in self._keys_with_prefix(VERSION_PREFIX):
            if int.from_bytes(key[1:], "big") > version:
                batch.delete(key)
        for sp in self._prefixes.values():
            batch.delete_range(NODE_PREFIX + sp + be64(version + 1), NODE_PREFIX + sp + _KEY_TAIL)
            batch.delete_range(ORPHAN_PREFIX + sp + be64(version), ORPHAN_PREFIX + sp + _KEY_TAIL)
        batch.put(LATEST_KEY, be64(version))
        self.clear_cache()  # the next commit writes the deleted node keys again

    def delete_version(self, batch: WriteBatch, version: int, prev_kept: int | None) -> None:
        """Add the deletion of retained ``version`` (not the latest) and of the nodes only it reached.

        Reads only the orphan records last reachable at ``version``: a node already alive in the
        previous retained version ``prev_kept`` has its record handed to that version, any other is
        deleted with its record. Versions are deleted ascending, each against a version that is kept.
        """
        batch.delete(version_db_key(version))
        for sp in self._prefixes.values():
            prefix = ORPHAN_PREFIX + sp + be64(version)
            for key in self._keys_with_prefix(prefix):
                nk = key[len(prefix) :]
                batch.delete(key)
                if prev_kept is not None and int.from_bytes(nk[:8], "big") <= prev_kept:
                    batch.put(orphan_db_key(sp, prev_kept, nk), b"")
                else:
                    batch.delete(NODE_PREFIX + sp + nk)
        self.clear_cache()

    # ----------------------------------------------------------------- tooling

    def memory(self) -> dict[str, int]:
        """What the caches hold now and their bounds: nodes, and bytes of RocksDB's memory."""
        prop = self.db.property_int_value
        return {
            "node_cache": len(self._cache),
            "node_cache_bound": self.cache_size,
            "write_buffers": prop("rocksdb.cur-size-all-mem-tables") or 0,
            "write_buffer_bound": WRITE_BUFFERS * self.limits.write_buffer_bytes,
            "block_cache": prop("rocksdb.block-cache-usage") or 0,
            "block_cache_bound": self.limits.block_cache_bytes,
        }

    def node_count(self) -> int:
        """Number of stored tree nodes (tests and tooling; scans the node key range)."""
        return sum(1 for _ in self._keys_with_prefix(NODE_PREFIX))

    def orphan_count(self) -> int:
        """Number of orphan records (tests and tooling; scans the orphan key range)."""
        return sum(1 for _ in self._keys_with_prefix(ORPHAN_PREFIX))

    def stored_node_keys(self) -> set[bytes]:
        """Database keys of every stored node (tests and tooling)."""
        return set(self._keys_with_prefix(NODE_PREFIX))

    def reachable_node_keys(self, roots: Mapping[str, Node | None]) -> set[bytes]:
        """Database keys of every node reachable from these committed store roots (tests and tooling)."""
        out: set[bytes] = set()
        for name, root in roots.items():
            sp = self._prefixes[name]
            load = self.loader(name)
            stack = [root] if root is not None else []
            while stack:
                node = stack.pop()
                assert node.nk is not None, "reachable_node_keys needs committed trees"
                out.add(NODE_PREFIX + sp + node.nk)
                if node.height:
                    stack += [left_child(node, load), right_child(node, load)]
        return out
