"""Import: the node stream and the key/value stream are separate entry points, and bad input is refused
with a message that says what to change, before anything is committed."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.statesync.format import max_tree_height
from abci_app.store import MultiStore
from abci_app.store.errors import InvalidImportError, StoreError
from abci_app.store.export import ExportNode, KVItem, NodeStreamBuilder, export_nodes, trees_from_kv
from abci_app.store.node import Node

NAMES = ["bank", "tasks"]


@pytest.fixture
def source(tmp_path: Path) -> Iterator[MultiStore]:
    """Three versions over two stores, so node versions differ within a tree."""
    ms = MultiStore.open(str(tmp_path / "source"), NAMES, sync=False)
    for version in (1, 2, 3):
        b = ms.branch()
        for j in range(version, 30, version + 1):
            b.store("bank").set(b"k%02d" % j, b"v%d" % version)
        b.store("tasks").set(b"t%d" % version, b"x")
        ms.stage(b, version)
        ms.commit()
    yield ms
    ms.close()


def _nodes(ms: MultiStore) -> list[ExportNode]:
    return list(export_nodes(ms))


def _import_nodes(tmp_path: Path, nodes: Any, version: int = 3) -> MultiStore:
    return MultiStore.import_nodes(str(tmp_path / "copy"), NAMES, version, nodes, sync=False)


def _import_kv(tmp_path: Path, items: Any, version: int = 3) -> MultiStore:
    return MultiStore.import_kv(str(tmp_path / "copy"), NAMES, version, items, sync=False)


def _first(nodes: list[ExportNode], height: int) -> int:
    return next(i for i, n in enumerate(nodes) if n.store == "bank" and n.height == height)


def test_a_node_import_has_the_exporters_app_hash_and_commits_on_like_it(
    source: MultiStore, tmp_path: Path
) -> None:
    copy = _import_nodes(tmp_path, _nodes(source))
    assert (copy.last_version, copy.last_app_hash) == (3, source.last_app_hash)
    for ms in (source, copy):
        b = ms.branch()
        b.store("bank").set(b"k05", b"new")
        b.store("bank").delete(b"k09")
        ms.stage(b, 4)
        ms.commit()
    assert copy.last_app_hash == source.last_app_hash
    copy.close()


def test_a_node_import_of_an_older_retained_version_reproduces_that_version(
    source: MultiStore, tmp_path: Path
) -> None:
    copy = _import_nodes(tmp_path, export_nodes(source, 2), version=2)
    assert copy.last_app_hash == source.app_hash(2)
    assert list(copy.export()) == list(source.export(2))
    copy.close()


def test_an_import_of_nothing_commits_empty_stores(tmp_path: Path) -> None:
    copy = _import_nodes(tmp_path, [], version=4)
    empty = MultiStore.open(str(tmp_path / "empty"), NAMES, sync=False)
    assert (copy.last_version, copy.last_app_hash) == (4, empty.last_app_hash)
    copy.close()
    empty.close()


def test_a_key_value_stream_given_to_import_nodes_is_refused_with_the_right_entry_point(
    source: MultiStore, tmp_path: Path
) -> None:
    with pytest.raises(InvalidImportError, match=r"use MultiStore\.import_kv"):
        _import_nodes(tmp_path, list(source.export()))


def test_a_node_stream_given_to_import_kv_is_refused_with_the_right_entry_point(
    source: MultiStore, tmp_path: Path
) -> None:
    with pytest.raises(InvalidImportError, match=r"use MultiStore\.import_nodes"):
        _import_kv(tmp_path, _nodes(source))


def test_a_kv_triple_of_the_wrong_types_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError, match=r"\(str, bytes, bytes\); got \(str, str, bytes\)"):
        _import_kv(tmp_path, [("bank", "k", b"v")])


def test_a_node_of_a_store_not_imported_is_refused(source: MultiStore, tmp_path: Path) -> None:
    nodes = _nodes(source)
    nodes[0] = dataclasses.replace(nodes[0], store="oracle")
    with pytest.raises(InvalidImportError, match="'oracle', which is not among the stores being imported"):
        _import_nodes(tmp_path, nodes)


def test_a_key_of_a_store_not_imported_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError, match="add it to store_names"):
        _import_kv(tmp_path, [("oracle", b"k", b"v")])


def test_kv_keys_out_of_order_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError, match="strictly ascending"):
        _import_kv(tmp_path, [("bank", b"b", b"1"), ("bank", b"a", b"2")])
    with pytest.raises(InvalidImportError, match="strictly ascending"):
        _import_kv(tmp_path, [("bank", b"a", b"1"), ("bank", b"a", b"2")])


def test_kv_stores_may_interleave_each_in_key_order(tmp_path: Path) -> None:
    items: list[KVItem] = [("tasks", b"a", b"1"), ("bank", b"b", b"2"), ("tasks", b"c", b"3")]
    copy = _import_kv(tmp_path, items)
    assert list(copy.export()) == sorted(items)
    copy.close()


def test_an_empty_kv_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError, match="non-empty"):
        _import_kv(tmp_path, [("bank", b"", b"1")])


def test_a_truncated_node_stream_does_not_form_a_tree(source: MultiStore, tmp_path: Path) -> None:
    nodes = [n for n in _nodes(source) if n.store == "bank"][:-1]  # without the root
    with pytest.raises(InvalidImportError, match="separate subtrees, not one tree"):
        _import_nodes(tmp_path, nodes)


def test_an_inner_node_before_its_children_is_refused(source: MultiStore, tmp_path: Path) -> None:
    nodes = _nodes(source)
    i = _first(nodes, 1)
    with pytest.raises(InvalidImportError, match="post-order"):
        _import_nodes(tmp_path, [nodes[i], *nodes[:i], *nodes[i + 1 :]])


def test_leaves_out_of_key_order_are_refused(source: MultiStore, tmp_path: Path) -> None:
    nodes = _nodes(source)
    nodes[0], nodes[1] = nodes[1], nodes[0]  # the first two leaves of bank
    with pytest.raises(InvalidImportError, match="ascend by key"):
        _import_nodes(tmp_path, nodes)


def test_an_inner_node_with_a_wrong_height_is_refused(source: MultiStore, tmp_path: Path) -> None:
    nodes = _nodes(source)
    i = _first(nodes, 1)
    nodes[i] = dataclasses.replace(nodes[i], height=2)
    with pytest.raises(InvalidImportError, match="its height must be 1"):
        _import_nodes(tmp_path, nodes)


def test_an_inner_node_with_a_wrong_key_is_refused(source: MultiStore, tmp_path: Path) -> None:
    nodes = _nodes(source)
    i = _first(nodes, 1)
    nodes[i] = dataclasses.replace(nodes[i], key=b"k00")
    with pytest.raises(InvalidImportError, match="smallest key of its right subtree"):
        _import_nodes(tmp_path, nodes)


def test_an_unbalanced_tree_is_refused(tmp_path: Path) -> None:
    a, b, c, d, e = (ExportNode("bank", k, b"v", 1, 0) for k in (b"a", b"b", b"c", b"d", b"e"))
    ab, cd = ExportNode("bank", b"b", None, 1, 1), ExportNode("bank", b"d", None, 1, 1)
    left = [a, b, ab, c, d, cd, ExportNode("bank", b"c", None, 1, 2)]
    nodes = [*left, e, ExportNode("bank", b"e", None, 1, 3)]  # a subtree of height 2 beside a leaf
    with pytest.raises(InvalidImportError, match="unbalanced"):
        _import_nodes(tmp_path, nodes, version=1)


def test_a_leaf_without_a_value_and_an_inner_node_with_one_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError, match="has no value"):
        _import_nodes(tmp_path, [ExportNode("bank", b"a", None, 1, 0)], version=1)
    a, b = ExportNode("bank", b"a", b"1", 1, 0), ExportNode("bank", b"b", b"2", 1, 0)
    with pytest.raises(InvalidImportError, match="only leaves"):
        _import_nodes(tmp_path, [a, b, ExportNode("bank", b"b", b"x", 1, 1)], version=1)


def test_a_node_newer_than_the_import_version_is_refused(source: MultiStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError, match=r"has version 3, outside 1\.\.2"):
        _import_nodes(tmp_path, _nodes(source), version=2)


def test_an_invalid_import_version_is_refused(tmp_path: Path) -> None:
    for version in (0, 1 << 63):
        with pytest.raises(StoreError, match=r"1 to 2\^63-1"):
            _import_kv(tmp_path, [], version=version)


def test_a_refused_import_commits_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError):
        _import_kv(tmp_path, [("bank", b"a", b"1"), ("bank", b"a", b"2")])
    ms = MultiStore.open(str(tmp_path / "copy"), NAMES, sync=False)
    assert (ms.last_version, ms.versions()) == (0, [])
    ms.close()


def test_commit_imported_needs_an_empty_database(source: MultiStore) -> None:
    with pytest.raises(StoreError, match="needs an empty database"):
        source.commit_imported(9, trees_from_kv(NAMES, 9, []))


def test_commit_imported_refuses_a_store_it_was_not_opened_with(tmp_path: Path) -> None:
    ms = MultiStore.open(str(tmp_path / "db"), NAMES, sync=False)
    with pytest.raises(StoreError, match="oracle"):
        ms.commit_imported(1, trees_from_kv(["oracle"], 1, [("oracle", b"k", b"v")]))
    assert ms.versions() == []
    ms.close()


# ----------------------------------------------------------------- streaming import: bounded memory


def _stream(tmp_path: Path, nodes: list[ExportNode], version: int = 3) -> tuple[MultiStore, list[int]]:
    """Stream ``nodes`` into a new store (no commit); the subtrees pending after each record."""
    ms = MultiStore.open(str(tmp_path / "streamed"), NAMES, sync=False)
    importer = ms.stream_import(version)
    pending: list[int] = []
    try:
        for rec in nodes:
            importer.add(rec)
            pending.append(importer.pending_subtrees)
    finally:
        ms.close()
    return ms, pending


def test_a_stream_of_leaves_never_joined_is_refused_at_the_fourth_leaf(tmp_path: Path) -> None:
    leaves = [ExportNode("bank", b"k%06d" % i, b"v", 1, 0) for i in range(1000)]
    ms = MultiStore.open(str(tmp_path / "streamed"), NAMES, sync=False)
    importer = ms.stream_import(1)
    with pytest.raises(InvalidImportError, match=r"heights \[0, 0, 0\] waiting for parents"):
        for rec in leaves:
            importer.add(rec)
    assert (importer.count, importer.pending_subtrees) == (3, 3)
    ms.close()


def test_subtrees_of_one_height_never_joined_are_refused_at_the_third(tmp_path: Path) -> None:
    pairs = []
    for i in range(0, 20, 2):
        a, b = b"k%02d" % i, b"k%02d" % (i + 1)
        pairs += [ExportNode("bank", a, b"v", 1, 0), ExportNode("bank", b, b"v", 1, 0)]
        pairs.append(ExportNode("bank", b, None, 1, 1))
    with pytest.raises(InvalidImportError, match=r"heights \[1, 1, 1\] waiting for parents"):
        _stream(tmp_path, pairs, version=1)


def test_a_subtree_two_higher_than_the_one_waiting_beside_it_is_refused(tmp_path: Path) -> None:
    leaf = [ExportNode("bank", b"k%d" % i, b"v", 1, 0) for i in range(9)]

    def inner(key: int, height: int) -> ExportNode:
        return ExportNode("bank", b"k%d" % key, None, 1, height)

    waiting = [leaf[0], leaf[1], inner(1, 1)]  # a subtree of height 1 that never gets its parent
    # beside it, a balanced subtree of height 3: left of height 1, right of height 2
    left = [leaf[3], leaf[4], inner(4, 1)]
    right = [leaf[6], leaf[7], leaf[8], inner(8, 1), inner(7, 2)]
    with pytest.raises(InvalidImportError, match="more than one higher than the one waiting"):
        _stream(tmp_path, [*waiting, *left, *right, inner(6, 3)], version=1)


def test_a_store_whose_records_resume_after_the_next_stores_is_refused(
    source: MultiStore, tmp_path: Path
) -> None:
    nodes = _nodes(source)
    first_task = next(i for i, n in enumerate(nodes) if n.store == "tasks")
    moved = [*nodes[: first_task - 1], *nodes[first_task:], nodes[first_task - 1]]  # bank's root last
    with pytest.raises(InvalidImportError, match="separate subtrees, not one tree"):
        _stream(tmp_path, moved)
    reordered = [*nodes[first_task:], *nodes[:first_task]]
    with pytest.raises(InvalidImportError, match="each store's records come together"):
        _stream(tmp_path, reordered)


def test_a_streamed_import_holds_no_leaf_values_while_subtrees_wait(tmp_path: Path) -> None:
    ms = MultiStore.open(str(tmp_path / "streamed"), NAMES, sync=False)
    importer = ms.stream_import(1)
    seen: list[bytes | None] = []
    persist = importer._persist  # observe what stays in memory once a node is written

    def spy(store: str, node: Node) -> None:
        persist(store, node)
        seen.append(node.value)

    importer._builder._on_node = spy
    for k in (b"a", b"b"):
        importer.add(ExportNode("bank", k, b"x" * 1000, 1, 0))
    assert seen == [None, None]
    ms.close()


# ----------------------------------------------------------------- properties

KEYS = st.binary(min_size=1, max_size=3)
BLOCKS = st.lists(
    st.lists(st.tuples(st.sampled_from(NAMES), KEYS, st.booleans()), max_size=40), min_size=1, max_size=3
)


def _bound(records: int) -> int:
    """Most subtrees a valid stream of ``records`` so far can leave pending over the NAMES stores:
    one root per finished store, and below the top, two per height up to the oldest one's."""
    return len(NAMES) - 1 + 2 * (max_tree_height(records) + 1) + 1


def _exported(root: str, blocks: list[list[tuple[str, bytes, bool]]]) -> tuple[list[ExportNode], bytes]:
    """The node stream and app hash of a store built by ``blocks`` of (store, key, keep) writes."""
    ms = MultiStore.open(root, NAMES, sync=False)
    for version, writes in enumerate(blocks, start=1):
        b = ms.branch()
        for store, key, keep in writes:
            if keep:
                b.store(store).set(key, b"v%d" % version)
            else:
                b.store(store).delete(key)
        ms.stage(b, version)
        ms.commit()
    nodes, app_hash = list(export_nodes(ms)), ms.last_app_hash
    ms.close()
    return nodes, app_hash


@settings(max_examples=60, deadline=None)
@given(blocks=BLOCKS)
def test_every_valid_export_streams_back_to_its_app_hash_within_the_bound(
    blocks: list[list[tuple[str, bytes, bool]]],
) -> None:
    root = tempfile.mkdtemp(prefix="import-prop-")
    try:
        nodes, app_hash = _exported(os.path.join(root, "source"), blocks)
        ms = MultiStore.open(os.path.join(root, "copy"), NAMES, sync=False)
        importer = ms.stream_import(len(blocks))
        for count, rec in enumerate(nodes, start=1):
            importer.add(rec)
            assert importer.pending_subtrees <= _bound(count)
        assert importer.commit({}) == app_hash
        ms.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _mutate(nodes: list[ExportNode], data: st.DataObject) -> list[ExportNode]:
    """One hostile edit of a node stream: drop, repeat, move or re-height a record, add a leaf, or drop
    every inner node (the leaves-only stream)."""
    out = list(nodes)
    kind = data.draw(st.sampled_from(["drop", "repeat", "move", "height", "leaf", "leaves_only"]))
    if kind == "leaves_only" or not out:
        return [n for n in out if n.height == 0]
    i = data.draw(st.integers(0, len(out) - 1))
    if kind == "drop":
        del out[i]
    elif kind == "repeat":
        out[i:i] = [out[i]] * data.draw(st.integers(1, 5))
    elif kind == "move":
        out.insert(data.draw(st.integers(0, len(out) - 1)), out.pop(i))
    elif kind == "height":
        out[i] = dataclasses.replace(out[i], height=data.draw(st.integers(0, 8)))
    else:
        leaf = ExportNode(out[i].store, data.draw(KEYS), b"x", 1, 0)
        out.insert(i, leaf)
    return out


@settings(max_examples=150, deadline=None)
@given(blocks=BLOCKS, data=st.data())
def test_a_mutated_stream_is_refused_or_forms_trees_and_never_exceeds_the_bound(
    blocks: list[list[tuple[str, bytes, bool]]], data: st.DataObject
) -> None:
    root = tempfile.mkdtemp(prefix="import-mut-")
    try:
        nodes, _ = _exported(os.path.join(root, "source"), blocks)
        mutated = _mutate(nodes, data)
        ms = MultiStore.open(os.path.join(root, "copy"), NAMES, sync=False)
        importer = ms.stream_import(len(blocks))
        try:
            for count, rec in enumerate(mutated, start=1):
                importer.add(rec)
                assert importer.pending_subtrees <= _bound(count)
            importer.commit({})
        except InvalidImportError:
            assert ms.last_version == 0
        ms.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


heights = st.lists(st.integers(0, 4), max_size=300)


@settings(max_examples=150, deadline=None)
@given(shape=heights)
def test_any_stream_of_records_keeps_pending_subtrees_within_the_bound(shape: list[int]) -> None:
    """Records of arbitrary heights (leaves ascending by key, inner keys whatever they are): the import
    refuses them or not, but never holds more pending subtrees than a valid tree could leave."""
    builder = NodeStreamBuilder(NAMES, 1, stores_in_order=True)
    try:
        for i, height in enumerate(shape):
            value = b"v" if height == 0 else None
            builder.add(ExportNode("bank", b"k%04d" % i, value, 1, height))
            assert builder.pending <= _bound(builder.count)
    except InvalidImportError:
        pass
