"""Vote extensions: only the canonical encoding of an in-range report is accepted."""

from __future__ import annotations

import pytest

from abci_app.modules.oracle.codec import (
    MAX_EXTENSION_BYTES,
    MAX_PAIRS,
    MAX_PRICE,
    ExtensionError,
    decode_extension,
    encode_extension,
)

E18 = 10**18
PAIRS = ["bitcoin/usd", "ethereum/usd"]


def test_the_encoders_own_output_decodes_to_the_same_prices() -> None:
    raw = encode_extension({"bitcoin/usd": 67_000 * E18, "ethereum/usd": 1}, PAIRS)
    assert decode_extension(raw, 2) == {0: 67_000 * E18, 1: 1}


def test_a_full_report_of_the_most_pairs_at_the_largest_price_fits_and_decodes() -> None:
    pairs = [f"coin{i:03d}/usd" for i in range(MAX_PAIRS)]
    raw = encode_extension(dict.fromkeys(pairs, MAX_PRICE), pairs)
    assert len(raw) <= MAX_EXTENSION_BYTES
    assert decode_extension(raw, MAX_PAIRS) == dict.fromkeys(range(MAX_PAIRS), MAX_PRICE)


def test_the_encoder_leaves_out_prices_it_could_not_decode() -> None:
    raw = encode_extension({"bitcoin/usd": MAX_PRICE + 1, "ethereum/usd": 0}, PAIRS)
    assert raw == b""


def test_an_empty_extension_means_no_report() -> None:
    assert decode_extension(b"", 2) == {}


# entry = 0a <len> (08 <pair>) (12 <len> <price>)
@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x03\x12\x01\x05\x18\x01",  # unknown field 3 at the top level
        b"\x0a\x05\x12\x01\x05\x18\x01",  # unknown field inside the entry
        b"\x0a\x05\x12\x01\x05\x08\x01",  # price before pair (out of order)
        b"\x0a\x05\x08\x00\x12\x01\x05",  # pair 0 written out (a default value)
        b"\x0a\x06\x08\x81\x00\x12\x01\x05",  # over-long varint for pair 1
        b"\x0a\x06\x12\x01\x05\x12\x01\x06",  # price given twice (the last one would win)
        b"\x0a\x02\x12\x00",  # an empty price written out
    ],
    ids=["unknown field", "unknown entry field", "out of order", "default", "long varint", "twice", "empty"],
)
def test_a_non_canonical_extension_is_rejected(raw: bytes) -> None:
    with pytest.raises(ExtensionError, match=r"canonical|decode"):
        decode_extension(raw, 2)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\x0a\x05\x08\x02\x12\x01\x05", "unknown"),  # pair 2 of 2
        (b"\x0a\x05\x08\x01\x12\x01\x05\x0a\x03\x12\x01\x05", "ascend"),  # 1 then 0
        (b"\x0a\x03\x12\x01\x05\x0a\x03\x12\x01\x05", "ascend"),  # 0 twice
        (b"\x0a\x00", r"1\.\.32 bytes"),  # an entry with no price
        (b"\x0a\x04\x12\x02\x00\x05", "no leading zero"),
        (b"\x0a\x23\x12\x21" + b"\x01" * 33, r"1\.\.32 bytes"),
    ],
)
def test_an_out_of_range_report_is_rejected(raw: bytes, reason: str) -> None:
    with pytest.raises(ExtensionError, match=reason):
        decode_extension(raw, 2)


def test_an_extension_above_the_size_cap_is_rejected_before_parsing() -> None:
    with pytest.raises(ExtensionError, match="cap"):
        decode_extension(b"\x0a" * (MAX_EXTENSION_BYTES + 1), 2)


@pytest.mark.parametrize("pair_count", [-1, MAX_PAIRS + 1])
def test_a_pair_count_out_of_range_is_refused(pair_count: int) -> None:
    with pytest.raises(ExtensionError, match="pair count"):
        decode_extension(b"\x0a\x03\x12\x01\x05", pair_count)
