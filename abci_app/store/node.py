"""Tree nodes: the in-memory record, IAVL hashing and the compact on-disk encoding.

A node is either a leaf (``height == 0``: key and value) or an inner node (children, and the smallest
key of its right subtree as ``key``). Persisted nodes are immutable and identified by their node key
``nk`` = 8-byte big-endian version + 4-byte big-endian nonce; nodes built while staging a version have
``nk is None`` and may be changed in place until they are committed.

Hashing is IAVL's (see ``docs/store.md``)::

    leaf  = SHA256(zigzag(0) zigzag(1) zigzag(version) uvarint(len k) k  0x20 SHA256(value))
    inner = SHA256(zigzag(height) zigzag(size) zigzag(version) 0x20 left_hash 0x20 right_hash)
"""

from __future__ import annotations

from hashlib import sha256

from .encoding import read_uvarint, uvarint, zigzag
from .errors import CorruptNodeError

HASH_LEN = 32
NODE_KEY_LEN = 12
_LEAF = 0
_INNER = 1
_LEAF_HEAD = b"\x00\x02"  # zigzag(height 0), zigzag(size 1)


class Node:
    """One tree node. Children are loaded lazily: ``left is None`` with ``lnk`` set means "on disk"."""

    __slots__ = (
        "hash",
        "height",
        "key",
        "left",
        "lhash",
        "lnk",
        "nk",
        "rhash",
        "right",
        "rnk",
        "size",
        "value",
        "version",
    )

    def __init__(self, key: bytes, value: bytes | None, version: int, height: int, size: int) -> None:
        self.key = key
        self.value = value
        self.version = version
        self.height = height
        self.size = size
        self.left: Node | None = None
        self.right: Node | None = None
        self.lnk: bytes | None = None
        self.rnk: bytes | None = None
        self.lhash: bytes | None = None
        self.rhash: bytes | None = None
        self.hash: bytes | None = None
        self.nk: bytes | None = None

    def __repr__(self) -> str:
        kind = "leaf" if self.height == 0 else f"inner h={self.height}"
        return f"Node({kind}, key={self.key!r}, v={self.version}, size={self.size})"


def new_leaf(key: bytes, value: bytes, version: int) -> Node:
    """A fresh (unpersisted, unhashed) leaf."""
    return Node(key, value, version, 0, 1)


def clone(node: Node, version: int) -> Node:
    """A mutable copy of inner ``node`` stamped with ``version`` (children shared, hash cleared)."""
    c = Node(node.key, None, version, node.height, node.size)
    c.left = node.left
    c.right = node.right
    c.lnk = node.lnk
    c.rnk = node.rnk
    c.lhash = node.lhash
    c.rhash = node.rhash
    return c


def leaf_hash(key: bytes, value: bytes, version: int) -> bytes:
    """IAVL hash of a leaf."""
    return sha256(
        b"".join((_LEAF_HEAD, zigzag(version), uvarint(len(key)), key, b"\x20", sha256(value).digest()))
    ).digest()


def inner_hash(height: int, size: int, version: int, lhash: bytes, rhash: bytes) -> bytes:
    """IAVL hash of an inner node from its children's hashes."""
    return sha256(
        b"".join((zigzag(height), zigzag(size), zigzag(version), b"\x20", lhash, b"\x20", rhash))
    ).digest()


def encode(node: Node) -> bytes:
    """Compact on-disk form of a hashed, child-persisted node (layout in ``docs/store.md``)."""
    assert node.hash is not None
    if node.height == 0:
        assert node.value is not None
        return b"".join(
            (b"\x00", node.hash, uvarint(node.version), uvarint(len(node.key)), node.key, node.value)
        )
    assert node.lnk is not None and node.rnk is not None and node.lhash is not None
    assert node.rhash is not None
    return b"".join(
        (
            b"\x01",
            node.hash,
            uvarint(node.version),
            bytes((node.height,)),
            uvarint(node.size),
            node.lnk,
            node.lhash,
            node.rnk,
            node.rhash,
            node.key,
        )
    )


def decode(nk: bytes, data: bytes) -> Node:
    """Rebuild the node stored under node key ``nk``; verify its hash.

    Raises :class:`CorruptNodeError` when the bytes cannot be decoded or the stored hash differs from
    the hash recomputed from the content.
    """
    try:
        kind = data[0]
        stored = data[1:33]
        version, pos = read_uvarint(data, 33)
        if kind == _LEAF:
            klen, pos = read_uvarint(data, pos)
            key = data[pos : pos + klen]
            value = data[pos + klen :]
            if len(key) != klen:
                raise ValueError("truncated key")
            node = Node(key, value, version, 0, 1)
            computed = leaf_hash(key, value, version)
        elif kind == _INNER:
            height = data[pos]
            size, pos = read_uvarint(data, pos + 1)
            node = Node(data[pos + 2 * (NODE_KEY_LEN + HASH_LEN) :], None, version, height, size)
            node.lnk = data[pos : pos + 12]
            node.lhash = data[pos + 12 : pos + 44]
            node.rnk = data[pos + 44 : pos + 56]
            node.rhash = data[pos + 56 : pos + 88]
            if len(node.rhash) != HASH_LEN or height == 0:
                raise ValueError("truncated inner node")
            computed = inner_hash(height, size, version, node.lhash, node.rhash)
        else:
            raise ValueError(f"unknown node kind {kind}")
    except (IndexError, ValueError) as exc:
        raise CorruptNodeError(f"node {nk.hex()} cannot be decoded: {exc}") from exc
    if computed != stored:
        raise CorruptNodeError(
            f"node {nk.hex()}: stored hash {stored.hex()} does not match its content ({computed.hex()})"
        )
    node.hash = stored
    node.nk = nk
    return node
