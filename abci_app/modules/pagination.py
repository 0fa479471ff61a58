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
* ``offset`` skips that many items first (it reads the skipped keys: ``O(offset + limit)``, as in the
  SDK); ``key`` and ``offset`` together are refused.
* ``count_total`` sets ``total`` to the number of items in the list. As in the SDK it is honoured only
  without ``key``, and it reads every key of the list once. Unlike the SDK, a default ``limit`` does
  not switch counting on: only the client that asks pays for the count.
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
            after = at + b"\x00"  # the smallest key above ``at``: the page starts at ``at`` itself
            end = after if end is None else min(end, after)
        else:
            start = max(lower, at)
    if start is not None and end is not None and start >= end:
        return iter(())
    return source.iterate(start, end, page.reverse)


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
    items: list[Item] = []
    next_key = b""
    seen = 0
    for key, value in _walk(source, page, prefix, low, high):
        seen += 1
        if seen <= page.offset:
            continue
        if len(items) < limit:
            items.append((key, value))
            continue
        if not next_key:
            next_key = key[len(prefix) :]
        if not counting:
            break
    response = pagination_pb2.PageResponse(next_key=next_key)
    if counting:
        response.total = seen
    return Page(items, response)
