"""Model test of the list-query paginator against a plain sorted list.

The store holds random keys under the listed prefix and noise keys beside it; the model is the sorted
list of the listed keys (within a range's bounds when the query has them). Paging through with each
answer's next_key must give every item exactly once, in order (descending when reversed); an offset
page is the model's slice; count_total is the model's length. Each property holds for the three
sources: committed state (offset and count from the tree's node sizes), a branch with pending writes
(the paginator walks the keys) and in-memory ``SortedItems``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.errors import AppError
from abci_app.modules.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    PageRequest,
    SortedItems,
    Source,
    paginate,
)
from abci_app.store import KVStore, MultiStore

PREFIX = b"\x05"
suffixes = st.sets(st.binary(min_size=1, max_size=3), max_size=40)
noise = st.sets(st.sampled_from([b"\x04", b"\x04\xff", b"\x06", b"\x06\x00", b"\x07"]), max_size=4)


@pytest.fixture(scope="module")
def multistore() -> Iterator[MultiStore]:
    path = tempfile.mkdtemp(prefix="pagination-model-")
    ms = MultiStore.open(path, ["list"], sync=False)
    try:
        yield ms
    finally:
        ms.close()
        shutil.rmtree(path, ignore_errors=True)


def store_with(ms: MultiStore, keys: set[bytes], extra: set[bytes]) -> KVStore:
    """A fresh branch's store holding ``PREFIX + k`` for each suffix (value: the key reversed) and noise."""
    store = ms.branch().store("list")
    for key, _ in list(store.iterate()):
        store.delete(key)
    for suffix in keys:
        store.set(PREFIX + suffix, suffix[::-1])
    for key in extra:
        store.set(key, b"noise")
    return store


def committed_with(ms: MultiStore, keys: set[bytes], extra: set[bytes]) -> KVStore:
    """The same items, committed as a new version, seen through a fresh branch."""
    ms.stage(store_with(ms, keys, extra).branch, ms.last_version + 1)
    ms.commit()
    return ms.branch().store("list")


def sources(ms: MultiStore, keys: set[bytes], extra: set[bytes]) -> list[Source]:
    """Committed state, pending writes and in-memory items, all holding the same items."""
    committed = committed_with(ms, keys, extra)
    assert committed.ordered_keys(PREFIX, b"\x06") is not None  # the tree answers counts
    pending = store_with(ms, keys, extra)
    if keys or extra:
        assert pending.ordered_keys(PREFIX, b"\x06") is None  # changed in the branch: walk the keys
    return [committed, pending, SortedItems(sorted(pending.iterate()))]


def walk(source: Source, limit: int, reverse: bool, lower: bytes | None, upper: bytes | None) -> list[bytes]:
    """Every key, following next_key page after page (at most one page per item, plus one)."""
    seen: list[bytes] = []
    key = b""
    for _ in range(100):
        page = paginate(source, PageRequest(key=key, limit=limit, reverse=reverse), PREFIX, lower, upper)
        assert len(page.items) <= limit
        seen += page.keys
        key = page.response.next_key
        if not key:
            return seen
        assert page.items, "a page with a next_key holds items"
    raise AssertionError("next_key never ran out")


@settings(max_examples=150, deadline=None)
@given(keys=suffixes, extra=noise, limit=st.integers(1, 7), reverse=st.booleans())
def test_paging_through_with_next_key_yields_every_item_once_in_order(
    multistore: MultiStore, keys: set[bytes], extra: set[bytes], limit: int, reverse: bool
) -> None:
    model = sorted(PREFIX + k for k in keys)
    expected = model[::-1] if reverse else model
    for source in sources(multistore, keys, extra):
        assert walk(source, limit, reverse, None, None) == expected


@settings(max_examples=150, deadline=None)
@given(
    keys=suffixes,
    extra=noise,
    limit=st.integers(1, 7),
    reverse=st.booleans(),
    bounds=st.tuples(st.binary(max_size=2), st.binary(max_size=2)),
)
def test_a_range_query_pages_only_within_its_bounds(
    multistore: MultiStore,
    keys: set[bytes],
    extra: set[bytes],
    limit: int,
    reverse: bool,
    bounds: tuple[bytes, bytes],
) -> None:
    lower, upper = PREFIX + min(bounds), PREFIX + max(bounds)
    model = sorted(PREFIX + k for k in keys if lower <= PREFIX + k < upper)
    for source in sources(multistore, keys, extra):
        assert walk(source, limit, reverse, lower, upper) == (model[::-1] if reverse else model)


@settings(max_examples=150, deadline=None)
@given(
    keys=suffixes,
    extra=noise,
    limit=st.integers(0, 7),
    offset=st.integers(0, 45),
    reverse=st.booleans(),
    count_total=st.booleans(),
)
def test_an_offset_page_is_the_models_slice_and_count_total_its_length(
    multistore: MultiStore,
    keys: set[bytes],
    extra: set[bytes],
    limit: int,
    offset: int,
    reverse: bool,
    count_total: bool,
) -> None:
    model = sorted(PREFIX + k for k in keys)
    if reverse:
        model.reverse()
    request = PageRequest(offset=offset, limit=limit, reverse=reverse, count_total=count_total)
    size = limit or DEFAULT_LIMIT
    following = model[offset + size : offset + size + 1]
    for source in sources(multistore, keys, extra):
        page = paginate(source, request, PREFIX)
        assert page.keys == model[offset : offset + size]
        assert [v for _, v in page.items] == [k[len(PREFIX) :][::-1] for k in page.keys]
        assert page.response.next_key == (following[0][len(PREFIX) :] if following else b"")
        assert page.response.total == (len(model) if count_total else 0)


@settings(max_examples=50, deadline=None)
@given(keys=suffixes, limit=st.integers(1, 5))
def test_count_total_is_ignored_with_a_key_as_in_the_sdk(
    multistore: MultiStore, keys: set[bytes], limit: int
) -> None:
    for source in sources(multistore, keys, set()):
        first = paginate(source, PageRequest(limit=limit, count_total=True), PREFIX)
        assert first.response.total == len(keys)
        if first.response.next_key:
            second = paginate(source, PageRequest(key=first.response.next_key, count_total=True), PREFIX)
            assert second.response.total == 0 and second.keys


def test_a_limit_above_the_maximum_is_refused_naming_it(multistore: MultiStore) -> None:
    store = store_with(multistore, {b"a"}, set())
    with pytest.raises(AppError, match=f"above the maximum {MAX_LIMIT}"):
        paginate(store, PageRequest(limit=MAX_LIMIT + 1), PREFIX)
    assert len(paginate(store, PageRequest(limit=MAX_LIMIT), PREFIX).items) == 1


def test_key_and_offset_together_are_refused(multistore: MultiStore) -> None:
    store = store_with(multistore, {b"a", b"b"}, set())
    with pytest.raises(AppError, match=r"either key .* or offset"):
        paginate(store, PageRequest(key=b"a", offset=1), PREFIX)


def test_a_metered_reader_never_gets_the_unmetered_counts(multistore: MultiStore) -> None:
    class Meter:
        def on_read(self, key_len: int, value_len: int) -> None: ...
        def on_write(self, key_len: int, value_len: int) -> None: ...
        def on_delete(self, key_len: int) -> None: ...
        def on_iterate(self, key_len: int, value_len: int) -> None: ...

    committed_with(multistore, {b"a", b"b"}, set())
    assert multistore.branch().store("list").ordered_keys(PREFIX, None) is not None
    assert multistore.branch(gas=Meter()).store("list").ordered_keys(PREFIX, None) is None
