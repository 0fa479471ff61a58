"""The RocksDB key layout and node loading with a bounded cache of decoded nodes.

Key layout (all integers big-endian so they sort numerically; ``sp`` = one length byte + store name)::

    F                         format marker, b"taskmaster-store/1"
    L                         latest committed version (8 bytes)
    V <version:8>             commit info of a retained version (store roots, app hash)
    M <meta key>              application metadata, as of the last commit
    n <sp> <nk:12>            a tree node; nk = <version it was written:8><nonce:4>
    o <sp> <to:8> <nk:12>     orphan record: node nk is reachable up to version ``to`` only
"""

from __future__ import annotations

from collections.abc import Callable

from rocksdict import Rdict

from .encoding import be64
from .errors import CorruptNodeError
from .node import Node, decode

FORMAT_KEY = b"F"
FORMAT_VALUE = b"taskmaster-store/1"
LATEST_KEY = b"L"
VERSION_PREFIX = b"V"
META_PREFIX = b"M"
NODE_PREFIX = b"n"
ORPHAN_PREFIX = b"o"
MAX_VERSION = (1 << 63) - 1


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


class NodeDB:
    """Reads nodes from RocksDB, decoding and hash-checking them, behind a bounded cache."""

    def __init__(self, db: Rdict, cache_size: int = 500_000) -> None:
        self.db = db
        self.cache_size = cache_size
        self._cache: dict[bytes, Node] = {}

    def get(self, sp: bytes, nk: bytes) -> Node:
        """The node ``nk`` of store ``sp``. Raises :class:`CorruptNodeError` if absent or damaged."""
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

    def loader(self, sp: bytes) -> Callable[[bytes], Node]:
        """A function loading nodes of one store by node key."""

        def load(nk: bytes) -> Node:
            return self.get(sp, nk)

        return load

    def clear_cache(self) -> None:
        """Forget every cached node (after pruning or rollback deleted some)."""
        self._cache.clear()

    def _evict(self) -> None:
        """Drop the older half of the cache (insertion order): cheap and good enough for roots."""
        keep = list(self._cache.items())[self.cache_size // 2 :]
        self._cache = dict(keep)
