"""Vote extensions: the compact encoding of a validator's quotes, and the checks every node applies.

An extension is a ``VoteExtension`` protobuf: ``(pair index, price)`` entries with pair indexes into
the sorted ``Params.pairs``, strictly ascending, and each price an unsigned big-endian integer of
minimal length (no leading zero byte) with ``Params.decimals`` decimals. The empty byte string is a
valid extension meaning "no report". :data:`MAX_EXTENSION_BYTES` caps the size (a full report of
256 pairs at 2^256 is about 9 KiB; 16 KiB leaves room and stays far below CometBFT's 1 MiB limits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

from google.protobuf.message import DecodeError
from taskmaster.oracle.v1 import oracle_pb2

MAX_EXTENSION_BYTES = 16 * 1024
MAX_PRICE_BYTES = 32


class ExtensionError(ValueError):
    """A vote extension that no honest node would produce."""


def pair_id(pair: oracle_pb2.Pair) -> str:
    """``<coingecko id>/<quote>``."""
    return f"{pair.coingecko_id}/{pair.quote}"


def pair_ids(params: oracle_pb2.Params) -> list[str]:
    """The pair ids in index order."""
    return [pair_id(p) for p in params.pairs]


def encode_extension(prices: Mapping[str, int], pairs: Sequence[str]) -> bytes:
    """Encode the quotes of known pairs (unknown ones are left out); empty when there is none."""
    ext = oracle_pb2.VoteExtension()
    for index, pair in enumerate(pairs):
        price = prices.get(pair)
        if price is not None and 0 < price < 2 ** (8 * MAX_PRICE_BYTES):
            ext.prices.add(pair=index, price=price.to_bytes((price.bit_length() + 7) // 8, "big"))
    return ext.SerializeToString(deterministic=True) if ext.prices else b""


def decode_extension(raw: bytes, pair_count: int) -> dict[int, int]:
    """Decode and validate an extension into ``pair index -> price``; raises ExtensionError.

    Results are memoized by ``(raw, pair_count)`` (a pure function): ProcessProposal, FinalizeBlock and
    the proposer's pruning decode the same extensions, so each is parsed once. Treat the result as
    read-only.
    """
    return _decode_cached(raw, pair_count)


@lru_cache(maxsize=8192)
def _decode_cached(raw: bytes, pair_count: int) -> dict[int, int]:
    if not raw:
        return {}
    if len(raw) > MAX_EXTENSION_BYTES:
        raise ExtensionError(f"extension is {len(raw)} bytes; the cap is {MAX_EXTENSION_BYTES}")
    try:
        ext = oracle_pb2.VoteExtension.FromString(raw)
    except DecodeError as exc:
        raise ExtensionError(f"extension does not decode: {exc}") from exc
    if not ext.prices:
        raise ExtensionError("a non-empty extension must carry at least one price")
    out: dict[int, int] = {}
    last = -1
    for entry in ext.prices:
        if entry.pair >= pair_count:
            raise ExtensionError(f"pair index {entry.pair} is unknown ({pair_count} pairs)")
        if entry.pair <= last:
            raise ExtensionError(f"pair indexes must ascend strictly; {entry.pair} follows {last}")
        last = entry.pair
        if not entry.price or entry.price[0] == 0 or len(entry.price) > MAX_PRICE_BYTES:
            raise ExtensionError(
                f"price of pair {entry.pair} must be 1..{MAX_PRICE_BYTES} bytes, no leading zero"
            )
        out[entry.pair] = int.from_bytes(entry.price, "big")
    if ext.SerializeToString(deterministic=True) != raw:
        raise ExtensionError("extension is not in canonical encoding (unknown fields or reordering)")
    return out
