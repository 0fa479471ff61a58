"""Canonical protobuf decoding: consensus input is accepted only in the one encoding we would produce.

Protobuf parsers are lenient: they keep unknown fields, accept fields in any order, repeated scalar
fields both packed and unpacked, over-long varints, explicit default values and a field given twice
(last one wins). Each of these gives another byte string for the same message, so a relayer could
change a signed tx's hash, pad it to change its cost, or smuggle bytes past what is executed.

:func:`decode_canonical` parses ``raw`` and then requires that the deterministic serialization of the
parsed message, with every unknown field dropped, is exactly ``raw``. That single comparison rules out
all of the above at once; it is what "re-encoding gives the same bytes" means in docs/security.md.
Nested ``bytes`` fields that hold further messages (``Tx.body_bytes``, ``Any.value``) are checked by
their own decode.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

M = TypeVar("M", bound=Message)


class NonCanonicalError(ValueError):
    """Bytes that do not decode (``decoded`` False), or decode but are not the canonical encoding."""

    def __init__(self, message: str, *, decoded: bool = False) -> None:
        super().__init__(message)
        self.decoded = decoded


def canonical_bytes(message: Message) -> bytes:
    """The canonical encoding of ``message``: deterministic serialization without unknown fields."""
    stripped = type(message)()
    stripped.CopyFrom(message)
    stripped.DiscardUnknownFields()
    return stripped.SerializeToString(deterministic=True)


def decode_canonical(cls: type[M], raw: bytes, what: str) -> M:
    """Parse ``raw`` as ``cls``; raise :class:`NonCanonicalError` unless it is the canonical encoding.

    ``what`` names the input in the error ("tx body", "message 0", ...), so the message says which part
    to re-encode.
    """
    try:
        message = cls.FromString(raw)
    except (DecodeError, RecursionError) as exc:
        # no parser text in the message: it differs between protobuf implementations and versions,
        # and these messages end up in tx results
        raise NonCanonicalError(
            f"{what} does not decode as {cls.DESCRIPTOR.full_name} (malformed protobuf wire format)"
        ) from exc
    message.DiscardUnknownFields()  # in place: what is returned never carries bytes nobody validated
    if message.SerializeToString(deterministic=True) != raw:
        raise NonCanonicalError(
            f"{what} is not the canonical encoding of {cls.DESCRIPTOR.full_name} (unknown fields, "
            "fields out of order, default values written out or over-long varints); re-encode it with "
            "deterministic protobuf serialization and sign again",
            decoded=True,
        )
    return message
