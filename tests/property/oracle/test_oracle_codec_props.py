"""Property tests: the oracle's consensus codecs accept exactly one encoding and raise only their error.

Vote extensions and the injection: whatever the encoders build decodes to the same value; random or
mutated bytes either raise the declared error or are the canonical encoding of what they decode to.
"""

from __future__ import annotations

import sys
from contextlib import suppress

from hypothesis import given, settings
from hypothesis import strategies as st
from tendermint.abci import types_pb2 as abci

from abci_app.modules.oracle.aggregate import stake_weighted_median
from abci_app.modules.oracle.codec import (
    MAX_PAIRS,
    MAX_PRICE,
    ExtensionError,
    decode_extension,
    encode_extension,
)
from abci_app.modules.oracle.injection import (
    INJECTION_PREFIX,
    MAX_TOTAL_VOTING_POWER,
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
    KEYS,
    NIL,
    pubkey_of,
    sign,
)

PAIR_COUNT = 6
PAIRS = [f"coin{i}/usd" for i in range(PAIR_COUNT)]

reports = st.dictionaries(st.sampled_from(PAIRS), st.integers(min_value=1, max_value=MAX_PRICE), max_size=6)


def _mutations(raw: bytes) -> st.SearchStrategy[bytes]:
    """Bit flips, insertions, deletions and truncations of ``raw``."""
    if not raw:
        return st.binary(max_size=8)
    at = st.integers(min_value=0, max_value=len(raw) - 1)
    return st.one_of(
        st.tuples(at, st.integers(min_value=0, max_value=7)).map(
            lambda p: raw[: p[0]] + bytes([raw[p[0]] ^ (1 << p[1])]) + raw[p[0] + 1 :]
        ),
        st.tuples(at, st.binary(min_size=1, max_size=3)).map(lambda p: raw[: p[0]] + p[1] + raw[p[0] :]),
        st.tuples(at, st.integers(min_value=1, max_value=3)).map(lambda p: raw[: p[0]] + raw[p[0] + p[1] :]),
        at.map(lambda n: raw[:n]),
        st.binary(min_size=1, max_size=4).map(lambda tail: raw + tail),
    )


def _extension_is_canonical(raw: bytes, prices: dict[int, int]) -> None:
    """An accepted extension is exactly what the encoder builds from the prices it decodes to."""
    assert raw == encode_extension({PAIRS[i]: p for i, p in prices.items()}, PAIRS)


@given(reports)
def test_an_encoded_report_decodes_to_its_prices(report: dict[str, int]) -> None:
    raw = encode_extension(report, PAIRS)
    assert decode_extension(raw, PAIR_COUNT) == {PAIRS.index(p): v for p, v in report.items()}


@settings(max_examples=300)
@given(st.binary(max_size=200), st.integers(min_value=0, max_value=MAX_PAIRS))
def test_random_bytes_are_an_extension_error_or_canonical(raw: bytes, pair_count: int) -> None:
    try:
        prices = decode_extension(raw, pair_count)
    except ExtensionError:
        return
    pairs = [f"p{i}" for i in range(pair_count)]
    assert raw == encode_extension({pairs[i]: p for i, p in prices.items()}, pairs)


@settings(max_examples=300)
@given(st.data(), reports.filter(bool))
def test_a_mutated_extension_is_an_extension_error_or_canonical(
    data: st.DataObject, report: dict[str, int]
) -> None:
    raw = data.draw(_mutations(encode_extension(report, PAIRS)))
    try:
        prices = decode_extension(raw, PAIR_COUNT)
    except ExtensionError:
        return
    _extension_is_canonical(raw, prices)


@st.composite
def extended_commits(draw: st.DrawFn) -> abci.ExtendedCommitInfo:
    """What CometBFT may hand a proposer: any flags, powers in range, signed, unsigned or bad extensions."""
    round_ = draw(st.integers(min_value=0, max_value=2**31 - 1))
    count = draw(st.integers(min_value=0, max_value=len(KEYS)))
    info = abci.ExtendedCommitInfo(round=round_)
    budget = MAX_TOTAL_VOTING_POWER
    for i in range(count):
        vote = info.votes.add()
        vote.validator.address = ADDRESSES[i]
        vote.validator.power = draw(st.integers(min_value=0, max_value=budget))
        budget -= vote.validator.power
        vote.block_id_flag = draw(st.sampled_from([ABSENT, COMMIT, NIL]))
        if vote.block_id_flag != COMMIT:
            continue
        vote.vote_extension = draw(
            st.one_of(reports.map(lambda r: encode_extension(r, PAIRS)), st.binary(max_size=12))
        )
        kind = draw(st.sampled_from(["signed", "garbage", "none", "other round"]))
        if kind == "signed":
            vote.extension_signature = sign(KEYS[i], vote.vote_extension, round_)
        elif kind == "garbage":
            vote.extension_signature = draw(st.binary(max_size=70))
        elif kind == "other round":
            vote.extension_signature = sign(KEYS[i], vote.vote_extension, round_ + 1)
    return info


@settings(max_examples=150, deadline=None)
@given(extended_commits())
def test_what_our_proposer_builds_always_decodes(commit: abci.ExtendedCommitInfo) -> None:
    pruned = prune(commit, HEIGHT, CHAIN_ID, pubkey_of, PAIR_COUNT)
    tx = encode_injection(pruned)
    assert decode_injection(tx, PAIR_COUNT) == pruned
    assert encode_injection(decode_injection(tx, PAIR_COUNT)) == tx


@settings(max_examples=300, deadline=None)
@given(st.data(), extended_commits())
def test_a_mutated_injection_is_an_injection_error_or_canonical(
    data: st.DataObject, commit: abci.ExtendedCommitInfo
) -> None:
    tx = encode_injection(prune(commit, HEIGHT, CHAIN_ID, pubkey_of, PAIR_COUNT))
    body = data.draw(_mutations(tx[len(INJECTION_PREFIX) :]))
    try:
        decoded = decode_injection(INJECTION_PREFIX + body, PAIR_COUNT)
    except InjectionError:
        return
    assert encode_injection(decoded) == INJECTION_PREFIX + body
    with suppress(InjectionError):  # checking it against the original commit: only the declared error
        verify(decoded, last_commit_of(commit), HEIGHT, CHAIN_ID, pubkey_of, PAIR_COUNT, ADDRESSES[0])


@settings(max_examples=300)
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_are_an_injection_error_or_canonical(body: bytes, prefixed: bool) -> None:
    tx = INJECTION_PREFIX + body if prefixed else body
    try:
        decoded = decode_injection(tx, PAIR_COUNT)
    except InjectionError:
        return
    assert encode_injection(decoded) == tx


@settings(max_examples=50, deadline=None)
@given(extended_commits())
def test_decoding_does_not_depend_on_int_max_str_digits(commit: abci.ExtendedCommitInfo) -> None:
    tx = encode_injection(prune(commit, HEIGHT, CHAIN_ID, pubkey_of, PAIR_COUNT))
    expected = decode_injection(tx, PAIR_COUNT)
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert decode_injection(tx, PAIR_COUNT) == expected
        for vote in expected.votes:
            if vote.vote_extension:
                decode_extension(vote.vote_extension, PAIR_COUNT)
    finally:
        sys.set_int_max_str_digits(previous)


@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=MAX_PRICE), st.integers(-5, MAX_TOTAL_VOTING_POWER))
    )
)
def test_the_median_is_a_reported_price_or_a_value_error(entries: list[tuple[int, int]]) -> None:
    try:
        median = stake_weighted_median(entries)
    except ValueError:
        assert not entries or any(power <= 0 for _, power in entries)
        return
    assert median in {price for price, _ in entries}
    assert stake_weighted_median(list(reversed(entries))) == median
