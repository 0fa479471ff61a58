"""The oracle injection: the last commit's vote extensions, carried as tx 0 of the next block.

Bytes: :data:`INJECTION_PREFIX` followed by the canonical encoding of a
``tendermint.abci.ExtendedCommitInfo``. The prefix starts with a zero byte, which can never begin a
protobuf ``Tx`` (field number 0 is invalid), so a user tx never decodes as an injection and an injection
never decodes as a user tx.

The proposer builds it from ``local_last_commit`` after re-verifying every extension's signature and
content, pruning what fails (extension and signature cleared). Every node re-checks it in
ProcessProposal: canonical and in range (:func:`decode_injection`), and matching the proposed last commit
(round, validators, powers, flags) vote for vote with only valid signatures and valid extensions, the
votes with verified signatures holding more than 2/3 of the voting power (:func:`verify`).

A commit vote comes in one of three shapes, told apart from the bytes alone (FinalizeBlock relies on it):
*signed* (a 64-byte extension signature over the extension, possibly empty: "no report"), *cleared* by
the proposer (no extension and no signature: the proposer says it failed verification; nobody else can
check that claim, so a cleared vote is never counted as a miss, see docs/oracle.md), and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from tendermint.abci import types_pb2 as abci
from tendermint.types import canonical_pb2, validator_pb2

from abci_app.abci.commits import (
    last_commit_of as last_commit_of,  # re-exported: tests and tools build proposals
)
from abci_app.abci.framing import encode_frame
from abci_app.canonical import NonCanonicalError, canonical_bytes, decode_canonical
from abci_app.modules.oracle.codec import (
    MAX_EXTENSION_BYTES,
    MAX_PAIRS,
    ExtensionError,
    decode_extension,
    forget_decodes_before,
)
from abci_app.tx.ante import SignatureCache

INJECTION_PREFIX = b"\x00taskmaster/oracle-injection/v1\x00"
COMMIT = validator_pb2.BLOCK_ID_FLAG_COMMIT
ABSENT = validator_pb2.BLOCK_ID_FLAG_ABSENT
NIL = validator_pb2.BLOCK_ID_FLAG_NIL

ADDRESS_BYTES = 20  # CometBFT validator address: sha256(pubkey)[:20]
SIGNATURE_BYTES = 64  # ed25519
MAX_VOTES = 10_000  # CometBFT types.MaxVotesCount, which also bounds the validator set
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8  # CometBFT types.MaxTotalVotingPower
MAX_ROUND = 2**31 - 1  # int32
# one vote at most: validator (2 + 22 + 10), extension (4 + MAX_EXTENSION_BYTES), signature (2 + 64),
# flag (2), the vote's own tag and length (4); plus the round (6). CometBFT's block size is tighter.
MAX_VOTE_BYTES = 34 + 4 + MAX_EXTENSION_BYTES + 66 + 2 + 4
MAX_INJECTION_BYTES = len(INJECTION_PREFIX) + 6 + MAX_VOTES * MAX_VOTE_BYTES

PubkeyLookup = Callable[[bytes], bytes | None]
# the proposer prunes and every node verifies the same votes, at their height and the next: entries
# of older heights are dropped (see signature_valid), so a small chain keeps a few, not thousands
_SIGNATURES = SignatureCache(capacity=4096, max_age_blocks=2)


class InjectionError(ValueError):
    """An injection no honest proposer would build."""


def is_injection(tx: bytes) -> bool:
    """True when ``tx`` carries the injection prefix."""
    return tx.startswith(INJECTION_PREFIX)


def is_cleared(vote: abci.ExtendedVoteInfo) -> bool:
    """A commit vote whose extension and signature the proposer removed (or a non-commit vote)."""
    return not vote.vote_extension and not vote.extension_signature


def encode_injection(commit: abci.ExtendedCommitInfo) -> bytes:
    """The injection tx bytes: the prefix and the canonical encoding (unknown fields dropped).

    ``local_last_commit`` comes from CometBFT; a field a newer CometBFT added would be kept by the parser
    as an unknown field and then fail every node's canonical check, so it is dropped here.
    """
    return INJECTION_PREFIX + canonical_bytes(commit)


def decode_injection(tx: bytes, pair_count: int = MAX_PAIRS) -> abci.ExtendedCommitInfo:
    """Parse an injection tx, accepting only what :func:`encode_injection` of a pruned commit gives.

    Checks: prefix, size (:data:`MAX_INJECTION_BYTES`), canonical encoding, round in 0..2^31-1, at most
    :data:`MAX_VOTES` votes with distinct 20-byte addresses, powers in 0..MAX_TOTAL_VOTING_POWER and
    their sum too, flags ABSENT, COMMIT or NIL, no extension on a non-commit vote, a commit vote either
    cleared or carrying a 64-byte signature, and each extension valid for ``pair_count`` pairs
    (consensus callers pass the params' count). Raises only InjectionError.
    """
    if not isinstance(tx, bytes) or not is_injection(tx):
        raise InjectionError("tx 0 is not an oracle injection")
    if len(tx) > MAX_INJECTION_BYTES:
        raise InjectionError(f"injection is {len(tx)} bytes; the cap is {MAX_INJECTION_BYTES}")
    try:
        commit = decode_canonical(abci.ExtendedCommitInfo, tx[len(INJECTION_PREFIX) :], "oracle injection")
    except NonCanonicalError as exc:
        raise InjectionError(str(exc)) from exc
    if not 0 <= commit.round <= MAX_ROUND:
        raise InjectionError(f"injection round {commit.round} is outside 0..{MAX_ROUND}")
    if len(commit.votes) > MAX_VOTES:
        raise InjectionError(f"injection has {len(commit.votes)} votes; at most {MAX_VOTES}")
    seen: set[bytes] = set()
    total = 0
    for i, vote in enumerate(commit.votes):
        _check_vote(i, vote, pair_count)
        if vote.validator.address in seen:
            raise InjectionError(f"vote {i}: validator {vote.validator.address.hex()} appears twice")
        seen.add(vote.validator.address)
        total += vote.validator.power
    if total > MAX_TOTAL_VOTING_POWER:
        raise InjectionError(f"total power {total} exceeds CometBFT's maximum {MAX_TOTAL_VOTING_POWER}")
    return commit


def _check_vote(i: int, vote: abci.ExtendedVoteInfo, pair_count: int) -> None:
    """The shape rules of one vote (see :func:`decode_injection`); raises InjectionError."""
    if len(vote.validator.address) != ADDRESS_BYTES:
        raise InjectionError(f"vote {i}: validator address is {len(vote.validator.address)} bytes, not 20")
    if not 0 <= vote.validator.power <= MAX_TOTAL_VOTING_POWER:
        raise InjectionError(f"vote {i}: power {vote.validator.power} is out of range")
    if vote.block_id_flag not in (ABSENT, COMMIT, NIL):
        raise InjectionError(f"vote {i}: block id flag {vote.block_id_flag} is not ABSENT, COMMIT or NIL")
    if vote.block_id_flag != COMMIT:
        if not is_cleared(vote):
            raise InjectionError(f"vote {i} carries an extension without a commit vote")
        return
    if is_cleared(vote):
        return
    if len(vote.extension_signature) != SIGNATURE_BYTES:
        raise InjectionError(
            f"vote {i}: extension signature is {len(vote.extension_signature)} bytes, not {SIGNATURE_BYTES}"
        )
    try:
        decode_extension(vote.vote_extension, pair_count)
    except ExtensionError as exc:
        raise InjectionError(f"vote {i}: {exc}") from exc


def extension_sign_bytes(extension: bytes, height: int, round_: int, chain_id: str) -> bytes:
    """CometBFT's sign bytes of a vote extension: a length-delimited CanonicalVoteExtension.

    (``protoio.MarshalDelimited``: the same uvarint length prefix as an ABCI socket frame.)
    """
    body = canonical_pb2.CanonicalVoteExtension(
        extension=extension, height=height, round=round_, chain_id=chain_id
    ).SerializeToString(deterministic=True)
    return encode_frame(body)


def signature_valid(
    pubkey: bytes | None, vote: abci.ExtendedVoteInfo, height: int, round_: int, chain_id: str
) -> bool:
    """Whether the vote's extension signature verifies under ``pubkey``."""
    if pubkey is None or len(vote.extension_signature) != SIGNATURE_BYTES:
        return False
    message = extension_sign_bytes(vote.vote_extension, height, round_, chain_id)
    _SIGNATURES.advance_to(height)
    forget_decodes_before(height)
    return _SIGNATURES.verify(pubkey, message, vote.extension_signature)


def prune(
    commit: abci.ExtendedCommitInfo, height: int, chain_id: str, pubkey_of: PubkeyLookup, pair_count: int
) -> abci.ExtendedCommitInfo:
    """A copy of ``commit`` with every invalid extension (signature or content) cleared.

    What it returns always passes :func:`decode_injection` once encoded, provided ``commit`` keeps
    CometBFT's own invariants (20-byte addresses, powers and round in range, known flags).
    """
    pruned = abci.ExtendedCommitInfo()
    pruned.CopyFrom(commit)
    pruned.DiscardUnknownFields()
    for vote in pruned.votes:
        ok = vote.block_id_flag == COMMIT and signature_valid(
            pubkey_of(vote.validator.address), vote, height, commit.round, chain_id
        )
        if ok:
            try:
                decode_extension(vote.vote_extension, pair_count)
            except ExtensionError:
                ok = False
        if not ok:
            vote.vote_extension = b""
            vote.extension_signature = b""
    return pruned


def verify(
    injected: abci.ExtendedCommitInfo,
    last_commit: abci.CommitInfo,
    height: int,
    chain_id: str,
    pubkey_of: PubkeyLookup,
    pair_count: int,
    own_address: bytes = b"",
) -> None:
    """Check a decoded injection against the block's last commit; raises InjectionError saying what.

    ``own_address`` (this node's validator address, empty for a full node) adds the one node-local
    rule: a proposal that clears this validator's own commit vote is refused. An honest proposer never
    does (this node's extension is valid and CometBFT verified its signature), and only this node can
    tell; the other checks depend on the block and the committed state alone.
    """
    if injected.round != last_commit.round:
        raise InjectionError(f"injection round {injected.round} != last commit round {last_commit.round}")
    if len(injected.votes) != len(last_commit.votes):
        raise InjectionError(
            f"injection has {len(injected.votes)} votes, last commit {len(last_commit.votes)}"
        )
    total = backed = 0
    for i, (vote, expected) in enumerate(zip(injected.votes, last_commit.votes, strict=True)):
        if (vote.validator.address, vote.validator.power, vote.block_id_flag) != (
            expected.validator.address,
            expected.validator.power,
            expected.block_id_flag,
        ):
            raise InjectionError(f"vote {i} does not match the last commit (validator, power or flag)")
        total += vote.validator.power
        if is_cleared(vote):
            if own_address and vote.validator.address == own_address and vote.block_id_flag == COMMIT:
                raise InjectionError(
                    f"vote {i} is this validator's own commit vote and the proposer cleared its signed "
                    "extension (an honest proposer never does)"
                )
            continue  # absent, nil or pruned: no report
        if vote.block_id_flag != COMMIT:
            raise InjectionError(f"vote {i} carries an extension without a commit vote")
        if not signature_valid(pubkey_of(vote.validator.address), vote, height, injected.round, chain_id):
            raise InjectionError(f"vote {i} has a bad extension signature")
        try:
            decode_extension(vote.vote_extension, pair_count)
        except ExtensionError as exc:
            raise InjectionError(f"vote {i}: {exc}") from exc
        backed += vote.validator.power
    if 3 * backed <= 2 * total:
        raise InjectionError(f"signed extensions hold {backed} of {total} power; more than 2/3 is required")
