"""Pages of list queries, in the Cosmos SDK's ``PageRequest`` / ``PageResponse`` shape, over store ranges.

Every list query takes ``cosmos.base.query.v1beta1.PageRequest pagination`` and answers
``PageResponse pagination`` (the SDK's own messages, generated from its pinned release). The rules are
those of the SDK's ``query.Paginate`` (types/query/pagination.go), with a bounded limit:

* ``limit`` 0 means :data:`DEFAULT_LIMIT` (100, the SDK's ``DefaultLimit``); a limit above
  :data:`MAX_LIMIT` is refused with QUERY_INVALID naming the maximum (never a silently cut list).
* ``key`` (the previous answer's ``next_key``) starts the page at that item: the walk begins with a
  range iterator at the key, so a page costs ``O(log n + limit)`` store reads however large the list.
  ``next_key`` is the key of the first item after the page (empty when the list is complete), relative
  to the query's prefix like the SDK's, so it cannot point outside the list it came from.
* ``offset`` skips that many items first; ``key`` and ``offset`` together are refused.
* ``count_total`` sets ``total`` to the number of items in the list. As in the SDK it is honoured only
  without ``key``; unlike the SDK, a default ``limit`` does not switch counting on.

Over committed state (every query) the store answers ``offset`` and ``count_total`` from the tree
nodes' sizes (``KVStore.ordered_keys``), one root-to-leaf walk each, so no page request reads more
than ``O(log n + limit)`` nodes. Where the tree cannot answer (a branch with pending writes, a metered
reader) the paginator walks the keys as the SDK does: ``O(offset + limit)``, the whole list to count.
* ``reverse`` walks from the last item down; ``key`` then names the first (highest) item of the page.

A query whose list is a key range (e.g. tasks due in ``[start, end]``) keeps its bounds: the page only
moves within them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from cosmos.base.query.v1beta1 import pagination_pb2

from abci_app.modules import QUERY_INVALID
from abci_app.store.branch import prefix_end

DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000
MAX_KEY_BYTES = 1_024  # longer than every store key a list query pages over

PageRequest = pagination_pb2.PageRequest
PageResponse = pagination_pb2.PageResponse
Item = tuple[bytes, bytes]


class Source(Protocol):
    """What the paginator reads: a store (``KVStore``) or any sorted items with range iteration."""

    def iterate(
        self, start: bytes | None = None, end: bytes | None = None, reverse: bool = False
    ) -> Iterator[Item]:
        """Items with ``start <= key < end`` in key order (descending when ``reverse``)."""
        ...


class Indexed(Protocol):
    """The keys of a range by index (``KVStore.ordered_keys``): their number and the key at an index."""

    def __len__(self) -> int: ...

    def key(self, index: int) -> bytes:
        """The key at ``index`` in key order."""
        ...


@dataclass(frozen=True)
class Page:
    """One page: its items (full store keys and values, in page order) and the answer's PageResponse."""

    items: list[Item]
    response: pagination_pb2.PageResponse

    @property
    def keys(self) -> list[bytes]:
        """The page's full store keys."""
        return [key for key, _ in self.items]


@dataclass(frozen=True)
class SortedItems:
    """Items already in memory, sorted by key and unique (a list whose order is not a store key order)."""

    items: Sequence[Item]

    def iterate(
        self, start: bytes | None = None, end: bytes | None = None, reverse: bool = False
    ) -> Iterator[Item]:
        """Items with ``start <= key < end``, as ``KVStore.iterate``."""
        keys = [key for key, _ in self.items]
        lo = 0 if start is None else bisect_left(keys, start)
        hi = len(keys) if end is None else bisect_left(keys, end)
        chosen = self.items[lo:hi]
        return iter(reversed(chosen) if reverse else chosen)

    def ordered_keys(self, start: bytes | None, end: bytes | None) -> Indexed:
        """The keys of ``[start, end)`` by index."""
        return _KeyList([key for key, _ in self.iterate(start, end)])


@dataclass(frozen=True)
class _KeyList:
    keys: list[bytes]

    def __len__(self) -> int:
        return len(self.keys)

    def key(self, index: int) -> bytes:
        return self.keys[index]


def page_limit(page: pagination_pb2.PageRequest) -> int:
    """The number of items the page holds at most; QUERY_INVALID above :data:`MAX_LIMIT`."""
    if page.limit > MAX_LIMIT:
        raise QUERY_INVALID(
            f"pagination.limit {page.limit} is above the maximum {MAX_LIMIT}; ask for at most {MAX_LIMIT} "
            "and pass each answer's pagination.next_key as the next request's pagination.key"
        )
    return page.limit or DEFAULT_LIMIT


def _walk(
    source: Source, page: pagination_pb2.PageRequest, prefix: bytes, lower: bytes, upper: bytes | None
) -> Iterator[Item]:
    """The items of ``[lower, upper)`` from the page's key on, in the page's direction."""
    start: bytes | None = lower or None
    end = upper
    if page.key:
        at = prefix + page.key
        if page.reverse:
            end = _up_to(at, end)
        else:
            start = max(lower, at)
    if start is not None and end is not None and start >= end:
        return iter(())
    return source.iterate(start, end, page.reverse)


def _up_to(key: bytes, end: bytes | None) -> bytes:
    """The exclusive end of a range that stops with ``key`` included (and not after ``end``)."""
    after = key + b"\x00"  # the smallest key above ``key``
    return after if end is None else min(end, after)


def _indexed(source: Source, lower: bytes, upper: bytes | None) -> Indexed | None:
    """The range's keys by index, when the source can count them without reading them."""
    ordered = getattr(source, "ordered_keys", None)
    return None if ordered is None else ordered(lower or None, upper)


def _take(items: Iterator[Item], skip: int, limit: int, prefix: bytes, counting: bool) -> tuple[Page, int]:
    """Skip ``skip`` items, keep ``limit``; the page and how many items were read in all."""
    page: list[Item] = []
    next_key = b""
    seen = 0
    for key, value in items:
        seen += 1
        if seen <= skip:
            continue
        if len(page) < limit:
            page.append((key, value))
            continue
        if not next_key:
            next_key = key[len(prefix) :]
        if not counting:
            break
    return Page(page, pagination_pb2.PageResponse(next_key=next_key)), seen


def paginate(
    source: Source,
    page: pagination_pb2.PageRequest,
    prefix: bytes,
    lower: bytes | None = None,
    upper: bytes | None = None,
) -> Page:
    """One page of the items whose keys start with ``prefix`` (and lie in ``[lower, upper)`` when given).

    ``lower`` and ``upper`` narrow a range query within the prefix; ``next_key`` is relative to
    ``prefix``. Raises QUERY_INVALID for a limit above :data:`MAX_LIMIT`, for ``key`` with ``offset``
    and for a key longer than :data:`MAX_KEY_BYTES`.
    """
    limit = page_limit(page)
    if page.key and page.offset:
        raise QUERY_INVALID(
            "pagination: give either key (a next_key) or offset, not both; key is the cheaper of the two"
        )
    if len(page.key) > MAX_KEY_BYTES:
        raise QUERY_INVALID(f"pagination.key is {len(page.key)} bytes; a next_key is at most {MAX_KEY_BYTES}")
    low = prefix if lower is None else lower
    high = prefix_end(prefix) if upper is None else upper
    counting = page.count_total and not page.key
    indexed = _indexed(source, low, high) if page.offset or counting else None
    if indexed is None:
        found, seen = _take(_walk(source, page, prefix, low, high), page.offset, limit, prefix, counting)
        if counting:
            found.response.total = seen
        return found
    total = len(indexed)
    if page.offset >= total:
        found = Page([], pagination_pb2.PageResponse())
    else:
        # start the walk at the item the offset names: one tree walk instead of reading the skipped keys
        at = indexed.key(total - 1 - page.offset if page.reverse else page.offset)
        start, end = (low or None, _up_to(at, high)) if page.reverse else (at, high)
        found, _ = _take(source.iterate(start, end, page.reverse), 0, limit, prefix, False)
    if counting:
        found.response.total = total
    return found
