"""The uvarint length-delimited framing of the ABCI socket protocol."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.abci.framing import (
    MAX_MESSAGE_SIZE,
    FrameDecoder,
    MalformedVarintError,
    MessageTooLargeError,
    encode_frame,
    encode_uvarint,
)

MIB = 1024 * 1024


def test_frame_is_uvarint_length_then_message() -> None:
    assert encode_frame(b"") == b"\x00"
    assert encode_frame(b"abc") == b"\x03abc"
    assert encode_frame(b"x" * 300) == b"\xac\x02" + b"x" * 300


def test_uvarint_matches_go_binary_put_uvarint() -> None:
    assert encode_uvarint(0) == b"\x00"
    assert encode_uvarint(127) == b"\x7f"
    assert encode_uvarint(128) == b"\x80\x01"
    assert encode_uvarint(2**64 - 1) == b"\xff" * 9 + b"\x01"
    with pytest.raises(ValueError):
        encode_uvarint(2**64)


def test_max_message_size_is_cometbfts_max_msg_size() -> None:
    # abci/types/messages.go: maxMsgSize = math.MaxInt32
    assert MAX_MESSAGE_SIZE == 2**31 - 1


def test_message_split_at_every_byte_boundary_decodes_once() -> None:
    messages = [b"", b"a", b"x" * 200, bytes(range(256))]
    stream = b"".join(encode_frame(m) for m in messages)
    for cut in range(len(stream) + 1):
        decoder = FrameDecoder()
        assert decoder.feed(stream[:cut]) + decoder.feed(stream[cut:]) == messages
        assert decoder.pending == 0


def test_message_fed_one_byte_at_a_time() -> None:
    message = bytes(range(256)) * 3
    decoder = FrameDecoder()
    out: list[bytes] = []
    for byte in encode_frame(message):
        out += decoder.feed(bytes([byte]))
    assert out == [message]


def test_many_messages_in_one_read() -> None:
    messages = [str(i).encode() * (i % 7) for i in range(1000)]
    assert FrameDecoder().feed(b"".join(encode_frame(m) for m in messages)) == messages


def test_partial_message_stays_pending() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"hello")[:3]) == []
    assert decoder.pending == 3


@pytest.mark.parametrize("chunk_size", [1000, 65536, 65537, 3 * MIB])
def test_message_over_one_mib(chunk_size: int) -> None:
    big = bytes(range(256)) * (5 * MIB // 256 + 3)
    stream = encode_frame(b"before") + encode_frame(big) + encode_frame(b"after")
    decoder = FrameDecoder()
    out: list[bytes] = []
    for start in range(0, len(stream), chunk_size):
        out += decoder.feed(stream[start : start + chunk_size])
    assert out == [b"before", big, b"after"]


def test_varint_longer_than_ten_bytes_is_rejected() -> None:
    with pytest.raises(MalformedVarintError, match="longer than 10 bytes"):
        FrameDecoder().feed(b"\xff" * 11)


def test_varint_overflowing_64_bits_is_rejected() -> None:
    with pytest.raises(MalformedVarintError, match="overflowing 64 bits"):
        FrameDecoder().feed(b"\xff" * 9 + b"\x02")


def test_largest_ten_byte_varint_is_accepted_then_refused_as_oversize() -> None:
    with pytest.raises(MessageTooLargeError):
        FrameDecoder().feed(b"\xff" * 9 + b"\x01")


def test_malformed_varint_split_across_reads_is_rejected() -> None:
    decoder = FrameDecoder()
    for _ in range(9):
        assert decoder.feed(b"\x80") == []
    with pytest.raises(MalformedVarintError):
        decoder.feed(b"\x80")


def test_oversize_message_is_rejected_as_soon_as_its_length_is_read() -> None:
    decoder = FrameDecoder(max_message_size=1000)
    assert decoder.feed(encode_frame(b"y" * 1000)) == [b"y" * 1000]
    with pytest.raises(MessageTooLargeError, match="1001 bytes exceeds the maximum of 1000"):
        decoder.feed(encode_uvarint(1001))


def test_length_above_cometbft_limit_is_rejected_by_default() -> None:
    with pytest.raises(MessageTooLargeError):
        FrameDecoder().feed(encode_uvarint(MAX_MESSAGE_SIZE + 1))


def test_framing_error_carries_the_messages_before_the_fault() -> None:
    decoder = FrameDecoder()
    with pytest.raises(MalformedVarintError) as caught:
        decoder.feed(encode_frame(b"one") + encode_frame(b"two") + b"\xff" * 11)
    assert caught.value.frames == [b"one", b"two"]


def test_decoder_stays_broken_after_a_framing_error() -> None:
    decoder = FrameDecoder()
    with pytest.raises(MalformedVarintError):
        decoder.feed(b"\xff" * 11)
    with pytest.raises(MalformedVarintError):
        decoder.feed(encode_frame(b"fine"))


def test_encode_frame_refuses_oversize_message() -> None:
    with pytest.raises(MessageTooLargeError):
        encode_frame(b"z" * 11, max_message_size=10)


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(st.binary(max_size=600), max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=30),
)
def test_any_chunking_of_encoded_messages_decodes_to_the_same_messages(
    messages: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(encode_frame(m) for m in messages)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    decoder = FrameDecoder()
    out: list[bytes] = []
    for start, end in itertools.pairwise(bounds):
        out += decoder.feed(stream[start:end])
    assert out == messages
    assert decoder.pending == 0
