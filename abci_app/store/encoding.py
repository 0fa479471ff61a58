"""Byte encodings shared by the store: varints, length prefixes, big-endian integers and limits.

Everything hashed or stored goes through these few functions so the byte layout is fixed and
documented in ``docs/store.md``.
"""

from __future__ import annotations

from .errors import EmptyKeyError, KeyTooLargeError, ValueTooLargeError

MAX_KEY_LEN = 4096
"""Largest accepted key, in bytes."""

MAX_VALUE_LEN = 4 * 1024 * 1024
"""Largest accepted value, in bytes (4 MiB)."""


def uvarint(n: int) -> bytes:
    """Unsigned LEB128 varint (protobuf / Go ``binary.PutUvarint``) of ``n >= 0``."""
    if n < 0x80:
        return _BYTE[n]
    if n < _TABLE_SIZE:
        return _UVARINT[n]
    return _uvarint(n)


def _uvarint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag(n: int) -> bytes:
    """Signed varint (Go ``binary.PutVarint``): zig-zag then unsigned varint."""
    u = (n << 1) if n >= 0 else ((-n << 1) - 1)
    return _UVARINT[u] if u < _TABLE_SIZE else _uvarint(u)


# Hashing encodes millions of small heights and sizes: precomputed varints save most of that time.
_TABLE_SIZE = 1 << 16
_BYTE = [bytes((i,)) for i in range(0x80)]
_UVARINT = [_uvarint(i) for i in range(_TABLE_SIZE)]


def read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned varint at ``pos``; return ``(value, next_pos)``. Raises ``ValueError``."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        if shift >= 64:
            raise ValueError("varint overflows 64 bits")
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def read_zigzag(data: bytes, pos: int) -> tuple[int, int]:
    """Decode a signed (zig-zag) varint at ``pos``; return ``(value, next_pos)``."""
    u, pos = read_uvarint(data, pos)
    return ((u >> 1) ^ -(u & 1)), pos


def length_prefixed(data: bytes) -> bytes:
    """``uvarint(len(data)) || data`` (Go ``EncodeBytes`` / ICS23 ``VAR_PROTO``)."""
    return uvarint(len(data)) + data


def be64(n: int) -> bytes:
    """Eight-byte big-endian unsigned integer, so versions sort numerically as keys."""
    return n.to_bytes(8, "big")


def check_key(key: bytes) -> None:
    """Raise :class:`EmptyKeyError` / :class:`KeyTooLargeError` unless ``key`` is acceptable."""
    if not key:
        raise EmptyKeyError("store keys must be non-empty")
    if len(key) > MAX_KEY_LEN:
        raise KeyTooLargeError(f"key of {len(key)} bytes exceeds the limit of {MAX_KEY_LEN} bytes")


def check_value(value: bytes) -> None:
    """Raise :class:`ValueTooLargeError` when ``value`` exceeds :data:`MAX_VALUE_LEN`."""
    if len(value) > MAX_VALUE_LEN:
        raise ValueTooLargeError(f"value of {len(value)} bytes exceeds the limit of {MAX_VALUE_LEN} bytes")
