"""The ICS23 verifier: Go-generated vectors verify; every kind of malformed or tampered proof fails."""

from __future__ import annotations

import pytest
from cosmos.ics23.v1 import proofs_pb2 as pb

from abci_app.store.errors import ProofError
from abci_app.store.ics23 import (
    IAVL_SPEC,
    TENDERMINT_SPEC,
    calculate_root,
    verify_membership,
    verify_non_membership,
)
from abci_app.store.proofs import tree_proof
from abci_app.store.tree import MutableTree
from tests.unit.store.store_ics23_vectors import VECTORS


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_go_generated_proofs_verify(name: str) -> None:
    spec_name, key, proof, root, value = VECTORS[name]
    spec = IAVL_SPEC if spec_name == "iavl" else TENDERMINT_SPEC
    if value:
        verify_membership(
            spec, bytes.fromhex(root), bytes.fromhex(proof), bytes.fromhex(key), bytes.fromhex(value)
        )
    else:
        verify_non_membership(spec, bytes.fromhex(root), bytes.fromhex(proof), bytes.fromhex(key))


def _tree() -> MutableTree:
    tree = MutableTree(None, 4, lambda nk: pytest.fail("no disk"))
    for i in range(0, 200, 2):
        tree.set(i.to_bytes(2, "big"), b"value-%d" % i)
    tree.hash()
    return tree


def _exist(key: int = 100) -> tuple[pb.CommitmentProof, bytes, bytes, bytes]:
    tree = _tree()
    k = key.to_bytes(2, "big")
    proof = tree_proof(tree.root, k, tree.load)
    assert tree.root is not None and tree.root.hash is not None
    return proof, tree.root.hash, k, b"value-%d" % key


def test_store_existence_proof_verifies() -> None:
    proof, root, key, value = _exist()
    verify_membership(IAVL_SPEC, root, proof, key, value)
    assert calculate_root(proof) == root


def test_store_non_existence_proofs_verify_in_middle_and_at_both_ends() -> None:
    tree = _tree()
    assert tree.root is not None and tree.root.hash is not None
    for key in (b"\x00\x01", b"\x00\x63", b"\xff\xff", b"\x00"):
        verify_non_membership(IAVL_SPEC, tree.root.hash, tree_proof(tree.root, key, tree.load), key)


def test_wrong_value_is_rejected() -> None:
    proof, root, key, _ = _exist()
    with pytest.raises(ProofError, match="different value"):
        verify_membership(IAVL_SPEC, root, proof, key, b"forged")


def test_wrong_root_is_rejected() -> None:
    proof, _, key, value = _exist()
    with pytest.raises(ProofError, match="root"):
        verify_membership(IAVL_SPEC, bytes(32), proof, key, value)


def test_tampered_sibling_hash_is_rejected() -> None:
    proof, root, key, value = _exist()
    step = proof.exist.path[2]
    if step.suffix:
        step.suffix = step.suffix[:-1] + bytes([step.suffix[-1] ^ 1])
    else:
        step.prefix = step.prefix[:-2] + bytes([step.prefix[-2] ^ 1]) + step.prefix[-1:]
    with pytest.raises(ProofError, match="root"):
        verify_membership(IAVL_SPEC, root, proof, key, value)


def test_inner_op_carrying_both_sides_is_rejected() -> None:
    proof, root, key, value = _exist()
    step = next(s for s in proof.exist.path if s.suffix)
    step.prefix = step.prefix[:-1] + b"\x20" + bytes(32) + b"\x20"
    with pytest.raises(ProofError):
        verify_membership(IAVL_SPEC, root, proof, key, value)


def test_suffix_of_wrong_length_is_rejected() -> None:
    proof, root, key, value = _exist()
    step = next(s for s in proof.exist.path if s.suffix)
    step.suffix = step.suffix + b"\x00"
    with pytest.raises(ProofError, match="suffix"):
        verify_membership(IAVL_SPEC, root, proof, key, value)


def test_prefix_longer_than_spec_allows_is_rejected() -> None:
    proof, root, key, value = _exist()
    step = next(s for s in proof.exist.path if not s.suffix)
    step.prefix = step.prefix + bytes(20)
    with pytest.raises(ProofError):
        verify_membership(IAVL_SPEC, root, proof, key, value)


def test_prefix_shorter_than_spec_allows_is_rejected() -> None:
    proof, root, key, value = _exist()
    proof.exist.path[0].prefix = b"\x02\x04"
    with pytest.raises(ProofError):
        verify_membership(IAVL_SPEC, root, proof, key, value)


def test_inner_prefix_starting_with_leaf_prefix_is_rejected() -> None:
    proof, _, key, value = _exist()
    proof.exist.path[0].prefix = b"\x00" + proof.exist.path[0].prefix[1:]
    with pytest.raises(ProofError):
        verify_membership(TENDERMINT_SPEC, calculate_root(proof), proof, key, value)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("hash", pb.SHA512),
        ("prehash_key", pb.SHA256),
        ("prehash_value", pb.NO_HASH),
        ("length", pb.NO_PREFIX),
    ],
)
def test_leaf_op_not_matching_the_spec_is_rejected(field: str, bad: int) -> None:
    proof, _, key, value = _exist()
    setattr(proof.exist.leaf, field, bad)
    root = calculate_root(proof)  # even a self-consistent root does not help
    with pytest.raises(ProofError, match="leaf op"):
        verify_membership(IAVL_SPEC, root, proof, key, value)


def test_leaf_prefix_not_an_iavl_leaf_is_rejected() -> None:
    proof, _, key, value = _exist()
    proof.exist.leaf.prefix = b"\x02\x02\x08"  # height 1
    with pytest.raises(ProofError):
        verify_membership(IAVL_SPEC, calculate_root(proof), proof, key, value)


def test_existence_proof_used_for_non_membership_is_rejected() -> None:
    proof, root, key, _ = _exist()
    with pytest.raises(ProofError, match="non-existence"):
        verify_non_membership(IAVL_SPEC, root, proof, key)


def test_non_existence_with_non_adjacent_neighbours_is_rejected() -> None:
    tree = _tree()
    assert tree.root is not None and tree.root.hash is not None
    far = tree_proof(tree.root, b"\x00\x05", tree.load)  # neighbours 4 and 6
    other = tree_proof(tree.root, b"\x00\x0b", tree.load)  # neighbours 10 and 12
    far.nonexist.right.CopyFrom(other.nonexist.right)
    with pytest.raises(ProofError, match="neighbours"):
        verify_non_membership(IAVL_SPEC, tree.root.hash, far, b"\x00\x05")


def test_non_existence_for_a_present_key_is_rejected() -> None:
    tree = _tree()
    assert tree.root is not None and tree.root.hash is not None
    proof = tree_proof(tree.root, b"\x00\x05", tree.load)
    with pytest.raises(ProofError):
        verify_non_membership(IAVL_SPEC, tree.root.hash, proof, b"\x00\x04")


def test_garbage_bytes_are_rejected() -> None:
    with pytest.raises(ProofError):
        verify_membership(IAVL_SPEC, bytes(32), b"\xff\xff\xff", b"k", b"v")
