"""Length-delimited framing of the ABCI socket protocol (CometBFT v0.38).

Every message on an ABCI socket is a serialized protobuf (``Request`` one way, ``Response`` the other)
preceded by its length in bytes as an unsigned LEB128 varint. This is CometBFT's
``libs/protoio`` delimited format, used by ``abci/types.WriteMessage`` / ``ReadMessage``; there is no
other header. (v0.34 and earlier used a signed zig-zag varint; v0.38 does not.)

Limits, mirroring ``binary.ReadUvarint`` and ``abci/types/messages.go``:

- a length prefix is at most 10 bytes and must fit in 64 bits, otherwise it is malformed;
- a message is at most :data:`MAX_MESSAGE_SIZE` bytes (CometBFT's ``maxMsgSize = math.MaxInt32``).
  A lower limit would reject a request the node may legitimately send (a block alone may be 100 MiB,
  ``types.MaxBlockSizeBytes``), which would halt the node; a larger one would be refused by CometBFT.

Both violations raise a :class:`FramingError`; after one the byte stream has no recoverable message
boundary, so the connection must be closed.
"""

from __future__ import annotations

from typing import Final

MAX_MESSAGE_SIZE: Final[int] = 2**31 - 1
"""CometBFT v0.38's ABCI message size limit in bytes (``abci/types.maxMsgSize = math.MaxInt32``)."""

MAX_VARINT_LENGTH: Final[int] = 10
"""Longest valid uvarint encoding of a 64-bit integer (Go's ``binary.MaxVarintLen64``)."""


class FramingError(ValueError):
    """The byte stream violates the framing; no further message boundary can be trusted.

    ``frames`` holds the complete messages that preceded the fault in the same
    :meth:`FrameDecoder.feed` call, so a server can still answer them before closing.
    """

    def __init__(self, message: str, frames: list[bytes] | None = None) -> None:
        super().__init__(message)
        self.frames: list[bytes] = frames if frames is not None else []


class MalformedVarintError(FramingError):
    """A length prefix is longer than 10 bytes or overflows 64 bits."""


class MessageTooLargeError(FramingError):
    """A length prefix announces (or a caller tried to frame) a message above the size limit."""


def encode_uvarint(value: int) -> bytes:
    """Encode a non-negative integer below 2**64 as an unsigned LEB128 varint.

    Raises:
        ValueError: if ``value`` is negative or does not fit in 64 bits.
    """
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"uvarint out of range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_frame(message: bytes, max_message_size: int = MAX_MESSAGE_SIZE) -> bytes:
    """Prefix a serialized message with its uvarint length, ready to write to an ABCI socket.

    Raises:
        MessageTooLargeError: if the message exceeds ``max_message_size`` (CometBFT would refuse it).
    """
    if len(message) > max_message_size:
        raise MessageTooLargeError(
            f"ABCI message of {len(message)} bytes exceeds the maximum of {max_message_size} bytes"
        )
    return encode_uvarint(len(message)) + message


def _decode_uvarint(buf: bytearray, start: int) -> tuple[int, int] | None:
    """Decode a uvarint at ``buf[start:]``: ``(value, offset after it)``, or None if incomplete.

    Like Go's ``binary.ReadUvarint``, the 10th byte must be the last and at most 1; anything else
    would need more than 10 bytes or more than 64 bits.

    Raises:
        MalformedVarintError: if the varint runs past 10 bytes or overflows 64 bits.
    """
    value = 0
    for index in range(start, min(len(buf), start + MAX_VARINT_LENGTH)):
        byte = buf[index]
        position = index - start
        if position == MAX_VARINT_LENGTH - 1 and byte > 1:
            raise MalformedVarintError(
                f"malformed length prefix: varint longer than {MAX_VARINT_LENGTH} bytes "
                f"or overflowing 64 bits (bytes {bytes(buf[start : index + 1]).hex()})"
            )
        value |= (byte & 0x7F) << (7 * position)
        if byte < 0x80:
            return value, index + 1
    return None


class FrameDecoder:
    """Incremental decoder: feed it bytes as they are read, get back complete messages.

    Handles any split of the stream: a message spread over many reads, many messages in one read, and
    length prefixes cut in the middle. Work per :meth:`feed` is proportional to the bytes fed, so a
    large message arriving in small reads is not rescanned.
    """

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        """Create a decoder that rejects messages longer than ``max_message_size`` bytes."""
        if max_message_size < 0:
            raise ValueError(f"max_message_size must be non-negative, got {max_message_size}")
        self._max_message_size = max_message_size
        self._buffer = bytearray()
        # Length and header size of the message at the front of the buffer, once its prefix is read.
        self._header: tuple[int, int] | None = None
        self._broken: FramingError | None = None

    @property
    def pending(self) -> int:
        """Number of buffered bytes that do not yet form a complete message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data`` to the stream and return every message it completes, in order.

        Raises:
            MalformedVarintError: a length prefix is malformed.
            MessageTooLargeError: a length prefix exceeds the decoder's maximum message size.
            Both carry in ``frames`` the complete messages that preceded the fault. Once raised, the
            decoder stays broken and every later call raises the same error again.
        """
        if self._broken is not None:
            raise type(self._broken)(str(self._broken))
        self._buffer += data
        frames: list[bytes] = []
        position = 0
        try:
            while True:
                if self._header is None:
                    decoded = _decode_uvarint(self._buffer, position)
                    if decoded is None:
                        break
                    length, body_start = decoded
                    if length > self._max_message_size:
                        raise MessageTooLargeError(
                            f"ABCI message of {length} bytes exceeds the maximum of "
                            f"{self._max_message_size} bytes"
                        )
                    self._header = (length, body_start - position)
                length, header_size = self._header
                body_start = position + header_size
                body_end = body_start + length
                if body_end > len(self._buffer):
                    break
                frames.append(bytes(self._buffer[body_start:body_end]))
                self._header = None
                position = body_end
        except FramingError as error:
            error.frames = frames
            self._broken = error
            self._buffer.clear()
            self._header = None
            raise
        del self._buffer[:position]
        return frames
