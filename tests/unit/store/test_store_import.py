"""Import: the node stream and the key/value stream are separate entry points, and bad input is refused
with a message that says what to change, before anything is committed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abci_app.store import MultiStore
from abci_app.store.errors import InvalidImportError, StoreError
from abci_app.store.export import ExportNode, KVItem, export_nodes, trees_from_kv

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
