"""The injection: what our proposer builds always decodes; other non-canonical bytes do not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tendermint.abci import types_pb2 as abci

from abci_app.modules.oracle.injection import (
    INJECTION_PREFIX,
    MAX_TOTAL_VOTING_POWER,
    MAX_VOTES,
    InjectionError,
    decode_injection,
    encode_injection,
    last_commit_of,
    prune,
    verify,
)
from tests.unit.oracle.oracle_votes import (
    ABSENT,
    ADDRESSES,
    CHAIN_ID,
    COMMIT,
    HEIGHT,
    NIL,
    commit,
    pubkey_of,
)

E18 = 10**18
REPORT = {"bitcoin/usd": 67_000 * E18, "ethereum/usd": 3_000 * E18}


def _built(info: abci.ExtendedCommitInfo) -> bytes:
    """What PrepareProposal sends: the pruned commit, encoded."""
    return encode_injection(prune(info, HEIGHT, CHAIN_ID, pubkey_of, 2))


@pytest.mark.parametrize(
    "info",
    [
        commit([REPORT, REPORT, REPORT, REPORT]),
        commit([REPORT, {}, {}, REPORT]),  # signed empty extensions: "no report"
        commit([REPORT, None, REPORT, REPORT]),  # an absent vote
        commit([REPORT, REPORT, {}, REPORT], flags=[COMMIT, COMMIT, NIL, COMMIT]),  # a nil vote
        commit([REPORT, REPORT, REPORT], powers=[10, 0, 5]),  # zero power
        commit([REPORT, REPORT], powers=[MAX_TOTAL_VOTING_POWER - 1, 1], round_=2**31 - 1),
        commit([]),
    ],
    ids=["full", "empty extensions", "absent", "nil", "zero power", "extremes", "no votes"],
)
def test_what_our_proposer_builds_always_decodes_to_the_pruned_commit(info: abci.ExtendedCommitInfo) -> None:
    pruned = prune(info, HEIGHT, CHAIN_ID, pubkey_of, 2)
    assert decode_injection(_built(info), 2) == pruned


def test_a_pruned_vote_decodes_as_cleared() -> None:
    info = commit([REPORT, REPORT, REPORT, REPORT])
    info.votes[1].extension_signature = bytes(64)  # fails verification: the proposer clears it
    info.votes[2].vote_extension = b"\x0a\x03\x12\x01\x05\x18\x01"  # non-canonical content
    info.votes[3].block_id_flag = NIL  # CometBFT never sends an extension on a nil vote; cleared anyway
    decoded = decode_injection(_built(info), 2)
    assert [(v.vote_extension, v.extension_signature) for v in decoded.votes[1:]] == [(b"", b"")] * 3
    assert decoded.votes[0].vote_extension


def test_fields_a_newer_cometbft_might_add_are_dropped_by_our_encoder() -> None:
    info = commit([REPORT, REPORT])
    raw = info.SerializeToString() + b"\xa0\x06\x01"  # field 100, varint
    from_cometbft = abci.ExtendedCommitInfo.FromString(raw)
    assert decode_injection(_built(from_cometbft), 2) == prune(info, HEIGHT, CHAIN_ID, pubkey_of, 2)


def _tampered(change: Callable[[abci.ExtendedCommitInfo], None]) -> bytes:
    info = prune(commit([REPORT, REPORT, None, REPORT]), HEIGHT, CHAIN_ID, pubkey_of, 2)
    change(info)
    return INJECTION_PREFIX + info.SerializeToString(deterministic=True)


def _set(path: str, value: object) -> Callable[[abci.ExtendedCommitInfo], None]:
    def change(info: abci.ExtendedCommitInfo) -> None:
        target: object = info
        *parents, last = path.split(".")
        for part in parents:
            target = target.votes[int(part)] if part.isdigit() else getattr(target, part)  # type: ignore[attr-defined]
        setattr(target, last, value)

    return change


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_set("round", -1), "round"),
        (_set("0.validator.address", ADDRESSES[0][:19]), "20"),
        (_set("0.validator.address", ADDRESSES[0] + b"\x00"), "20"),
        (_set("0.validator.address", ADDRESSES[1]), "twice"),
        (_set("0.validator.power", -1), "power"),
        (_set("0.validator.power", MAX_TOTAL_VOTING_POWER + 1), "power"),
        (_set("0.validator.power", MAX_TOTAL_VOTING_POWER), "total power"),
        (_set("0.block_id_flag", 0), "flag"),
        (_set("0.block_id_flag", 7), "flag"),
        (_set("2.vote_extension", b"\x0a\x03\x12\x01\x05"), "without a commit vote"),
        (_set("2.extension_signature", bytes(64)), "without a commit vote"),
        (_set("0.extension_signature", b""), "0 bytes"),
        (_set("0.extension_signature", bytes(63)), "63 bytes"),
        (_set("0.vote_extension", b"\x0a\x03\x12\x01\x05\x18\x01"), "canonical"),
        (_set("0.vote_extension", b"\x0a\x05\x08\x02\x12\x01\x05"), "unknown"),
    ],
)
def test_an_injection_outside_the_rules_is_refused(
    change: Callable[[abci.ExtendedCommitInfo], None], reason: str
) -> None:
    with pytest.raises(InjectionError, match=reason):
        decode_injection(_tampered(change), 2)


@pytest.mark.parametrize(
    "suffix",
    [b"\x18\x01", b"\x12\x02\x30\x01"],  # an unknown field on the commit; one inside a new vote
    ids=["unknown commit field", "unknown vote field"],
)
def test_an_injection_with_unknown_fields_is_refused(suffix: bytes) -> None:
    with pytest.raises(InjectionError, match="canonical"):
        decode_injection(_built(commit([REPORT, REPORT])) + suffix, 2)


def test_an_injection_with_an_over_long_varint_is_refused() -> None:
    good = _built(commit([REPORT], round_=1))
    body = good[len(INJECTION_PREFIX) :]
    assert body.startswith(b"\x08\x01")
    with pytest.raises(InjectionError, match="canonical"):
        decode_injection(INJECTION_PREFIX + b"\x08\x81\x00" + body[2:], 2)


def test_more_votes_than_cometbft_allows_are_refused() -> None:
    info = abci.ExtendedCommitInfo()
    for i in range(MAX_VOTES + 1):
        info.votes.add(block_id_flag=ABSENT).validator.address = i.to_bytes(20, "big")
    with pytest.raises(InjectionError, match="votes"):
        decode_injection(encode_injection(info), 2)


def test_extensions_are_checked_against_the_configured_pair_count() -> None:
    raw = _built(commit([REPORT]))
    assert decode_injection(raw, 2)
    with pytest.raises(InjectionError, match="unknown"):
        decode_injection(raw, 1)


@pytest.mark.parametrize("tx", [b"", b"\x0a\x00", INJECTION_PREFIX[:-1], INJECTION_PREFIX + b"\xff"])
def test_garbage_is_an_injection_error(tx: bytes) -> None:
    with pytest.raises(InjectionError):
        decode_injection(tx, 2)


def _verify(info: abci.ExtendedCommitInfo, own: bytes = b"") -> None:
    built = decode_injection(_built(info), 2)
    verify(built, last_commit_of(info), HEIGHT, CHAIN_ID, pubkey_of, 2, own_address=own)


def test_a_validator_refuses_an_injection_that_clears_its_own_extension() -> None:
    info = commit([REPORT, REPORT, REPORT, REPORT])
    info.votes[3].vote_extension = b""
    info.votes[3].extension_signature = b""
    _verify(info)  # any other node cannot tell it from a pruned vote
    _verify(info, own=ADDRESSES[0])
    with pytest.raises(InjectionError, match="own commit vote"):
        _verify(info, own=ADDRESSES[3])


def test_an_absent_own_vote_is_not_refused() -> None:
    _verify(commit([REPORT, REPORT, REPORT, None]), own=ADDRESSES[3])
