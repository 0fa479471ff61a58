"""Export and import of a version.

Two forms:

* ``MultiStore.export()`` yields ``(store, key, value)`` in store-then-key order (genesis export).
  Importing that stream inserts the keys in order into empty trees at the import version, which is
  exactly the tree a chain gets by writing those keys in one block: the root hash is reproducible by
  every importer, but it equals the exporter's only if the exporter's tree was built the same way
  (IAVL's shape and node versions depend on history, which key/values alone do not carry).
* :func:`export_nodes` yields IAVL-style :class:`ExportNode` records in post-order (with height and
  version): importing those rebuilds the identical trees, hence the identical root hashes and app
  hash (state-sync snapshots).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import StoreError
from .node import Node
from .tree import Loader, MutableTree, left_child, right_child

if TYPE_CHECKING:
    from .multistore import MultiStore


@dataclass(frozen=True)
class ExportNode:
    """One tree node in post-order: a leaf has a value and height 0; an inner node has no value."""

    store: str
    key: bytes
    value: bytes | None
    version: int
    height: int


def export_nodes(ms: MultiStore, version: int | None = None) -> Iterator[ExportNode]:
    """Every node of a committed version, store by store (sorted names), each tree in post-order."""
    view = ms.view(version)
    for name in ms.store_names:
        root, load = view.roots[name]
        if root is None:
            continue
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node.height and not expanded:
                stack.append((node, True))
                stack.append((right_child(node, load), False))
                stack.append((left_child(node, load), False))
                continue
            yield ExportNode(name, node.key, node.value, node.version, node.height)


def _build_from_nodes(name: str, records: Iterable[ExportNode], version: int, load: Loader) -> MutableTree:
    stack: list[Node] = []
    for rec in records:
        if rec.height == 0:
            if rec.value is None:
                raise StoreError(f"import: leaf {rec.key!r} of store {name!r} has no value")
            stack.append(Node(rec.key, rec.value, rec.version, 0, 1))
            continue
        if len(stack) < 2:
            raise StoreError(f"import: inner node {rec.key!r} of store {name!r} lacks children")
        right = stack.pop()
        left = stack.pop()
        node = Node(rec.key, None, rec.version, rec.height, left.size + right.size)
        if rec.height != max(left.height, right.height) + 1:
            raise StoreError(f"import: inner node {rec.key!r} of store {name!r} has a wrong height")
        node.left, node.right = left, right
        stack.append(node)
    if len(stack) > 1:
        raise StoreError(f"import: store {name!r} does not form a single tree")
    tree = MutableTree(stack[0] if stack else None, version, load)
    tree.hash()
    return tree


def import_into(
    loaders: Mapping[str, Loader], store_names: Sequence[str], version: int, items: Iterable[object]
) -> dict[str, MutableTree]:
    """Build one hashed, unpersisted tree per store from triples or :class:`ExportNode` records."""
    triples: dict[str, list[tuple[bytes, bytes]]] = {name: [] for name in store_names}
    nodes: dict[str, list[ExportNode]] = {name: [] for name in store_names}
    for item in items:
        if isinstance(item, ExportNode):
            if item.store not in nodes:
                raise StoreError(f"import: unknown store {item.store!r}")
            nodes[item.store].append(item)
        elif isinstance(item, tuple) and len(item) == 3:
            store, key, value = item
            if store not in triples:
                raise StoreError(f"import: unknown store {store!r}")
            triples[store].append((key, value))
        else:
            raise StoreError(f"import: unsupported item {item!r}")
    trees = {}
    for name in store_names:
        if nodes[name] and triples[name]:
            raise StoreError(f"import: store {name!r} mixes node records and key/values")
        if nodes[name]:
            trees[name] = _build_from_nodes(name, nodes[name], version, loaders[name])
            continue
        tree = MutableTree(None, version, loaders[name])
        last: bytes | None = None
        for key, value in triples[name]:
            if last is not None and key <= last:
                raise StoreError(f"import: keys of store {name!r} are not strictly ascending")
            tree.set(key, value)
            last = key
        tree.hash()
        trees[name] = tree
    return trees
