"""The versioned AVL+ tree: IAVL's insert / remove / rebalance, reads and iteration.

Mutations follow cosmos/iavl exactly (same rotations, same inner keys, every node created or touched in
a version stamped with that version), so the same operations give the same root hash as IAVL. Nodes that
are already new in the version being staged are changed in place instead of cloned again: that yields
the same hashes as IAVL's clone-every-time, with fewer allocations. Every persisted node that stops
being reachable is recorded in ``orphans`` so the commit can write its orphan record; the node
database (:mod:`.nodedb`) keys and saves the new nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from hashlib import sha256

from .node import Node, clone, inner_hash, leaf_hash, new_leaf

Loader = Callable[[bytes], Node]
EMPTY_ROOT_HASH = sha256(b"").digest()
"""Root hash of an empty tree (as IAVL v1): SHA-256 of the empty string."""


def left_child(node: Node, load: Loader) -> Node:
    """The left child of inner ``node``, loading (and attaching) it if it is only on disk."""
    child = node.left
    if child is None:
        assert node.lnk is not None
        child = node.left = load(node.lnk)
    return child


def right_child(node: Node, load: Loader) -> Node:
    """The right child of inner ``node``, loading (and attaching) it if it is only on disk."""
    child = node.right
    if child is None:
        assert node.rnk is not None
        child = node.right = load(node.rnk)
    return child


def root_hash(root: Node | None) -> bytes:
    """Hash of a hashed tree, :data:`EMPTY_ROOT_HASH` when empty."""
    if root is None:
        return EMPTY_ROOT_HASH
    assert root.hash is not None, "tree has unhashed nodes"
    return root.hash


def get(root: Node | None, key: bytes, load: Loader) -> bytes | None:
    """Value of ``key`` in the tree rooted at ``root``, ``None`` when absent."""
    node = root
    if node is None:
        return None
    while node.height:
        if key < node.key:
            child = node.left
            if child is None:
                child = node.left = load(node.lnk)  # type: ignore[arg-type]
        else:
            child = node.right
            if child is None:
                child = node.right = load(node.rnk)  # type: ignore[arg-type]
        node = child
    return node.value if node.key == key else None


def iterate(
    root: Node | None, start: bytes | None, end: bytes | None, reverse: bool, load: Loader
) -> Iterator[tuple[bytes, bytes]]:
    """Leaves with ``start <= key < end`` in key order (descending when ``reverse``); lazy."""
    if root is None:
        return
    stack = [root]
    while stack:
        node = stack.pop()
        if node.height == 0:
            k = node.key
            if (start is None or k >= start) and (end is None or k < end):
                assert node.value is not None
                yield k, node.value
            continue
        # left subtree holds keys < node.key, right subtree keys >= node.key
        want_left = start is None or start < node.key
        want_right = end is None or node.key < end
        if reverse:
            if want_left:
                stack.append(left_child(node, load))
            if want_right:
                stack.append(right_child(node, load))
        else:
            if want_right:
                stack.append(right_child(node, load))
            if want_left:
                stack.append(left_child(node, load))


def _link_left(parent: Node, child: Node) -> None:
    parent.left = child
    parent.lnk = child.nk
    parent.lhash = child.hash if child.nk is not None else None


def _link_right(parent: Node, child: Node) -> None:
    parent.right = child
    parent.rnk = child.nk
    parent.rhash = child.hash if child.nk is not None else None


class MutableTree:
    """A working copy of one store's tree being changed into ``version``; persisted nodes stay intact."""

    def __init__(self, root: Node | None, version: int, load: Loader) -> None:
        self.root = root
        self.version = version
        self.load = load
        self.orphans: list[bytes] = []

    def set(self, key: bytes, value: bytes) -> None:
        """Insert or update ``key``."""
        if self.root is None:
            self.root = new_leaf(key, value, self.version)
        elif not self._update_existing(key, value):
            self.root = self._set(self.root, key, value)[0]

    def _update_existing(self, key: bytes, value: bytes) -> bool:
        """Fast path for updating a present key: no rebalancing, so no recursion (same result as
        ``_set``: the leaf and every node on its path are renewed in this version)."""
        node = self.root
        assert node is not None
        path = []
        load = self.load
        while node.height:
            path.append(node)
            if key < node.key:
                node = node.left or left_child(node, load)
            else:
                node = node.right or right_child(node, load)
        if node.key != key:
            return False
        if node.nk is not None:
            self.orphans.append(node.nk)
        child = new_leaf(key, value, self.version)
        for parent in reversed(path):
            if parent.nk is None and parent.hash is None:
                # already renewed (and so are its ancestors): relink and stop
                if key < parent.key:
                    _link_left(parent, child)
                else:
                    _link_right(parent, child)
                return True
            parent = self._mutable(parent)
            if key < parent.key:
                _link_left(parent, child)
            else:
                _link_right(parent, child)
            child = parent
        self.root = child
        return True

    def remove(self, key: bytes) -> bool:
        """Delete ``key``; return whether it was present."""
        if self.root is None:
            return False
        new_root, _, removed = self._remove(self.root, key)
        if removed:
            self.root = new_root
        return removed

    def _mutable(self, node: Node) -> Node:
        """``node`` itself when created in this version, else a clone (recording the orphan)."""
        if node.nk is None:
            node.hash = None
            node.version = self.version
            return node
        self.orphans.append(node.nk)
        return clone(node, self.version)

    def _set(self, node: Node, key: bytes, value: bytes) -> tuple[Node, bool]:
        version = self.version
        if node.height == 0:
            nkey = node.key
            if key < nkey:
                inner = Node(nkey, None, version, 1, 2)
                _link_left(inner, new_leaf(key, value, version))
                _link_right(inner, node)
                return inner, False
            if key > nkey:
                inner = Node(key, None, version, 1, 2)
                _link_left(inner, node)
                _link_right(inner, new_leaf(key, value, version))
                return inner, False
            if node.nk is not None:
                self.orphans.append(node.nk)
            return new_leaf(key, value, version), True
        node = self._mutable(node)
        if key < node.key:
            child, updated = self._set(left_child(node, self.load), key, value)
            _link_left(node, child)
        else:
            child, updated = self._set(right_child(node, self.load), key, value)
            _link_right(node, child)
        if updated:
            return node, True
        return self._balance(node), False

    def _remove(self, node: Node, key: bytes) -> tuple[Node | None, bytes | None, bool]:
        """IAVL's recursiveRemove: returns (new subtree, new leftmost key to propagate, removed)."""
        if node.height == 0:
            if key != node.key:
                return node, None, False
            if node.nk is not None:
                self.orphans.append(node.nk)
            return None, None, True
        load = self.load
        if key < node.key:
            new_left, new_key, removed = self._remove(left_child(node, load), key)
            if not removed:
                return node, None, False
            if new_left is None:
                if node.nk is not None:
                    self.orphans.append(node.nk)
                return right_child(node, load), node.key, True
            node = self._mutable(node)
            _link_left(node, new_left)
            return self._balance(node), new_key, True
        new_right, new_key, removed = self._remove(right_child(node, load), key)
        if not removed:
            return node, None, False
        if new_right is None:
            if node.nk is not None:
                self.orphans.append(node.nk)
            return left_child(node, load), None, True
        node = self._mutable(node)
        _link_right(node, new_right)
        if new_key is not None:
            node.key = new_key
        return self._balance(node), None, True

    def _update(self, node: Node) -> None:
        """Recompute height and size of mutable inner ``node`` from its children."""
        left = left_child(node, self.load)
        right = right_child(node, self.load)
        lh = left.height
        rh = right.height
        node.height = (lh if lh > rh else rh) + 1
        node.size = left.size + right.size

    def _balance(self, node: Node) -> Node:
        """IAVL's balance of mutable ``node`` whose child subtree changed."""
        self._update(node)
        load = self.load
        left = left_child(node, load)
        right = right_child(node, load)
        diff = left.height - right.height
        if diff > 1:
            if left_child(left, load).height >= right_child(left, load).height:
                return self._rotate_right(node)
            _link_left(node, self._rotate_left(left))
            return self._rotate_right(node)
        if diff < -1:
            if right_child(right, load).height >= left_child(right, load).height:
                return self._rotate_left(node)
            _link_right(node, self._rotate_right(right))
            return self._rotate_left(node)
        return node

    def _rotate_right(self, node: Node) -> Node:
        node = self._mutable(node)
        pivot = self._mutable(left_child(node, self.load))
        _link_left(node, right_child(pivot, self.load))
        _link_right(pivot, node)
        self._update(node)
        self._update(pivot)
        return pivot

    def _rotate_left(self, node: Node) -> Node:
        node = self._mutable(node)
        pivot = self._mutable(right_child(node, self.load))
        _link_right(node, left_child(pivot, self.load))
        _link_left(pivot, node)
        self._update(node)
        self._update(pivot)
        return pivot

    def hash(self) -> bytes:
        """Hash every new node (post-order) and return the root hash."""
        if self.root is None:
            return EMPTY_ROOT_HASH
        return _hash_new(self.root)


def _hash_new(node: Node) -> bytes:
    h = node.hash
    if h is not None:
        return h
    if node.height == 0:
        assert node.value is not None
        h = node.hash = leaf_hash(node.key, node.value, node.version)
        return h
    lh = node.lhash if node.lnk is not None else _hash_new(node.left)  # type: ignore[arg-type]
    rh = node.rhash if node.rnk is not None else _hash_new(node.right)  # type: ignore[arg-type]
    node.lhash = lh
    node.rhash = rh
    assert lh is not None and rh is not None
    h = node.hash = inner_hash(node.height, node.size, node.version, lh, rh)
    return h


def rank(root: Node | None, key: bytes, load: Loader) -> int:
    """Number of leaves with a key below ``key``: one root-to-leaf walk over the nodes' sizes."""
    if root is None:
        return 0
    below = 0
    node = root
    while node.height:
        if key <= node.key:  # the right subtree's keys are >= node.key >= key
            node = left_child(node, load)
        else:
            below += left_child(node, load).size
            node = right_child(node, load)
    return below + (1 if node.key < key else 0)


def key_at(root: Node, index: int, load: Loader) -> bytes:
    """Key of the leaf at ``index`` (0-based, key order; ``0 <= index < root.size``): one walk."""
    node = root
    while node.height:
        left = left_child(node, load)
        if index < left.size:
            node = left
        else:
            index -= left.size
            node = right_child(node, load)
    return node.key
