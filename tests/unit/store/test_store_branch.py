"""Branches: nesting, write/discard, merged iteration, validation and gas reporting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from abci_app.store import MultiStore
from abci_app.store.encoding import MAX_KEY_LEN, MAX_VALUE_LEN
from abci_app.store.errors import EmptyKeyError, KeyTooLargeError, StoreError, ValueTooLargeError


@pytest.fixture
def ms(tmp_path: Path) -> Iterator[MultiStore]:
    store = MultiStore.open(str(tmp_path / "db"), ["bank", "tasks"], sync=False)
    b = store.branch()
    for i in range(0, 20, 2):
        b.store("bank").set(bytes([i]), b"c%d" % i)
    store.stage(b, 1)
    store.commit()
    yield store
    store.close()


class Meter:
    def __init__(self, limit: int = 10**9) -> None:
        self.events: list[tuple[str, int, int]] = []
        self.limit = limit

    def _charge(self, kind: str, k: int, v: int) -> None:
        self.events.append((kind, k, v))
        if len(self.events) > self.limit:
            raise RuntimeError("out of gas")

    def on_read(self, key_len: int, value_len: int) -> None:
        self._charge("read", key_len, value_len)

    def on_write(self, key_len: int, value_len: int) -> None:
        self._charge("write", key_len, value_len)

    def on_delete(self, key_len: int) -> None:
        self._charge("delete", key_len, 0)

    def on_iterate(self, key_len: int, value_len: int) -> None:
        self._charge("iterate", key_len, value_len)


def test_child_write_lands_in_parent_not_in_committed_state(ms: MultiStore) -> None:
    blk = ms.branch()
    tx = blk.branch()
    tx.store("bank").set(b"\x01", b"new")
    assert blk.store("bank").get(b"\x01") is None
    tx.write()
    assert blk.store("bank").get(b"\x01") == b"new"
    assert ms.branch().store("bank").get(b"\x01") is None


def test_discarded_child_leaves_parent_untouched(ms: MultiStore) -> None:
    blk = ms.branch()
    tx = blk.branch()
    tx.store("bank").delete(b"\x02")
    tx.discard()
    tx.write()
    assert blk.store("bank").get(b"\x02") == b"c2"


def test_write_of_top_level_branch_is_an_error(ms: MultiStore) -> None:
    with pytest.raises(StoreError):
        ms.branch().write()


def test_unknown_store_name_is_an_error(ms: MultiStore) -> None:
    with pytest.raises(StoreError, match="unknown store"):
        ms.branch().store("nope")


def test_iteration_merges_three_levels_in_both_directions(ms: MultiStore) -> None:
    blk = ms.branch()
    blk.store("bank").set(b"\x03", b"b3")
    blk.store("bank").delete(b"\x04")
    tx = blk.branch()
    tx.store("bank").set(b"\x04", b"t4")
    tx.store("bank").delete(b"\x06")
    tx.store("bank").set(b"\x02", b"t2")
    expected = {bytes([i]): b"c%d" % i for i in range(0, 20, 2)}
    expected.update({b"\x03": b"b3", b"\x04": b"t4", b"\x02": b"t2"})
    del expected[b"\x06"]
    st = tx.store("bank")
    assert list(st.iterate()) == sorted(expected.items())
    assert list(st.iterate(reverse=True)) == sorted(expected.items(), reverse=True)
    window = [(k, v) for k, v in sorted(expected.items()) if b"\x02" <= k < b"\x08"]
    assert list(st.iterate(b"\x02", b"\x08")) == window
    assert list(st.iterate(b"\x02", b"\x08", reverse=True)) == window[::-1]


def test_prefix_iteration(ms: MultiStore) -> None:
    b = ms.branch()
    st = b.store("tasks")
    for key in (b"a\xff", b"a\x00", b"a", b"b", b"\xff\xff", b"\xff\xff\x01"):
        st.set(key, b"v")
    assert [k for k, _ in st.iterate_prefix(b"a")] == [b"a", b"a\x00", b"a\xff"]
    assert [k for k, _ in st.iterate_prefix(b"\xff\xff", reverse=True)] == [b"\xff\xff\x01", b"\xff\xff"]


def test_gas_observer_sees_every_access_and_children_inherit_it(ms: MultiStore) -> None:
    meter = Meter()
    tx = ms.branch().branch(gas=meter)
    st = tx.branch().store("bank")
    st.get(b"\x02")
    st.get(b"\x03")
    st.set(b"key", b"value")
    st.delete(b"\x04")
    list(st.iterate(b"\x00", b"\x03"))
    assert meter.events == [
        ("read", 1, 2),
        ("read", 1, 0),
        ("write", 3, 5),
        ("delete", 1, 0),
        ("iterate", 1, 2),
        ("iterate", 1, 2),
    ]


def test_gas_observer_can_abort_before_a_write(ms: MultiStore) -> None:
    tx = ms.branch().branch(gas=Meter(limit=0))
    with pytest.raises(RuntimeError):
        tx.store("bank").set(b"k", b"v")
    assert tx.changes() == {}


def test_bad_keys_and_values_raise_distinct_errors(ms: MultiStore) -> None:
    st = ms.branch().store("bank")
    with pytest.raises(EmptyKeyError):
        st.set(b"", b"v")
    with pytest.raises(KeyTooLargeError):
        st.set(b"k" * (MAX_KEY_LEN + 1), b"v")
    with pytest.raises(ValueTooLargeError):
        st.set(b"k", b"v" * (MAX_VALUE_LEN + 1))
    st.set(b"k" * MAX_KEY_LEN, b"")


def test_changes_are_sorted_per_store(ms: MultiStore) -> None:
    b = ms.branch()
    b.store("tasks").set(b"z", b"1")
    b.store("tasks").set(b"a", b"2")
    b.store("tasks").delete(b"m")
    assert list(b.changes()["tasks"].items()) == [(b"a", b"2"), (b"m", None), (b"z", b"1")]
