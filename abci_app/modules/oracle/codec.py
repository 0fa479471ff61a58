"""Vote extensions: the compact encoding of a validator's quotes, and the checks every node applies.

An extension is a ``VoteExtension`` protobuf: ``(pair index, price)`` entries with pair indexes into
the sorted ``Params.pairs``, strictly ascending, and each price an unsigned big-endian integer of
minimal length (no leading zero byte) with ``Params.decimals`` decimals. The empty byte string is a
valid extension meaning "no report".

Bounds: at most :data:`MAX_PAIRS` pairs (``set_params`` enforces it), prices of 1..:data:`MAX_PRICE_BYTES`
bytes, at most :data:`MAX_EXTENSION_BYTES` in all. A full report of 256 pairs at the largest price takes
256 x 39 bytes (about 9.8 KiB), so every extension :func:`encode_extension` builds passes
:func:`decode_extension`; 16 KiB stays far below CometBFT's limits.

Only the canonical encoding is accepted (:func:`abci_app.canonical.decode_canonical`): no unknown
fields, fields in order, no explicit defaults, minimal varints. An extension is signed by its validator
and aggregated by every node, so one report must have one byte string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from taskmaster.oracle.v1 import oracle_pb2

from abci_app.canonical import NonCanonicalError, decode_canonical

MAX_EXTENSION_BYTES = 16 * 1024
MAX_PRICE_BYTES = 32
MAX_PAIRS = 256
MAX_PRICE = 2 ** (8 * MAX_PRICE_BYTES) - 1


class ExtensionError(ValueError):
    """A vote extension that no honest node would produce."""


def pair_id(pair: oracle_pb2.Pair) -> str:
    """``<coingecko id>/<quote>``."""
    return f"{pair.coingecko_id}/{pair.quote}"


def pair_ids(params: oracle_pb2.Params) -> list[str]:
    """The pair ids in index order."""
    return [pair_id(p) for p in params.pairs]


def encode_extension(prices: Mapping[str, int], pairs: Sequence[str]) -> bytes:
    """Encode the quotes of known pairs (unknown ones and prices outside 1..MAX_PRICE are left out).

    Empty when there is nothing to report. Only the first :data:`MAX_PAIRS` pairs can be reported.
    """
    ext = oracle_pb2.VoteExtension()
    for index, pair in enumerate(pairs[:MAX_PAIRS]):
        price = prices.get(pair)
        if isinstance(price, int) and 0 < price <= MAX_PRICE:
            ext.prices.add(pair=index, price=price.to_bytes((price.bit_length() + 7) // 8, "big"))
    return ext.SerializeToString(deterministic=True) if ext.prices else b""


def decode_extension(raw: bytes, pair_count: int) -> dict[int, int]:
    """Decode and validate an extension into ``pair index -> price``; raises only ExtensionError.

    ``pair_count`` is the number of configured pairs (0..MAX_PAIRS). Results are memoized by
    ``(raw, pair_count)`` (a pure function) for the votes of the current and the previous height
    (:func:`forget_decodes_before`): ProcessProposal, FinalizeBlock and the proposer's pruning decode
    the same extensions, so each is parsed once. Treat the result as read-only.
    """
    if not isinstance(raw, bytes) or not isinstance(pair_count, int):
        raise ExtensionError("an extension is bytes and the pair count an int")
    if not 0 <= pair_count <= MAX_PAIRS:
        raise ExtensionError(f"pair count {pair_count} is outside 0..{MAX_PAIRS}")
    key = (raw, pair_count)
    cached = _DECODES.get(key)
    if cached is None:
        cached = _decode(raw, pair_count)
        _DECODES.put(key, cached)
    return cached


MAX_CACHED_DECODES = 2 * 10_000
"""Decoded extensions kept per height at most (CometBFT's MaxVotesCount is 10,000 votes a height)."""


class _RecentDecodes:
    """The decoded extensions of the votes of one height and of the height before, nothing older.

    A vote's extension is decoded at its own height and the next (proposal, pruning, the block), never
    later; an LRU sized for the largest validator set would instead keep every extension a small chain
    ever saw until it filled (thousands of blocks).
    """

    def __init__(self) -> None:
        self.height = 0
        self.current: dict[tuple[bytes, int], dict[int, int]] = {}
        self.previous: dict[tuple[bytes, int], dict[int, int]] = {}

    def get(self, key: tuple[bytes, int]) -> dict[int, int] | None:
        return self.current.get(key) or self.previous.get(key)

    def put(self, key: tuple[bytes, int], value: dict[int, int]) -> None:
        if len(self.current) < MAX_CACHED_DECODES:
            self.current[key] = value

    def advance_to(self, height: int) -> None:
        if height == self.height:
            return
        self.previous = self.current if height == self.height + 1 else {}
        self.current = {}
        self.height = height


_DECODES = _RecentDecodes()


def forget_decodes_before(height: int) -> None:
    """Votes of ``height`` are being checked: keep only the decodes of ``height`` and ``height - 1``."""
    _DECODES.advance_to(height)


def clear_decodes() -> None:
    """Forget every memoized decode (tests and benchmarks that measure a cold start)."""
    _DECODES.advance_to(-1)
    _DECODES.advance_to(0)


def _decode(raw: bytes, pair_count: int) -> dict[int, int]:
    if not raw:
        return {}
    if len(raw) > MAX_EXTENSION_BYTES:
        raise ExtensionError(f"extension is {len(raw)} bytes; the cap is {MAX_EXTENSION_BYTES}")
    try:
        ext = decode_canonical(oracle_pb2.VoteExtension, raw, "vote extension")
    except NonCanonicalError as exc:
        raise ExtensionError(str(exc)) from exc
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
    return out
