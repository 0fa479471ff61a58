"""The AVL+ tree: IAVL hashing, balancing, reads and iteration on in-memory trees."""

from __future__ import annotations

import random
from hashlib import sha256

from abci_app.store.node import Node, decode, encode, inner_hash, leaf_hash
from abci_app.store.tree import EMPTY_ROOT_HASH, MutableTree, get, iterate, left_child, right_child


def _no_disk(nk: bytes) -> Node:
    raise AssertionError("in-memory trees never load from disk")


def _check_avl(node: Node) -> tuple[int, int, bytes, bytes]:
    """Return (height, size, min key, max key) after asserting AVL + IAVL invariants."""
    if node.height == 0:
        return 0, 1, node.key, node.key
    lh, ls, lmin, lmax = _check_avl(left_child(node, _no_disk))
    rh, rs, rmin, rmax = _check_avl(right_child(node, _no_disk))
    assert abs(lh - rh) <= 1
    assert node.height == max(lh, rh) + 1
    assert node.size == ls + rs
    assert node.key == rmin, "inner key is the smallest key of the right subtree"
    assert lmax < rmin
    return node.height, node.size, lmin, rmax


def test_empty_tree_hash_is_sha256_of_nothing() -> None:
    tree = MutableTree(None, 1, _no_disk)
    assert tree.hash() == EMPTY_ROOT_HASH == sha256(b"").digest()


def test_leaf_hash_follows_iavl_layout() -> None:
    # zigzag(0)=00 zigzag(1)=02 zigzag(5)=0a, uvarint(len key), key, 0x20, sha256(value)
    expected = sha256(b"\x00\x02\x0a" + b"\x03abc" + b"\x20" + sha256(b"val").digest()).digest()
    assert leaf_hash(b"abc", b"val", 5) == expected


def test_inner_hash_follows_iavl_layout() -> None:
    left, right = b"\x11" * 32, b"\x22" * 32
    expected = sha256(b"\x02\x04\x0e" + b"\x20" + left + b"\x20" + right).digest()
    assert inner_hash(1, 2, 7, left, right) == expected


def test_single_key_tree_root_is_the_leaf_hash() -> None:
    tree = MutableTree(None, 3, _no_disk)
    tree.set(b"k", b"v")
    assert tree.hash() == leaf_hash(b"k", b"v", 3)


def test_two_keys_make_an_inner_node_keyed_by_the_right_leaf() -> None:
    tree = MutableTree(None, 1, _no_disk)
    tree.set(b"b", b"2")
    tree.set(b"a", b"1")
    root = tree.root
    assert root is not None and root.height == 1 and root.key == b"b"
    assert tree.hash() == inner_hash(1, 2, 1, leaf_hash(b"a", b"1", 1), leaf_hash(b"b", b"2", 1))


def test_random_inserts_and_removes_keep_avl_invariants() -> None:
    rng = random.Random(5)
    tree = MutableTree(None, 1, _no_disk)
    mirror: dict[bytes, bytes] = {}
    for _ in range(3000):
        key = rng.randbytes(2)
        if rng.random() < 0.35:
            assert tree.remove(key) == (key in mirror)
            mirror.pop(key, None)
        else:
            value = rng.randbytes(3)
            tree.set(key, value)
            mirror[key] = value
    assert tree.root is not None
    _check_avl(tree.root)
    assert tree.root.size == len(mirror)
    assert list(iterate(tree.root, None, None, False, _no_disk)) == sorted(mirror.items())
    for key in list(mirror)[:200]:
        assert get(tree.root, key, _no_disk) == mirror[key]


def test_iteration_respects_bounds_in_both_directions() -> None:
    tree = MutableTree(None, 1, _no_disk)
    for i in range(0, 100, 2):
        tree.set(bytes([i]), b"v")
    up = [k[0] for k, _ in iterate(tree.root, bytes([11]), bytes([21]), False, _no_disk)]
    down = [k[0] for k, _ in iterate(tree.root, bytes([11]), bytes([21]), True, _no_disk)]
    assert up == [12, 14, 16, 18, 20]
    assert down == [20, 18, 16, 14, 12]


def test_removing_every_key_empties_the_tree() -> None:
    tree = MutableTree(None, 1, _no_disk)
    keys = [bytes([i]) for i in range(50)]
    for k in keys:
        tree.set(k, b"x")
    for k in reversed(keys):
        assert tree.remove(k)
    assert tree.root is None
    assert not tree.remove(b"\x00")


def test_node_encoding_round_trips_with_hash_check() -> None:
    leaf = Node(b"key", b"value", 9, 0, 1)
    leaf.hash = leaf_hash(b"key", b"value", 9)
    back = decode(b"\x00" * 12, encode(leaf))
    assert (back.key, back.value, back.version, back.hash) == (b"key", b"value", 9, leaf.hash)
