"""Mutators of protobuf wire bytes and of decoded messages, driven by a ``random.Random``.

Byte-level mutators know just enough of the wire format (tag, wire type, payload) to reorder, duplicate
or re-type fields, write over-long or overflowing varints and recurse into length-delimited payloads,
so a mutation of a valid tx lands in its body, auth info or a message, not only in the outer frame.
Message-level mutators set one field (possibly nested) to a value from the tables of boundary values;
the caller re-signs the result so it passes the signature check and reaches the handlers.

Everything here depends only on the ``Random`` it is given: the same seed gives the same inputs in
every process, whatever ``PYTHONHASHSEED`` is.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

UINT64_EDGES = (
    0,
    1,
    2,
    3,
    7,
    100,
    255,
    256,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    2**53,
    2**63 - 1,
    2**63,
    2**64 - 1,
)
INT64_EDGES = (0, 1, -1, 2, 2**31 - 1, -(2**31), 2**32, 2**53, 2**63 - 1, -(2**63))
NUMBER_STRINGS = (
    "",
    "0",
    "1",
    "2",
    "-1",
    "00",
    "01",
    "1.5",
    "1e9",
    " 1",
    "1 ",
    "+1",
    "0x10",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: str.isdigit() accepts it, int() too
    "9" * 19,
    "9" * 40,
    "9" * 700,
    "9" * 5000,
    str(2**63),
    str(2**256),
)
TEXT_STRINGS = ("", "a", "\x00", "é", "utask", "UTASK", "x" * 300, "/", "//", "../", "\ud7ff", "%s%n")

_TYPE_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


# -- the wire format -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WireField:
    """One top-level field: number, wire type and payload (a varint's bytes, or a record's contents)."""

    number: int
    wire: int
    payload: bytes


def varint(value: int) -> bytes:
    """Unsigned LEB128 of any non-negative integer (also beyond 64 bits, for hostile inputs)."""
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(raw: bytes, at: int) -> tuple[int, int] | None:
    value, shift = 0, 0
    while at < len(raw) and shift < 70:
        byte = raw[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7
    return None


def parse_fields(raw: bytes) -> list[WireField] | None:
    """The top-level fields of ``raw``, or None when it is not well-formed wire bytes."""
    fields: list[WireField] = []
    at = 0
    while at < len(raw):
        tag = _read_varint(raw, at)
        if tag is None or tag[0] >> 3 == 0:
            return None
        (key, at), wire = tag, tag[0] & 7
        if wire == 0:
            end = _read_varint(raw, at)
            if end is None:
                return None
            payload, at = raw[at : end[1]], end[1]
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            if at + size > len(raw):
                return None
            payload, at = raw[at : at + size], at + size
        elif wire == 2:
            length = _read_varint(raw, at)
            if length is None or length[1] + length[0] > len(raw):
                return None
            payload, at = raw[length[1] : length[1] + length[0]], length[1] + length[0]
        else:
            return None
        fields.append(WireField(key >> 3, wire, payload))
    return fields


def encode_field(f: WireField) -> bytes:
    """The wire bytes of one field (a record gets its length prefix)."""
    head = varint(f.number << 3 | f.wire)
    return head + (varint(len(f.payload)) + f.payload if f.wire == 2 else f.payload)


def encode_fields(fields: Sequence[WireField]) -> bytes:
    return b"".join(encode_field(f) for f in fields)


# -- byte-level mutators ---------------------------------------------------------------------------


def _flip_bits(rnd: random.Random, raw: bytes) -> bytes:
    if not raw:
        return b"\x01"
    out = bytearray(raw)
    for _ in range(rnd.randint(1, 3)):
        i = rnd.randrange(len(out))
        out[i] ^= 1 << rnd.randrange(8)
    return bytes(out)


def _truncate(rnd: random.Random, raw: bytes) -> bytes:
    return raw[: rnd.randrange(len(raw))] if raw else raw


def _append_unknown_field(rnd: random.Random, raw: bytes) -> bytes:
    number = rnd.choice((15, 16, 99, 999, 2**29 - 1, rnd.randint(5, 5000)))
    wire = rnd.choice((0, 1, 2, 5))
    payload = {0: varint(rnd.choice(UINT64_EDGES)), 1: bytes(8), 5: bytes(4)}.get(wire, rnd.randbytes(3))
    extra = encode_field(WireField(number, wire, payload))
    return raw + extra if rnd.random() < 0.7 else extra + raw


def _append_random(rnd: random.Random, raw: bytes) -> bytes:
    return raw + rnd.randbytes(rnd.randint(1, 16))


def _insert_random(rnd: random.Random, raw: bytes) -> bytes:
    at = rnd.randint(0, len(raw))
    return raw[:at] + rnd.randbytes(rnd.randint(1, 8)) + raw[at:]


def _delete_span(rnd: random.Random, raw: bytes) -> bytes:
    if not raw:
        return raw
    at = rnd.randrange(len(raw))
    return raw[:at] + raw[at + rnd.randint(1, 8) :]


def _with_fields(
    rnd: random.Random, raw: bytes, change: Callable[[random.Random, list[WireField]], bytes | None]
) -> bytes:
    """Apply a field-level change; bytes that do not parse get a bit flip instead."""
    fields = parse_fields(raw)
    result = change(rnd, fields) if fields else None
    return result if result is not None else _flip_bits(rnd, raw)


def _duplicate_field(rnd: random.Random, fields: list[WireField]) -> bytes | None:
    copy = rnd.choice(fields)
    fields.insert(rnd.randint(0, len(fields)), copy)
    return encode_fields(fields)


def _reorder_fields(rnd: random.Random, fields: list[WireField]) -> bytes | None:
    if len(fields) < 2:
        return None
    i, j = rnd.sample(range(len(fields)), 2)
    fields[i], fields[j] = fields[j], fields[i]
    return encode_fields(fields)


def _huge_varint(rnd: random.Random, fields: list[WireField]) -> bytes | None:
    """A varint field made over-long (same value), 2^64-1, or longer than 10 bytes (overflowing)."""
    numbers = [i for i, f in enumerate(fields) if f.wire == 0]
    if not numbers:
        return None
    i = rnd.choice(numbers)
    value = _read_varint(fields[i].payload, 0)
    current = value[0] if value else 0
    payload = rnd.choice(
        (
            bytes(b | 0x80 for b in varint(current)) + b"\x00",  # over-long encoding of the same value
            varint(2**64 - 1),
            varint(2**64),
            varint(2**70 + 5),
            b"\xff" * 11 + b"\x01",
        )
    )
    fields[i] = WireField(fields[i].number, 0, payload)
    return encode_fields(fields)


def _wrong_wire_type(rnd: random.Random, fields: list[WireField]) -> bytes | None:
    i = rnd.randrange(len(fields))
    wire = rnd.choice([w for w in (0, 1, 2, 3, 4, 5, 6, 7) if w != fields[i].wire])
    head = varint(fields[i].number << 3 | wire)
    before, after = encode_fields(fields[:i]), encode_fields(fields[i + 1 :])
    body = encode_field(fields[i])[len(varint(fields[i].number << 3 | fields[i].wire)) :]
    return before + head + body + after


def _bad_length(rnd: random.Random, fields: list[WireField]) -> bytes | None:
    records = [i for i, f in enumerate(fields) if f.wire == 2]
    if not records:
        return None
    i = rnd.choice(records)
    f = fields[i]
    length = rnd.choice((len(f.payload) + 1, len(f.payload) + 1000, 2**31, 2**63, 2**64 - 1))
    bad = varint(f.number << 3 | 2) + varint(length) + f.payload
    return encode_fields(fields[:i]) + bad + encode_fields(fields[i + 1 :])


def _nested(rnd: random.Random, fields: list[WireField]) -> bytes | None:
    """Mutate inside a length-delimited field that itself parses as fields, then fix its length."""
    records = [i for i, f in enumerate(fields) if f.wire == 2 and f.payload and parse_fields(f.payload)]
    if not records:
        return None
    i = rnd.choice(records)
    fields[i] = WireField(fields[i].number, 2, mutate_bytes(rnd, fields[i].payload, rounds=1))
    return encode_fields(fields)


def _field_mutator(
    change: Callable[[random.Random, list[WireField]], bytes | None],
) -> Callable[[random.Random, bytes], bytes]:
    return lambda rnd, raw: _with_fields(rnd, raw, change)


BYTE_MUTATORS: tuple[Callable[[random.Random, bytes], bytes], ...] = (
    _flip_bits,
    _truncate,
    _append_unknown_field,
    _append_random,
    _insert_random,
    _delete_span,
    _field_mutator(_duplicate_field),
    _field_mutator(_reorder_fields),
    _field_mutator(_huge_varint),
    _field_mutator(_wrong_wire_type),
    _field_mutator(_bad_length),
    _field_mutator(_nested),
    _field_mutator(_nested),  # twice the weight: it is the one that reaches a tx's inner parts
)


def mutate_bytes(rnd: random.Random, raw: bytes, rounds: int | None = None) -> bytes:
    """``raw`` after 1-3 (or ``rounds``) random byte-level mutations."""
    for _ in range(rounds if rounds is not None else rnd.randint(1, 3)):
        raw = rnd.choice(BYTE_MUTATORS)(rnd, raw)
    return raw


# -- message-level values and mutators -------------------------------------------------------------


@dataclass
class Hints:
    """Values that make a random message meaningful to the chain: addresses, task hashes, type URLs."""

    signer: str = ""
    addresses: list[str] = field(default_factory=list)
    task_hashes: list[str] = field(default_factory=list)
    type_urls: list[str] = field(default_factory=list)
    height: int = 1
    data_for: Callable[[str], bytes] | None = None  # serialized target message owned by an address


ADDRESS_FIELDS = frozenset(
    {
        "from_address",
        "to_address",
        "sender",
        "owner",
        "executor",
        "canceller",
        "account",
        "address",
        "operator_address",
        "validator_address",
        "validator",
    }
)
SIGNER_FIELDS = frozenset({"from_address", "sender", "owner", "executor", "operator_address", "validator"})
AMOUNT_FIELDS = frozenset({"amount", "gas_price", "max_payment", "bond"})
HEIGHT_FIELDS = frozenset({"start_block", "target_block", "start", "end", "deadline", "height", "block"})


def _bad_bech32(rnd: random.Random, address: str) -> str:
    if not address:
        return "tm1"
    i = rnd.randrange(len(address))
    return address[:i] + rnd.choice("qpzry9x8" + string.ascii_uppercase) + address[i + 1 :]


def string_value(rnd: random.Random, name: str, hints: Hints) -> str:
    """A value for a string field called ``name``: meaningful most of the time, hostile otherwise."""
    roll = rnd.random()
    if name in ADDRESS_FIELDS and hints.addresses:
        if name in SIGNER_FIELDS and hints.signer and roll < 0.75:
            return hints.signer
        if roll < 0.9:
            return rnd.choice(hints.addresses)
        return _bad_bech32(rnd, rnd.choice(hints.addresses)) if roll < 0.95 else rnd.choice(TEXT_STRINGS)
    if name in ("task_hash", "task_hashes"):
        if hints.task_hashes and roll < 0.7:
            return rnd.choice(hints.task_hashes)
        return rnd.choice(
            (rnd.randbytes(32).hex(), "", "zz" * 32, "00" * 31, rnd.randbytes(32).hex().upper())
        )
    if name in ("target", "type_url") and hints.type_urls and roll < 0.8:
        return rnd.choice(hints.type_urls)
    if name in AMOUNT_FIELDS or roll < 0.2:
        if roll < 0.5:
            return str(rnd.choice((1, 2, 10, 500, 10_000, 10**6, 10**9)))
        return rnd.choice(NUMBER_STRINGS)
    if name == "denom":
        return rnd.choice(("utask", "utask", "", "stake", "x" * 200))
    if name == "environment":
        return rnd.choice(("basic", "rescheduling", "minimal", "", "BASIC", "none"))
    if name in ("coingecko_id", "quote", "pair"):
        return rnd.choice(("bitcoin", "usd", "ethereum", "bitcoin/usd", ""))
    return rnd.choice((*TEXT_STRINGS, "".join(rnd.choices(string.printable, k=rnd.randint(0, 40)))))


def int_value(rnd: random.Random, fd: FieldDescriptor, hints: Hints) -> int:
    """A value for an integer field, inside the range of its protobuf type."""
    low, high = _TYPE_RANGES.get(fd.type, (0, 2**64 - 1))
    roll = rnd.random()
    if fd.name in HEIGHT_FIELDS and roll < 0.6:
        value = hints.height + rnd.randint(-2, 8)
    elif fd.name in ("gas", "gas_limit", "target_gas_reserve") and roll < 0.6:
        value = rnd.choice((1, 1000, 50_000, 200_000, 750_000, 750_001, 2_000_000))
    elif fd.name in ("interval", "executions") and roll < 0.6:
        value = rnd.randint(0, 5)
    elif roll < 0.85:
        value = rnd.choice(UINT64_EDGES if low == 0 else INT64_EDGES)
    else:
        value = rnd.randint(low, min(high, 2**20))
    return min(max(value, low), high)


def bytes_value(rnd: random.Random, name: str, hints: Hints) -> bytes:
    """A value for a bytes field: a target message for ``data``, else short or oversized bytes."""
    if name == "data" and hints.data_for is not None and rnd.random() < 0.7:
        return hints.data_for(hints.signer)
    return rnd.choice(
        (b"", rnd.randbytes(rnd.randint(1, 40)), bytes(32), rnd.randbytes(rnd.randint(100, 5000)))
    )


def scalar_value(rnd: random.Random, fd: FieldDescriptor, hints: Hints) -> object:
    """A value of the field's scalar type (never a message)."""
    if fd.type == FieldDescriptor.TYPE_STRING:
        return string_value(rnd, fd.name, hints)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return bytes_value(rnd, fd.name, hints)
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return rnd.random() < 0.5
    if fd.type == FieldDescriptor.TYPE_ENUM:
        assert fd.enum_type is not None
        known = [v.number for v in fd.enum_type.values]
        return rnd.choice([*known, *known, max(known) + 1, 2**31 - 1, -1])
    if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rnd.choice((0.0, -1.0, 1e300, float("nan")))
    return int_value(rnd, fd, hints)


def _is_map_entry(fd: FieldDescriptor) -> bool:
    message_type: Descriptor | None = fd.message_type
    return message_type is not None and message_type.GetOptions().map_entry


def _fields(message: Message) -> list[FieldDescriptor]:
    return list(message.DESCRIPTOR.fields)  # type: ignore[arg-type]  # upb's descriptor is the same API


def fill_message(rnd: random.Random, message: Message, hints: Hints, depth: int = 0) -> Message:
    """Set a random subset of ``message``'s fields (nested messages up to three levels), in place."""
    for fd in _fields(message):
        if rnd.random() < 0.25:
            continue
        repeats = rnd.choice((0, 1, 1, 2, 3)) if fd.is_repeated else 1
        for _ in range(repeats):
            _set_one(rnd, message, fd, hints, depth)
    return message


def _set_one(rnd: random.Random, message: Message, fd: FieldDescriptor, hints: Hints, depth: int) -> None:
    repeated = fd.is_repeated
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        if depth >= 3 or _is_map_entry(fd):
            return
        target = getattr(message, fd.name).add() if repeated else getattr(message, fd.name)
        fill_message(rnd, target, hints, depth + 1)
        if not repeated and not target.ListFields():
            target.SetInParent()
        return
    value = scalar_value(rnd, fd, hints)
    if repeated:
        getattr(message, fd.name).append(value)
    else:
        setattr(message, fd.name, value)


def _field_slots(message: Message, depth: int = 0) -> list[tuple[Message, FieldDescriptor]]:
    """Every (message, field) a mutation may change: all fields of ``message`` and of its set submessages."""
    slots = [(message, fd) for fd in _fields(message)]
    if depth < 3:
        for fd, value in message.ListFields():
            if fd.type != FieldDescriptor.TYPE_MESSAGE:
                continue
            items = list(value) if fd.is_repeated else [value]
            for item in items:
                slots += _field_slots(item, depth + 1)
    return slots


def mutate_message(rnd: random.Random, message: Message, hints: Hints) -> Message:
    """Change one field of ``message`` (or of a nested message) to a boundary or random value, in place."""
    owner, fd = rnd.choice(_field_slots(message))
    repeated = fd.is_repeated
    if repeated and rnd.random() < 0.3:
        owner.ClearField(fd.name)
    elif fd.type == FieldDescriptor.TYPE_MESSAGE:
        if _is_map_entry(fd):
            return message
        target = getattr(owner, fd.name).add() if repeated else getattr(owner, fd.name)
        fill_message(rnd, target, hints, depth=2)
    elif repeated:
        getattr(owner, fd.name).append(scalar_value(rnd, fd, hints))
    else:
        owner.ClearField(fd.name) if rnd.random() < 0.1 else setattr(
            owner, fd.name, scalar_value(rnd, fd, hints)
        )
    return message
