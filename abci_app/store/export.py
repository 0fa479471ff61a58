"""Export and import of a version, in two typed forms that rebuild different things.

* Key/value stream, ``(store, key, value)`` (:data:`KVItem`): ``MultiStore.export()`` yields it in
  store-then-key order (genesis export); :func:`trees_from_kv` (``MultiStore.import_kv``) inserts the
  keys in order into empty trees at the import version. That is exactly the tree a chain gets by
  writing those keys in one block: every importer gets the same root hash, but it equals the
  exporter's only if the exporter's tree was built the same way (IAVL's shape and node versions depend
  on history, which key/values alone do not carry).
* Node stream, :class:`ExportNode` records: :func:`export_nodes` yields every node of a version in
  post-order, with height and version, as IAVL's exporter does; :func:`trees_from_nodes`
  (``MultiStore.import_nodes``) rebuilds the identical trees, hence the identical root hashes and app
  hash (state-sync snapshots).

Both builders only build in-memory trees; ``MultiStore.commit_imported`` hashes and commits them.
Every malformed input raises :class:`InvalidImportError` with what to change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .encoding import check_key, check_value
from .errors import InvalidImportError, StoreError
from .node import Node
from .tree import MutableTree, left_child, right_child

if TYPE_CHECKING:
    from .multistore import MultiStore

KVItem = tuple[str, bytes, bytes]
"""One entry of a key/value export: store name, key, value."""


@dataclass(frozen=True)
class ExportNode:
    """One tree node in post-order: a leaf has a value and height 0; an inner node has no value and
    the smallest key of its right subtree as ``key``. ``version`` is the version stamped in the node."""

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


# ----------------------------------------------------------------- node stream


def trees_from_nodes(
    store_names: Sequence[str], version: int, nodes: Iterable[ExportNode]
) -> dict[str, Node | None]:
    """One unhashed, unpersisted root per store (``None``: empty) rebuilt from post-order records.

    Checks that each store's records form exactly one AVL tree IAVL could hold (see
    :class:`NodeStreamBuilder`). Records of different stores may interleave.
    """
    builder = NodeStreamBuilder(store_names, version)
    for rec in nodes:
        builder.add(rec)
    return builder.roots()


NodeSink = Callable[[str, Node], None]
"""Called with each node the moment its subtree is complete (post-order): ``(store, node)``."""


class NodeStreamBuilder:
    """Rebuilds trees from a node stream one record at a time (push, so records can arrive in pieces).

    Checks that each store's records form exactly one AVL tree IAVL could hold: leaves carry values
    and ascend by key, inner nodes come after both children with the right height, balance and key,
    and no node is newer than ``version``.

    It keeps only the subtrees not yet joined under a parent, and refuses a record as soon as those
    could not be the pending subtrees of any post-order walk (:func:`_check_pending`): then at most
    ``2 * (h + 1) + 1`` wait per store, ``h`` the height of the oldest, whose subtree of at least
    Fibonacci(h) nodes has already arrived. With ``on_node`` detaching children and values, as the
    streaming importer does, memory is bounded by the tree's depth whatever the stream holds. With
    ``stores_in_order`` (the snapshot format), each store's records must come together, in the order
    of ``store_names``, and form one whole tree before the next store's start.
    """

    def __init__(
        self,
        store_names: Sequence[str],
        version: int,
        on_node: NodeSink | None = None,
        *,
        stores_in_order: bool = False,
    ) -> None:
        self.store_names = tuple(store_names)
        self.version = version
        self._on_node = on_node
        self._stacks: dict[str, list[tuple[Node, bytes]]] = {name: [] for name in store_names}
        self._last_leaf: dict[str, bytes] = {}
        self._in_order = stores_in_order
        self._current = 0  # with stores_in_order: index of the store whose records come now
        self.count = 0

    @property
    def pending(self) -> int:
        """Subtrees waiting for a parent, over every store (bounded by the trees' depth)."""
        return sum(len(stack) for stack in self._stacks.values())

    def add(self, rec: ExportNode) -> None:
        """Take the next record; :class:`InvalidImportError` when it cannot follow the ones before."""
        if not isinstance(rec, ExportNode):
            raise InvalidImportError(
                f"import_nodes takes ExportNode records (from export.export_nodes); got a "
                f"{type(rec).__name__}: for (store, key, value) triples use MultiStore.import_kv"
            )
        stack = self._stacks.get(rec.store)
        if stack is None:
            raise InvalidImportError(_unknown_store(rec.store, self.store_names))
        where = f"node {rec.key!r} (height {rec.height}) of store {rec.store!r}"
        if self._in_order:
            self._enter(rec.store, where)
        if not 0 < rec.version <= self.version:
            raise InvalidImportError(
                f"import: {where} has version {rec.version}, outside 1..{self.version}: import at the "
                "exported version (or later), from an unaltered export"
            )
        if rec.height == 0:
            entry = (_leaf(rec, where, self._last_leaf.get(rec.store)), rec.key)
            self._last_leaf[rec.store] = rec.key
        elif rec.height > 0:
            entry = _inner(rec, where, stack)
        else:
            raise InvalidImportError(f"import: {where} has a negative height")
        _check_pending(stack, entry[0], where)
        stack.append(entry)
        self.count += 1
        if self._on_node is not None:
            self._on_node(rec.store, entry[0])

    def _enter(self, store: str, where: str) -> None:
        """With ``stores_in_order``: ``store`` is the current store or a later one, once the current
        store's records formed one tree."""
        index = self.store_names.index(store)
        if index == self._current:
            return
        current = self.store_names[self._current]
        if index < self._current:
            raise InvalidImportError(
                f"import: {where} comes after records of store {current!r}: each store's records come "
                f"together, stores in the order {list(self.store_names)}"
            )
        _single_root(current, self._stacks[current])
        self._current = index

    def roots(self) -> dict[str, Node | None]:
        """Each store's root (``None``: empty); :class:`InvalidImportError` unless each is one tree."""
        return {name: _single_root(name, stack) for name, stack in self._stacks.items()}


def _check_pending(stack: list[tuple[Node, bytes]], node: Node, where: str) -> None:
    """:class:`InvalidImportError` unless pushing ``node`` on ``stack`` leaves pending subtrees a
    post-order walk of an AVL tree could leave.

    Between records the stack holds the left children of the ancestors whose right subtree the walk
    is in, top-down, then the node just completed. Such a left child's height is at least its
    parent's minus 2, and the next pending one lies in that parent's right subtree (height at most the
    parent's minus 1), so it is at most its height, and the one after it is lower: below the top,
    heights never rise and none occurs three times. The top, inside the right subtree of the last
    pending one's parent, is at most one higher than it. Only these entries change with a push.
    """
    heights = [entry[0].height for entry in stack[-3:]]
    if node.height == 0 and len(heights) >= 2:  # a leaf: the old top now waits for its right sibling
        top, below = heights[-1], heights[-2]
        if top > below or (len(heights) == 3 and heights[0] == below == top):
            raise InvalidImportError(
                f"import: {where} would leave subtrees of heights {heights} waiting for parents: in a "
                "post-order walk of a balanced tree those never rise and no height waits three times "
                "(the stream lacks inner nodes, or its records are out of order)"
            )
    if heights and node.height > heights[-1] + 1:
        raise InvalidImportError(
            f"import: {where} would follow a waiting subtree of height {heights[-1]}: a post-order walk "
            "of a balanced tree never completes a subtree more than one higher than the one waiting "
            "beside it (the stream lacks inner nodes, or its records are out of order)"
        )


def _leaf(rec: ExportNode, where: str, previous: bytes | None) -> Node:
    if rec.value is None:
        raise InvalidImportError(f"import: leaf {where} has no value: a height-0 record carries one")
    _check_entry(where, rec.key, rec.value)
    if previous is not None and rec.key <= previous:
        raise InvalidImportError(
            f"import: leaf {where} follows leaf {previous!r}: leaves must ascend by key (a post-order "
            "walk visits them left to right)"
        )
    return Node(rec.key, rec.value, rec.version, 0, 1)


def _inner(rec: ExportNode, where: str, stack: list[tuple[Node, bytes]]) -> tuple[Node, bytes]:
    """Join the two subtrees on top of ``stack`` under inner record ``rec``; (node, smallest key)."""
    if rec.value is not None:
        raise InvalidImportError(f"import: inner {where} has a value: only leaves (height 0) have one")
    if len(stack) < 2:
        raise InvalidImportError(
            f"import: inner {where} comes before both its children: records must be in post-order "
            "(left subtree, right subtree, then the node)"
        )
    right, right_first = stack.pop()
    left, left_first = stack.pop()
    if rec.height != max(left.height, right.height) + 1:
        raise InvalidImportError(
            f"import: inner {where} has children of heights {left.height} and {right.height}, so its "
            f"height must be {max(left.height, right.height) + 1}"
        )
    if abs(left.height - right.height) > 1:
        raise InvalidImportError(
            f"import: inner {where} is unbalanced (children of heights {left.height} and "
            f"{right.height}): an IAVL tree never is, so the stream is damaged"
        )
    if rec.key != right_first:
        raise InvalidImportError(
            f"import: inner {where} must have the smallest key of its right subtree, {right_first!r}"
        )
    node = Node(rec.key, None, rec.version, rec.height, left.size + right.size)
    node.left, node.right = left, right
    return node, left_first


def _single_root(name: str, stack: list[tuple[Node, bytes]]) -> Node | None:
    if len(stack) > 1:
        raise InvalidImportError(
            f"import: the records of store {name!r} form {len(stack)} separate subtrees, not one tree: "
            "the stream is truncated or lacks inner nodes"
        )
    return stack[0][0] if stack else None


# ----------------------------------------------------------------- key/value stream


def trees_from_kv(
    store_names: Sequence[str], version: int, items: Iterable[KVItem]
) -> dict[str, Node | None]:
    """One unhashed, unpersisted root per store (``None``: empty): the keys inserted in order at
    ``version``. Keys of each store must be strictly ascending; stores may interleave."""
    trees = {name: MutableTree(None, version, _nothing_on_disk) for name in store_names}
    last: dict[str, bytes] = {}
    for item in items:
        if not isinstance(item, tuple) or len(item) != 3:
            hint = ": for a node stream use MultiStore.import_nodes" if isinstance(item, ExportNode) else ""
            raise InvalidImportError(
                f"import_kv takes (store, key, value) triples; got a {type(item).__name__}{hint}"
            )
        store, key, value = item
        if not (isinstance(store, str) and isinstance(key, bytes) and isinstance(value, bytes)):
            kinds = ", ".join(type(x).__name__ for x in item)
            raise InvalidImportError(f"import_kv: a triple is (str, bytes, bytes); got ({kinds})")
        tree = trees.get(store)
        if tree is None:
            raise InvalidImportError(_unknown_store(store, store_names))
        _check_entry(f"key {key!r} of store {store!r}", key, value)
        previous = last.get(store)
        if previous is not None and key <= previous:
            raise InvalidImportError(
                f"import: key {key!r} of store {store!r} follows {previous!r}: keys of a store must be "
                "strictly ascending (as MultiStore.export yields them)"
            )
        tree.set(key, value)
        last[store] = key
    return {name: tree.root for name, tree in trees.items()}


def _nothing_on_disk(nk: bytes) -> Node:
    raise StoreError(f"an import builds its trees in memory; node {nk.hex()} cannot be loaded")


# ----------------------------------------------------------------- shared checks


def _check_entry(where: str, key: bytes, value: bytes) -> None:
    try:
        check_key(key)
        check_value(value)
    except StoreError as exc:
        raise InvalidImportError(f"import: {where}: {exc}") from exc


def _unknown_store(store: str, store_names: Sequence[str]) -> str:
    return (
        f"import: a record names store {store!r}, which is not among the stores being imported "
        f"({', '.join(store_names) or 'none'}): add it to store_names or leave its records out"
    )
