"""An ICS23 verifier: membership and non-membership of ``CommitmentProof`` under a ``ProofSpec``.

Follows cosmos/ics23 (Go) including its IAVL-specific prefix validation, and is stricter in one place:
every inner op must match exactly one child position of the spec (prefix length and suffix length
together), so an inner op carrying sibling hashes on both sides is rejected. Failures raise
:class:`~abci_app.store.errors.ProofError` naming the failed check. Batch and compressed proofs are not
accepted; nor are specs with ``empty_child`` (no tree here uses one).
"""

from __future__ import annotations

import hashlib

from cosmos.ics23.v1 import proofs_pb2 as pb

from .encoding import read_zigzag, uvarint
from .errors import ProofError

ExistenceProof = pb.ExistenceProof
NonExistenceProof = pb.NonExistenceProof
CommitmentProof = pb.CommitmentProof

IAVL_SPEC = pb.ProofSpec(
    leaf_spec=pb.LeafOp(
        hash=pb.SHA256, prehash_key=pb.NO_HASH, prehash_value=pb.SHA256, length=pb.VAR_PROTO, prefix=b"\x00"
    ),
    inner_spec=pb.InnerSpec(
        child_order=[0, 1], child_size=33, min_prefix_length=4, max_prefix_length=12, hash=pb.SHA256
    ),
)
"""The ICS23 spec of IAVL trees (the ``ics23:iavl`` op)."""

TENDERMINT_SPEC = pb.ProofSpec(
    leaf_spec=pb.LeafOp(
        hash=pb.SHA256, prehash_key=pb.NO_HASH, prehash_value=pb.SHA256, length=pb.VAR_PROTO, prefix=b"\x00"
    ),
    inner_spec=pb.InnerSpec(
        child_order=[0, 1], child_size=32, min_prefix_length=1, max_prefix_length=1, hash=pb.SHA256
    ),
)
"""The ICS23 spec of CometBFT simple Merkle trees (the ``ics23:simple`` op)."""


def do_hash(op: int, data: bytes) -> bytes:
    """Apply hash operation ``op`` (a ``HashOp``) to ``data``."""
    if op == pb.NO_HASH:
        return data
    if op == pb.SHA256:
        return hashlib.sha256(data).digest()
    if op == pb.SHA512:
        return hashlib.sha512(data).digest()
    raise ProofError(f"unsupported hash op {op}")


def _length_prefix(op: int, data: bytes) -> bytes:
    if op == pb.NO_PREFIX:
        return data
    if op == pb.VAR_PROTO:
        return uvarint(len(data)) + data
    if op == pb.FIXED32_BIG:
        return len(data).to_bytes(4, "big") + data
    if op == pb.FIXED32_LITTLE:
        return len(data).to_bytes(4, "little") + data
    if op == pb.REQUIRE_32_BYTES:
        if len(data) != 32:
            raise ProofError(f"data must be 32 bytes, got {len(data)}")
        return data
    raise ProofError(f"unsupported length op {op}")


def apply_leaf(op: pb.LeafOp, key: bytes, value: bytes) -> bytes:
    """Hash of the leaf holding ``key``/``value`` under leaf op ``op``."""
    if not key:
        raise ProofError("leaf op needs a key")
    if not value:
        raise ProofError("leaf op needs a value")
    pkey = _length_prefix(op.length, do_hash(op.prehash_key, key))
    pvalue = _length_prefix(op.length, do_hash(op.prehash_value, value))
    return do_hash(op.hash, op.prefix + pkey + pvalue)


def apply_inner(op: pb.InnerOp, child: bytes) -> bytes:
    """Hash of the inner node made of ``prefix || child || suffix``."""
    if not child:
        raise ProofError("inner op needs a child value")
    return do_hash(op.hash, op.prefix + child + op.suffix)


def calculate_root(proof: pb.ExistenceProof | pb.CommitmentProof) -> bytes:
    """Root hash implied by an existence proof (or by either side of a non-existence proof)."""
    if isinstance(proof, pb.CommitmentProof):
        kind = proof.WhichOneof("proof")
        if kind == "exist":
            return calculate_root(proof.exist)
        if kind == "nonexist":
            side = proof.nonexist.left if proof.nonexist.HasField("left") else proof.nonexist.right
            return calculate_root(side)
        raise ProofError(f"unsupported commitment proof kind {kind!r}")
    if not proof.HasField("leaf"):
        raise ProofError("existence proof needs a leaf op")
    h = apply_leaf(proof.leaf, proof.key, proof.value)
    for step in proof.path:
        h = apply_inner(step, h)
    return h


def _is_iavl(spec: pb.ProofSpec) -> bool:
    return spec.leaf_spec == IAVL_SPEC.leaf_spec and spec.inner_spec == IAVL_SPEC.inner_spec


def _check_iavl_prefix(prefix: bytes, layer: int) -> int:
    """Validate IAVL's three varints (height, size, version) of an op prefix; return bytes left over."""
    pos = 0
    values = []
    try:
        for _ in range(3):
            v, pos = read_zigzag(prefix, pos)
            values.append(v)
    except ValueError as exc:
        raise ProofError(f"IAVL op prefix does not hold height/size/version varints: {exc}") from exc
    if min(values) < 0:
        raise ProofError("IAVL op prefix holds a negative height, size or version")
    if values[0] < layer:
        raise ProofError(f"IAVL op height {values[0]} is below its layer {layer}")
    if layer == 0 and values[:2] != [0, 1]:
        raise ProofError("IAVL leaf op prefix must encode height 0 and size 1")
    return len(prefix) - pos


def check_leaf(op: pb.LeafOp, spec: pb.ProofSpec) -> None:
    """Reject a leaf op that does not match the spec's leaf spec."""
    ls = spec.leaf_spec
    if _is_iavl(spec) and _check_iavl_prefix(op.prefix, 0) != 0:
        raise ProofError("IAVL leaf op prefix has trailing bytes")
    if op.hash != ls.hash:
        raise ProofError(f"leaf op: unexpected hash op {op.hash}")
    if op.prehash_key != ls.prehash_key:
        raise ProofError(f"leaf op: unexpected prehash_key {op.prehash_key}")
    if op.prehash_value != ls.prehash_value:
        raise ProofError(f"leaf op: unexpected prehash_value {op.prehash_value}")
    if op.length != ls.length:
        raise ProofError(f"leaf op: unexpected length op {op.length}")
    if not op.prefix.startswith(ls.prefix):
        raise ProofError(f"leaf op prefix does not start with {ls.prefix.hex()}")


def _padding(spec: pb.InnerSpec, branch: int) -> tuple[int, int, int]:
    """(min prefix, max prefix, suffix) lengths of an inner op whose proven child is ``branch``."""
    idx = list(spec.child_order).index(branch)
    prefix = idx * spec.child_size
    suffix = (len(spec.child_order) - 1 - idx) * spec.child_size
    return prefix + spec.min_prefix_length, prefix + spec.max_prefix_length, suffix


def _has_padding(op: pb.InnerOp, padding: tuple[int, int, int]) -> bool:
    lo, hi, suffix = padding
    return lo <= len(op.prefix) <= hi and len(op.suffix) == suffix


def order_from_padding(spec: pb.InnerSpec, op: pb.InnerOp) -> int:
    """The child position an inner op proves, from its prefix/suffix lengths; ProofError if none fits."""
    for branch in range(len(spec.child_order)):
        if _has_padding(op, _padding(spec, branch)):
            return branch
    raise ProofError("inner op prefix/suffix lengths fit no child position (e.g. siblings on both sides)")


def check_inner(op: pb.InnerOp, spec: pb.ProofSpec, layer: int) -> None:
    """Reject an inner op that does not match the spec's inner spec at ``layer`` (1 = above the leaf)."""
    ins = spec.inner_spec
    if op.hash != ins.hash:
        raise ProofError(f"inner op: unexpected hash op {op.hash}")
    if _is_iavl(spec):
        rest = _check_iavl_prefix(op.prefix, layer)
        if rest not in (1, 1 + ins.child_size):
            raise ProofError(f"IAVL inner op prefix has {rest} bytes after its varints")
    if op.prefix.startswith(spec.leaf_spec.prefix):
        raise ProofError(f"inner op prefix starts with the leaf prefix {spec.leaf_spec.prefix.hex()}")
    if len(op.prefix) < ins.min_prefix_length:
        raise ProofError(f"inner op prefix too short ({len(op.prefix)})")
    if len(op.prefix) > ins.max_prefix_length + (len(ins.child_order) - 1) * ins.child_size:
        raise ProofError(f"inner op prefix too long ({len(op.prefix)})")
    if len(op.suffix) % ins.child_size:
        raise ProofError(f"inner op suffix of {len(op.suffix)} bytes is not a whole number of children")
    order_from_padding(ins, op)


def check_existence(proof: pb.ExistenceProof, spec: pb.ProofSpec) -> None:
    """Every op of an existence proof matches the spec, and the depth is within bounds."""
    if not proof.HasField("leaf"):
        raise ProofError("existence proof needs a leaf op")
    check_leaf(proof.leaf, spec)
    if spec.min_depth and len(proof.path) < spec.min_depth:
        raise ProofError(f"proof path too short ({len(proof.path)})")
    if spec.max_depth and len(proof.path) > spec.max_depth:
        raise ProofError(f"proof path too long ({len(proof.path)})")
    for layer, step in enumerate(proof.path, start=1):
        check_inner(step, spec, layer)


def verify_existence(
    proof: pb.ExistenceProof, spec: pb.ProofSpec, root: bytes, key: bytes, value: bytes
) -> None:
    """Check that ``proof`` proves ``key -> value`` under ``root``."""
    check_existence(proof, spec)
    if proof.key != key:
        raise ProofError(f"proof is for key {proof.key.hex()}, not {key.hex()}")
    if proof.value != value:
        raise ProofError("proof is for a different value")
    if calculate_root(proof) != root:
        raise ProofError("calculated root does not match the expected root")


def _compare_key(spec: pb.ProofSpec, key: bytes) -> bytes:
    return do_hash(spec.leaf_spec.prehash_key, key) if spec.prehash_key_before_comparison else key


def _is_left_most(spec: pb.InnerSpec, path: list[pb.InnerOp]) -> bool:
    pad = _padding(spec, 0)
    return all(_has_padding(step, pad) for step in path)


def _is_right_most(spec: pb.InnerSpec, path: list[pb.InnerOp]) -> bool:
    pad = _padding(spec, len(spec.child_order) - 1)
    return all(_has_padding(step, pad) for step in path)


def _is_left_neighbor(spec: pb.InnerSpec, left: list[pb.InnerOp], right: list[pb.InnerOp]) -> bool:
    """Whether paths ``left`` and ``right`` (leaf first) lead to adjacent leaves."""
    left, right = list(left), list(right)
    while left and right and left[-1].prefix == right[-1].prefix and left[-1].suffix == right[-1].suffix:
        left.pop()
        right.pop()
    if not left or not right:
        return False
    top_left, top_right = left.pop(), right.pop()
    if order_from_padding(spec, top_right) != order_from_padding(spec, top_left) + 1:
        return False
    return _is_right_most(spec, left) and _is_left_most(spec, right)


def verify_nonexistence(proof: pb.NonExistenceProof, spec: pb.ProofSpec, root: bytes, key: bytes) -> None:
    """Check that ``proof`` proves ``key`` absent under ``root``."""
    has_left, has_right = proof.HasField("left"), proof.HasField("right")
    if not has_left and not has_right:
        raise ProofError("non-existence proof has neither a left nor a right neighbour")
    if proof.key and proof.key != key:
        raise ProofError("non-existence proof is for another key")
    ckey = _compare_key(spec, key)
    if has_left:
        verify_existence(proof.left, spec, root, proof.left.key, proof.left.value)
        if ckey <= _compare_key(spec, proof.left.key):
            raise ProofError("key is not right of the left neighbour")
    if has_right:
        verify_existence(proof.right, spec, root, proof.right.key, proof.right.value)
        if ckey >= _compare_key(spec, proof.right.key):
            raise ProofError("key is not left of the right neighbour")
    ins = spec.inner_spec
    if not has_left:
        if not _is_left_most(ins, list(proof.right.path)):
            raise ProofError("left neighbour missing but the right proof is not left-most")
    elif not has_right:
        if not _is_right_most(ins, list(proof.left.path)):
            raise ProofError("right neighbour missing but the left proof is not right-most")
    elif not _is_left_neighbor(ins, list(proof.left.path), list(proof.right.path)):
        raise ProofError("left and right proofs are not neighbours")


def _decode(proof: pb.CommitmentProof | bytes) -> pb.CommitmentProof:
    if isinstance(proof, pb.CommitmentProof):
        return proof
    msg = pb.CommitmentProof()
    try:
        msg.ParseFromString(proof)
    except Exception as exc:  # protobuf raises DecodeError, a plain Exception subclass
        raise ProofError(f"undecodable CommitmentProof: {exc}") from exc
    return msg


def verify_membership(
    spec: pb.ProofSpec, root: bytes, proof: pb.CommitmentProof | bytes, key: bytes, value: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` (a CommitmentProof, or its bytes) proves key->value."""
    msg = _decode(proof)
    if msg.WhichOneof("proof") != "exist":
        raise ProofError("membership needs an existence proof")
    verify_existence(msg.exist, spec, root, key, value)


def verify_non_membership(
    spec: pb.ProofSpec, root: bytes, proof: pb.CommitmentProof | bytes, key: bytes
) -> None:
    """Raise :class:`ProofError` unless ``proof`` proves ``key`` absent under ``root``."""
    msg = _decode(proof)
    if msg.WhichOneof("proof") != "nonexist":
        raise ProofError("non-membership needs a non-existence proof")
    verify_nonexistence(msg.nonexist, spec, root, key)
