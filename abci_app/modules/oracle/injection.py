"""The oracle injection: the last commit's vote extensions, carried as tx 0 of the next block.

Bytes: :data:`INJECTION_PREFIX` followed by a serialized ``tendermint.abci.ExtendedCommitInfo``. The
prefix starts with a zero byte, which can never begin a protobuf ``Tx`` (field number 0 is invalid),
so a user tx never decodes as an injection and an injection never decodes as a user tx.

The proposer builds it from ``local_last_commit`` after re-verifying every extension's signature and
content, pruning what fails (extension and signature cleared: "no report"). Every node re-checks it in
ProcessProposal: it must match the proposed last commit (round, validators, powers, flags) vote for vote,
carry only valid signatures and valid extensions, and the votes with verified signatures must hold more
than 2/3 of the voting power.
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import DecodeError
from tendermint.abci import types_pb2 as abci
from tendermint.types import canonical_pb2, validator_pb2

from abci_app.abci.framing import encode_frame
from abci_app.modules.oracle.codec import ExtensionError, decode_extension
from abci_app.tx.ante import SignatureCache

INJECTION_PREFIX = b"\x00taskmaster/oracle-injection/v1\x00"
COMMIT = validator_pb2.BLOCK_ID_FLAG_COMMIT

PubkeyLookup = Callable[[bytes], bytes | None]
_SIGNATURES = SignatureCache(capacity=4096)  # the proposer prunes and every node verifies the same votes


class InjectionError(ValueError):
    """An injection no honest proposer would build."""


def is_injection(tx: bytes) -> bool:
    """True when ``tx`` carries the injection prefix."""
    return tx.startswith(INJECTION_PREFIX)


def encode_injection(commit: abci.ExtendedCommitInfo) -> bytes:
    """The injection tx bytes."""
    return INJECTION_PREFIX + commit.SerializeToString(deterministic=True)


def decode_injection(tx: bytes) -> abci.ExtendedCommitInfo:
    """Parse an injection tx; raises InjectionError."""
    if not is_injection(tx):
        raise InjectionError("tx 0 is not an oracle injection")
    try:
        return abci.ExtendedCommitInfo.FromString(tx[len(INJECTION_PREFIX) :])
    except DecodeError as exc:
        raise InjectionError(f"injection does not decode: {exc}") from exc


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
    if pubkey is None or len(vote.extension_signature) != 64:
        return False
    message = extension_sign_bytes(vote.vote_extension, height, round_, chain_id)
    return _SIGNATURES.verify(pubkey, message, vote.extension_signature)


def prune(
    commit: abci.ExtendedCommitInfo, height: int, chain_id: str, pubkey_of: PubkeyLookup, pair_count: int
) -> abci.ExtendedCommitInfo:
    """A copy of ``commit`` with every invalid extension (signature or content) cleared."""
    pruned = abci.ExtendedCommitInfo()
    pruned.CopyFrom(commit)
    for vote in pruned.votes:
        if vote.block_id_flag != COMMIT:
            vote.vote_extension = b""
            vote.extension_signature = b""
            continue
        ok = signature_valid(pubkey_of(vote.validator.address), vote, height, commit.round, chain_id)
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
) -> None:
    """Check an injection against the block's last commit; raises InjectionError saying what is wrong."""
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
        if not vote.vote_extension and not vote.extension_signature:
            continue  # absent or pruned: no report
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
