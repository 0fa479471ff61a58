"""Branches: copy-on-write write sets over a committed version or over a parent branch.

A :class:`Branch` records ``key -> value`` (``None`` for a delete) per store; reads look through the
branch chain down to the committed version; iteration merges each level's sorted writes with what is
below, in key order both ways. ``write()`` folds a branch into its parent branch; only the multistore's
``stage`` moves a top-level branch into the trees. A branch without its own gas observer reports to its
parent's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Protocol

from .encoding import check_key, check_value
from .errors import StoreError
from .node import Node
from .tree import Loader, key_at, rank
from .tree import get as tree_get
from .tree import iterate as tree_iterate

Item = tuple[bytes, bytes]


class GasObserver(Protocol):
    """Receives the byte counts of every store access; may raise to abort the operation."""

    def on_read(self, key_len: int, value_len: int) -> None:
        """A ``get``/``has`` of a key (value_len 0 when absent)."""

    def on_write(self, key_len: int, value_len: int) -> None:
        """A ``set``, reported before it takes effect."""

    def on_delete(self, key_len: int) -> None:
        """A ``delete``, reported before it takes effect."""

    def on_iterate(self, key_len: int, value_len: int) -> None:
        """One item yielded by an iterator."""


class VersionView:
    """Read-only access to the trees of one committed version (the base of top-level branches)."""

    def __init__(self, version: int, roots: dict[str, tuple[Node | None, Loader]]) -> None:
        self.version = version
        self.roots = roots
        self.store_names = tuple(sorted(roots))

    def lookup(self, name: str, key: bytes) -> bytes | None:
        """Committed value of ``key`` in store ``name``."""
        root, load = self.roots[name]
        return tree_get(root, key, load)

    def iterate(self, name: str, start: bytes | None, end: bytes | None, reverse: bool) -> Iterator[Item]:
        """Committed items of store ``name`` in ``[start, end)``."""
        root, load = self.roots[name]
        return tree_iterate(root, start, end, reverse, load)

    def span(self, name: str, start: bytes | None, end: bytes | None) -> tuple[int, int]:
        """Leaf indexes ``[first, stop)`` of the keys in ``[start, end)``, from the nodes' sizes."""
        root, load = self.roots[name]
        first = 0 if start is None else rank(root, start, load)
        stop = (root.size if root is not None else 0) if end is None else rank(root, end, load)
        return first, max(first, stop)

    def key_at(self, name: str, index: int) -> bytes:
        """Key of the committed leaf at ``index`` (an index within a :meth:`span`)."""
        root, load = self.roots[name]
        assert root is not None
        return key_at(root, index, load)


def _merge(below: Iterator[Item], own: list[tuple[bytes, bytes | None]], reverse: bool) -> Iterator[Item]:
    """Overlay sorted ``own`` writes (``None`` deletes) on the sorted stream ``below``."""
    i = 0
    n = len(own)
    b = next(below, None)
    while i < n:
        ok, ov = own[i]
        if b is None or (ok > b[0] if reverse else ok < b[0]):
            if ov is not None:
                yield ok, ov
            i += 1
        elif ok == b[0]:
            if ov is not None:
                yield ok, ov
            i += 1
            b = next(below, None)
        else:
            yield b
            b = next(below, None)
    if b is not None:
        yield b
        yield from below


class Branch:
    """A write set over ``parent`` (a committed :class:`VersionView` or another branch)."""

    def __init__(self, parent: Branch | VersionView, gas: GasObserver | None = None) -> None:
        self.parent = parent
        self.gas: GasObserver | None = gas
        if gas is None and isinstance(parent, Branch):
            self.gas = parent.gas
        self.store_names: tuple[str, ...] = parent.store_names
        self._writes: dict[str, dict[bytes, bytes | None]] = {}
        self._sorted: dict[str, list[bytes]] = {}

    @property
    def base(self) -> VersionView:
        """The committed version at the bottom of this branch chain."""
        node: Branch | VersionView = self
        while isinstance(node, Branch):
            node = node.parent
        return node

    def store(self, name: str) -> KVStore:
        """The store ``name`` seen through this branch; :class:`StoreError` if there is no such store."""
        if name not in self.store_names:
            raise StoreError(f"unknown store {name!r}; known stores: {', '.join(self.store_names)}")
        return KVStore(self, name)

    def branch(self, gas: GasObserver | None = None) -> Branch:
        """A nested branch whose ``write()`` lands here."""
        return Branch(self, gas)

    def write(self) -> None:
        """Apply this branch's writes to its parent branch and empty this branch."""
        parent = self.parent
        if not isinstance(parent, Branch):
            raise StoreError("a top-level branch is written with MultiStore.stage(), not write()")
        for name, writes in self._writes.items():
            if not writes:
                continue
            target = parent._writes.get(name)
            if target is None:
                parent._writes[name] = writes  # handed over whole: this branch forgets it below
                parent._sorted.pop(name, None)
            else:
                if not writes.keys() <= target.keys():
                    parent._sorted.pop(name, None)
                target.update(writes)
        self._writes = {}
        self._sorted.clear()

    def discard(self) -> None:
        """Drop every write of this branch."""
        self._writes.clear()
        self._sorted.clear()

    def changes(self) -> dict[str, dict[bytes, bytes | None]]:
        """This branch's own writes per store (stores without writes omitted), each sorted by key."""
        return {name: dict(sorted(w.items())) for name, w in sorted(self._writes.items()) if w}

    def put(self, name: str, key: bytes, value: bytes | None) -> None:
        """Record a write (``None`` = delete) without validation or gas; used by ``write()``."""
        writes = self._writes.get(name)
        if writes is None:
            writes = self._writes[name] = {}
        if key not in writes:
            self._sorted.pop(name, None)
        writes[key] = value

    def lookup(self, name: str, key: bytes) -> bytes | None:
        """Value of ``key`` as seen by this branch (own writes first, then parents, then the version)."""
        node: Branch | VersionView = self
        while isinstance(node, Branch):
            writes = node._writes.get(name)
            if writes is not None and key in writes:
                return writes[key]
            node = node.parent
        return node.lookup(name, key)

    def committed(self, name: str) -> VersionView | None:
        """The committed version under this branch when no level of the chain changed store ``name``."""
        node: Branch | VersionView = self
        while isinstance(node, Branch):
            if node._writes.get(name):
                return None
            node = node.parent
        return node

    def iterate(self, name: str, start: bytes | None, end: bytes | None, reverse: bool) -> Iterator[Item]:
        """Merged items of store ``name`` in ``[start, end)``; own writes are taken as of the call."""
        below = self.parent.iterate(name, start, end, reverse)
        writes = self._writes.get(name)
        if not writes:
            return below
        keys = self._sorted.get(name)
        if keys is None:
            keys = self._sorted[name] = sorted(writes)
        lo = 0 if start is None else bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        own = [(k, writes[k]) for k in keys[lo:hi]]
        if reverse:
            own.reverse()
        return _merge(below, own, reverse)


def prefix_end(prefix: bytes) -> bytes | None:
    """Smallest key greater than every key starting with ``prefix`` (``None``: no upper bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes((trimmed[-1] + 1,))


class KVStore:
    """One module store seen through a branch; validates input and reports to the gas observer."""

    def __init__(self, branch: Branch, name: str) -> None:
        self.branch = branch
        self.name = name

    def get(self, key: bytes) -> bytes | None:
        """Value of ``key`` or ``None``."""
        check_key(key)
        value = self.branch.lookup(self.name, key)
        gas = self.branch.gas
        if gas is not None:
            gas.on_read(len(key), 0 if value is None else len(value))
        return value

    def has(self, key: bytes) -> bool:
        """Whether ``key`` is present (charged as a read)."""
        return self.get(key) is not None

    def set(self, key: bytes, value: bytes) -> None:
        """Write ``key -> value``. Raises EmptyKeyError, KeyTooLargeError or ValueTooLargeError."""
        check_key(key)
        check_value(value)
        gas = self.branch.gas
        if gas is not None:
            gas.on_write(len(key), len(value))
        self.branch.put(self.name, key, value)

    def delete(self, key: bytes) -> None:
        """Remove ``key`` (no error when absent)."""
        check_key(key)
        gas = self.branch.gas
        if gas is not None:
            gas.on_delete(len(key))
        self.branch.put(self.name, key, None)

    def iterate(
        self, start: bytes | None = None, end: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Items with ``start <= key < end`` in key order (descending when ``reverse``)."""
        if start is not None and end is not None and start >= end:
            return
        report: Callable[[int, int], None] | None = None
        if self.branch.gas is not None:
            report = self.branch.gas.on_iterate
        for key, value in self.branch.iterate(self.name, start, end, reverse):
            if report is not None:
                report(len(key), len(value))
            yield key, value

    def iterate_prefix(self, prefix: bytes, reverse: bool = False) -> Iterator[tuple[bytes, bytes]]:
        """Items whose key starts with ``prefix``."""
        return self.iterate(prefix or None, prefix_end(prefix), reverse)

    def ordered_keys(self, start: bytes | None, end: bytes | None) -> OrderedKeys | None:
        """Counting and indexing of the keys in ``[start, end)`` in ``O(log n)``, from the tree's sizes.

        Only for an unmetered read of committed state (queries): None when a gas observer is set (a
        metered reader iterates and pays per item) or when the branch chain changed this store.
        """
        view = self.branch.committed(self.name) if self.branch.gas is None else None
        if view is None:
            return None
        first, stop = view.span(self.name, start, end)
        return OrderedKeys(view, self.name, first, stop)


class OrderedKeys:
    """The committed keys of one store range, by index: ``len`` and ``key(i)`` cost one tree walk each."""

    def __init__(self, view: VersionView, name: str, first: int, stop: int) -> None:
        self.view = view
        self.name = name
        self.first = first
        self.stop = stop

    def __len__(self) -> int:
        return self.stop - self.first

    def key(self, index: int) -> bytes:
        """The range's key at ``index`` (``0 <= index < len(self)``), in key order."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self.view.key_at(self.name, self.first + index)
