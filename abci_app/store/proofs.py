"""Proof generation (IAVL existence / non-existence, simple-Merkle store roots) and query-proof checking.

A query proof is two ops, as Cosmos SDK's rootmulti serves them:

1. ``ProofOp("ics23:iavl", key, CommitmentProof)``: the key (or its absence) in its store's tree;
2. ``ProofOp("ics23:simple", store name, CommitmentProof)``: the store's root hash in the app hash.

Absence in an *empty* store has no ICS23 form (no neighbours); it is served as a non-existence proof
with neither neighbour, and :func:`verify_query_proof` accepts it only when the second op proves the
store root to be the empty-tree hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

from cosmos.ics23.v1 import proofs_pb2 as pb

from .encoding import uvarint, zigzag
from .errors import ProofError
from .ics23 import (
    IAVL_SPEC,
    TENDERMINT_SPEC,
    calculate_root,
    verify_membership,
    verify_non_membership,
)
from .node import Node
from .tree import EMPTY_ROOT_HASH, Loader, iterate, left_child, right_child

IAVL_OP = "ics23:iavl"
SIMPLE_OP = "ics23:simple"


@dataclass(frozen=True)
class ProofOp:
    """One step of a query proof (CometBFT ``crypto.ProofOp``)."""

    type: str
    key: bytes
    data: bytes


def _iavl_leaf_op(version: int) -> pb.LeafOp:
    return pb.LeafOp(
        hash=pb.SHA256,
        prehash_key=pb.NO_HASH,
        prehash_value=pb.SHA256,
        length=pb.VAR_PROTO,
        prefix=b"\x00\x02" + zigzag(version),
    )


def existence_proof(root: Node, key: bytes, load: Loader) -> pb.ExistenceProof:
    """ICS23 existence proof of ``key`` (which must be present) in the hashed tree ``root``."""
    path: list[Node] = []
    node = root
    while node.height:
        path.append(node)
        node = left_child(node, load) if key < node.key else right_child(node, load)
    if node.key != key or node.value is None:
        raise KeyError(key)
    ops = []
    for inner in reversed(path):
        head = zigzag(inner.height) + zigzag(inner.size) + zigzag(inner.version)
        assert inner.lhash is not None and inner.rhash is not None
        if key < inner.key:
            ops.append(pb.InnerOp(hash=pb.SHA256, prefix=head + b"\x20", suffix=b"\x20" + inner.rhash))
        else:
            ops.append(pb.InnerOp(hash=pb.SHA256, prefix=head + b"\x20" + inner.lhash + b"\x20"))
    return pb.ExistenceProof(key=key, value=node.value, leaf=_iavl_leaf_op(node.version), path=ops)


def tree_proof(root: Node | None, key: bytes, load: Loader) -> pb.CommitmentProof:
    """Existence proof when ``key`` is in the tree, else a non-existence proof with its neighbours."""
    if root is not None:
        try:
            return pb.CommitmentProof(exist=existence_proof(root, key, load))
        except KeyError:
            pass
    nonexist = pb.NonExistenceProof(key=key)
    for left_key, _ in iterate(root, None, key, True, load):
        nonexist.left.CopyFrom(existence_proof(root, left_key, load))  # type: ignore[arg-type]
        break
    for right_key, _ in iterate(root, key, None, False, load):
        nonexist.right.CopyFrom(existence_proof(root, right_key, load))  # type: ignore[arg-type]
        break
    return pb.CommitmentProof(nonexist=nonexist)


def simple_leaf_hash(name: bytes, store_root: bytes) -> bytes:
    """Leaf of the store-roots tree: SDK KVPair bytes (len-prefixed name, len-prefixed SHA256(root))."""
    return sha256(b"\x00" + uvarint(len(name)) + name + b"\x20" + sha256(store_root).digest()).digest()


def _split(n: int) -> int:
    """Largest power of two strictly below ``n`` (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def simple_merkle_root(leaves: Sequence[bytes]) -> bytes:
    """CometBFT simple Merkle root of leaf hashes; SHA256(b"") when there are none."""
    n = len(leaves)
    if n == 0:
        return sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = _split(n)
    return sha256(b"\x01" + simple_merkle_root(leaves[:k]) + simple_merkle_root(leaves[k:])).digest()


def _simple_path(leaves: Sequence[bytes], index: int) -> list[pb.InnerOp]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        sibling = simple_merkle_root(leaves[k:])
        return [*_simple_path(leaves[:k], index), pb.InnerOp(hash=pb.SHA256, prefix=b"\x01", suffix=sibling)]
    sibling = simple_merkle_root(leaves[:k])
    return [*_simple_path(leaves[k:], index - k), pb.InnerOp(hash=pb.SHA256, prefix=b"\x01" + sibling)]


def app_hash_of(store_roots: Sequence[tuple[str, bytes]]) -> bytes:
    """App hash over ``(store name, root hash)`` pairs (sorted here by name bytes)."""
    pairs = sorted((name.encode(), root) for name, root in store_roots)
    return simple_merkle_root([simple_leaf_hash(name, root) for name, root in pairs])


def store_root_proof(store_roots: Sequence[tuple[str, bytes]], store: str) -> pb.CommitmentProof:
    """Existence proof of ``store``'s root hash in the app hash (TendermintSpec)."""
    pairs = sorted((name.encode(), root) for name, root in store_roots)
    names = [name for name, _ in pairs]
    index = names.index(store.encode())
    leaves = [simple_leaf_hash(name, root) for name, root in pairs]
    leaf = pb.LeafOp(
        hash=pb.SHA256, prehash_key=pb.NO_HASH, prehash_value=pb.SHA256, length=pb.VAR_PROTO, prefix=b"\x00"
    )
    exist = pb.ExistenceProof(
        key=names[index], value=pairs[index][1], leaf=leaf, path=_simple_path(leaves, index)
    )
    return pb.CommitmentProof(exist=exist)


def _parse(data: bytes) -> pb.CommitmentProof:
    msg = pb.CommitmentProof()
    try:
        msg.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        raise ProofError(f"undecodable CommitmentProof: {exc}") from exc
    return msg


def verify_query_proof(
    app_hash: bytes, store_name: str, key: bytes, value: bytes | None, proof_ops: Sequence[ProofOp]
) -> None:
    """Check a query's proof ops against ``app_hash``: membership of ``key -> value`` when ``value`` is
    given, non-membership when it is ``None``. Raises :class:`ProofError` on any failure."""
    if len(proof_ops) != 2:
        raise ProofError(f"expected 2 proof ops, got {len(proof_ops)}")
    iavl_op, simple_op = proof_ops
    if iavl_op.type != IAVL_OP or simple_op.type != SIMPLE_OP:
        raise ProofError(
            f"expected ops {IAVL_OP!r} then {SIMPLE_OP!r}, got {iavl_op.type!r}, {simple_op.type!r}"
        )
    if iavl_op.key != key:
        raise ProofError("the ics23:iavl op is for another key")
    if simple_op.key != store_name.encode():
        raise ProofError("the ics23:simple op is for another store")
    inner = _parse(iavl_op.data)
    kind = inner.WhichOneof("proof")
    if kind == "nonexist" and not inner.nonexist.HasField("left") and not inner.nonexist.HasField("right"):
        if value is not None:
            raise ProofError("membership needs an existence proof")
        if inner.nonexist.key != key:
            raise ProofError("non-existence proof is for another key")
        store_root = EMPTY_ROOT_HASH  # absence in an empty store: the store root itself is the proof
    else:
        store_root = calculate_root(inner)
        if value is None:
            verify_non_membership(IAVL_SPEC, store_root, inner, key)
        else:
            verify_membership(IAVL_SPEC, store_root, inner, key, value)
    verify_membership(TENDERMINT_SPEC, app_hash, _parse(simple_op.data), store_name.encode(), store_root)
