"""Export/import over random write histories.

A node export imported again is the same version: the same app hash, contents and reachable node
count, and it goes on committing exactly like the original. A key/value export imported again has the
same contents, and the app hash of one block writing those keys at the import version.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app.store import MultiStore
from abci_app.store.export import export_nodes

NAMES = ["bank", "oracle", "tasks"]
Op = tuple[str, bytes, bytes | None]

ops = st.lists(
    st.tuples(
        st.sampled_from(NAMES),
        st.integers(0, 60).map(lambda i: i.to_bytes(2, "big")),
        st.none() | st.binary(max_size=5),
    ),
    max_size=40,
)
histories = st.lists(st.tuples(ops, st.integers(1, 3), st.booleans()), min_size=1, max_size=12)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def _tmpdir() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="store-export-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _apply(ms: MultiStore, block: list[Op], version: int) -> bytes:
    b = ms.branch()
    for name, key, value in block:
        if value is None:
            b.store(name).delete(key)
        else:
            b.store(name).set(key, value)
    ms.stage(b, version)
    return ms.commit().app_hash


def _replay(path: str, history: list[tuple[list[Op], int, bool]]) -> MultiStore:
    """Commit each block at a gap of 1..3 versions, pruning to the two latest where flagged."""
    ms = MultiStore.open(path, NAMES, sync=False)
    for block, gap, prune in history:
        _apply(ms, block, ms.last_version + gap)
        if prune:
            ms.prune(2)
    return ms


@SETTINGS
@given(history=histories, after=ops)
def test_a_node_export_imports_as_the_same_version_that_commits_on_identically(
    history: list[tuple[list[Op], int, bool]], after: list[Op]
) -> None:
    with _tmpdir() as d:
        ms = _replay(f"{d}/source", history)
        copy = MultiStore.import_nodes(f"{d}/copy", NAMES, ms.last_version, export_nodes(ms), sync=False)
        try:
            assert (copy.last_version, copy.last_app_hash) == (ms.last_version, ms.last_app_hash)
            assert list(copy.export()) == list(ms.export())
            assert copy.node_count() == len(ms.reachable_node_keys()) == len(copy.reachable_node_keys())
            assert copy.orphan_count() == 0
            version = ms.last_version + 1
            assert _apply(copy, after, version) == _apply(ms, after, version)
        finally:
            copy.close()
            ms.close()


@SETTINGS
@given(history=histories, data=st.data())
def test_a_node_export_of_any_retained_version_reproduces_it(
    history: list[tuple[list[Op], int, bool]], data: st.DataObject
) -> None:
    with _tmpdir() as d:
        ms = _replay(f"{d}/source", history)
        version = data.draw(st.sampled_from(ms.versions()))
        copy = MultiStore.import_nodes(f"{d}/copy", NAMES, version, export_nodes(ms, version), sync=False)
        try:
            assert copy.last_app_hash == ms.app_hash(version)
            assert list(copy.export()) == list(ms.export(version))
        finally:
            copy.close()
            ms.close()


@SETTINGS
@given(history=histories, version=st.integers(1, 50))
def test_a_key_value_export_imports_as_one_block_writing_the_same_contents(
    history: list[tuple[list[Op], int, bool]], version: int
) -> None:
    with _tmpdir() as d:
        ms = _replay(f"{d}/source", history)
        items = list(ms.export())
        copy = MultiStore.import_kv(f"{d}/copy", NAMES, version, iter(items), sync=False)
        fresh = MultiStore.open(f"{d}/fresh", NAMES, sync=False)
        try:
            assert list(copy.export()) == items
            assert copy.last_version == version
            block: list[Op] = [(name, key, value) for name, key, value in items]
            assert copy.last_app_hash == _apply(fresh, block, version)
        finally:
            for s in (copy, fresh, ms):
                s.close()
