"""A due-block index over one prefix of a KVStore: which ids are due at which height, in what order.

Key layout (everything after ``prefix``)::

    due_block (u64 big-endian, 8 bytes) | priority (1 byte) | id (any length >= 1)  ->  b""

Keys sort by due block, then priority byte (lower first), then id bytes, so "everything due at or
before ``h``" and "everything due in ``[a, b]``" are single range iterations whose cost grows with the
number of results, never with the number of entries stored. The index knows nothing of what an id means;
callers keep their own record of an id's current due entry so they can remove it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from abci_app.store import KVStore

MAX_BLOCK = 2**64 - 1


@dataclass(frozen=True, order=True)
class DueEntry:
    """One entry: ``id`` is due at ``block`` with ``priority`` (0 runs first within a block)."""

    block: int
    priority: int
    id: bytes


@dataclass(frozen=True)
class DueIndex:
    """The index stored under ``prefix`` (a non-empty byte string no other key family starts with)."""

    prefix: bytes

    def key(self, block: int, priority: int, id_: bytes) -> bytes:
        """The store key of one entry; raises ValueError on an out-of-range field."""
        if not 0 <= block <= MAX_BLOCK:
            raise ValueError(f"due block {block} is outside 0..2^64-1")
        if not 0 <= priority <= 255:
            raise ValueError(f"priority {priority} is outside 0..255")
        if not id_:
            raise ValueError("id must not be empty")
        return self.prefix + block.to_bytes(8, "big") + bytes((priority,)) + id_

    def decode(self, key: bytes) -> DueEntry:
        """The entry a store key names."""
        body = key[len(self.prefix) :]
        return DueEntry(int.from_bytes(body[:8], "big"), body[8], body[9:])

    def add(self, store: KVStore, block: int, priority: int, id_: bytes) -> None:
        """Record that ``id_`` is due at ``block``."""
        store.set(self.key(block, priority, id_), b"")

    def remove(self, store: KVStore, block: int, priority: int, id_: bytes) -> None:
        """Forget one entry (no error when absent)."""
        store.delete(self.key(block, priority, id_))

    def contains(self, store: KVStore, block: int, priority: int, id_: bytes) -> bool:
        """Whether the entry exists."""
        return store.has(self.key(block, priority, id_))

    def in_range(self, store: KVStore, start: int, end: int) -> Iterator[DueEntry]:
        """Entries with ``start <= block <= end`` in key order (empty when ``start > end``)."""
        if start > end or start > MAX_BLOCK:
            return
        lo = self.prefix + start.to_bytes(8, "big")
        hi = self.prefix + (end + 1).to_bytes(8, "big") if end < MAX_BLOCK else _after(self.prefix)
        for key, _ in store.iterate(lo, hi):
            yield self.decode(key)

    def due(self, store: KVStore, height: int) -> Iterator[DueEntry]:
        """Entries due at or before ``height``, oldest block first."""
        return self.in_range(store, 0, height)

    def next_block(self, store: KVStore, start: int, end: int) -> int | None:
        """The smallest due block in ``[start, end]``, or None."""
        for entry in self.in_range(store, start, end):
            return entry.block
        return None


def _after(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix`` (None: unbounded)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes((trimmed[-1] + 1,))
