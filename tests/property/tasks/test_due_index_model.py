"""The due-block index against a plain dict model: random adds and removes, range and due queries."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.scheduler import DueEntry, DueIndex
from abci_app.store import MultiStore

INDEX = DueIndex(b"\x02")
blocks = st.integers(min_value=0, max_value=40) | st.sampled_from([2**64 - 1, 2**64 - 2, 2**32])
entries = st.tuples(blocks, st.integers(0, 3), st.binary(min_size=1, max_size=3))
ops = st.lists(st.tuples(st.booleans(), entries), max_size=60)


@settings(max_examples=150, deadline=None)
@given(ops=ops, start=blocks, end=blocks, height=blocks, commit_at=st.integers(0, 60))
def test_index_matches_dict_model(
    ops: list[tuple[bool, tuple[int, int, bytes]]],
    start: int,
    end: int,
    height: int,
    commit_at: int,
) -> None:
    root = tempfile.mkdtemp(prefix="due-")
    ms = MultiStore.open(root, ["tasks"], sync=False)
    try:
        branch = ms.branch()
        store = branch.store("tasks")
        store.set(b"\x01other", b"x")  # a neighbouring key family must never appear
        store.set(b"\x03other", b"x")
        model: set[DueEntry] = set()
        for i, (is_add, (block, priority, id_)) in enumerate(ops):
            if i == commit_at:  # half of the entries come from committed state, half from the branch
                ms.stage(branch, 1)
                ms.commit()
                branch = ms.branch()
                store = branch.store("tasks")
            entry = DueEntry(block, priority, id_)
            if is_add:
                INDEX.add(store, block, priority, id_)
                model.add(entry)
            else:
                INDEX.remove(store, block, priority, id_)
                model.discard(entry)
        expected_range = sorted(e for e in model if start <= e.block <= end)
        assert list(INDEX.in_range(store, start, end)) == expected_range
        assert list(INDEX.due(store, height)) == sorted(e for e in model if e.block <= height)
        assert INDEX.next_block(store, start, end) == (expected_range[0].block if expected_range else None)
        for e in model:
            assert INDEX.contains(store, e.block, e.priority, e.id)
    finally:
        ms.close()
        shutil.rmtree(root, ignore_errors=True)


def test_order_is_block_then_priority_then_id(tmp_path: Path) -> None:
    ms = MultiStore.open(str(tmp_path / "db"), ["tasks"], sync=False)
    store = ms.branch().store("tasks")
    for block, priority, id_ in [(5, 2, b"a"), (5, 0, b"z"), (4, 2, b"b"), (5, 0, b"c"), (6, 0, b"a")]:
        INDEX.add(store, block, priority, id_)
    got = [(e.block, e.priority, e.id) for e in INDEX.due(store, 5)]
    assert got == [(4, 2, b"b"), (5, 0, b"c"), (5, 0, b"z"), (5, 2, b"a")]
    ms.close()
