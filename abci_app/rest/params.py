"""Path and query parameters into a request message, as grpc-gateway's runtime does.

The rules are those of grpc-gateway v2's ``runtime/query.go`` (DefaultQueryParser) and
``runtime/convert.go``: a parameter name is a dotted field path (proto or JSON names) through singular
message fields; a repeated field takes every value of its name in order; ``name[key]=value`` sets a
map entry; a name that is no field is ignored; a name under a field the path or body already binds is
ignored. Scalars parse as Go's ``strconv`` does (``ParseBool``, base-10 ``ParseInt``/``ParseUint`` with
the field's bit size), bytes as standard then URL-safe base64 (so ``pagination.key`` is the base64
``next_key`` of the previous page), enums by name or number, and the well-known Timestamp, Duration and
wrapper messages from their JSON text. Every failure is :class:`ParamError` (HTTP 400, InvalidArgument).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

MAX_PARAMS = 256
"""Query parameters per request at most (each value is bounded by the URL length)."""

_MAP_KEY = re.compile(r"^(.*)\[(.*)\]$", re.S)
_INT = re.compile(r"[+-]?0*([0-9]{1,20})")
_UINT = re.compile(r"0*([0-9]{1,20})")
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_GO_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_FLOAT32_MAX = 3.4028234663852886e38
_WRAPPERS = frozenset(
    f"google.protobuf.{n}Value"
    for n in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
_T = FieldDescriptor
_RANGES = {
    _T.TYPE_INT32: (-(2**31), 2**31 - 1),
    _T.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _T.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _T.TYPE_INT64: (-(2**63), 2**63 - 1),
    _T.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _T.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _T.TYPE_UINT32: (0, 2**32 - 1),
    _T.TYPE_FIXED32: (0, 2**32 - 1),
    _T.TYPE_UINT64: (0, 2**64 - 1),
    _T.TYPE_FIXED64: (0, 2**64 - 1),
}
_UNSIGNED = frozenset({_T.TYPE_UINT32, _T.TYPE_FIXED32, _T.TYPE_UINT64, _T.TYPE_FIXED64})


class ParamError(ValueError):
    """A parameter that cannot be set; the message names it and says what is wrong."""


def _int(fd: Any, text: str) -> int:
    unsigned = fd.type in _UNSIGNED
    match = (_UINT if unsigned else _INT).fullmatch(text)
    if match is None:  # bounded before int(): no interpreter digit limit
        raise ValueError(f"{text[:40]!r} is not a base-10 {'unsigned ' if unsigned else ''}integer")
    value = int(match.group(1)) * (-1 if text.startswith("-") else 1)
    low, high = _RANGES[fd.type]
    if not low <= value <= high:
        raise ValueError(f"{text[:40]!r} is out of range [{low}, {high}]")
    return value


def _bytes(text: str) -> bytes:
    """grpc-gateway's ``runtime.Bytes``: standard base64, else URL-safe base64 (padding required)."""
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(text.encode("ascii"), altchars=altchars, validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
    raise ValueError(f"{text[:40]!r} is not base64")


def _float(fd: Any, text: str) -> float:
    if "_" in text:
        raise ValueError(f"{text[:40]!r} is not a number")
    value = float(text)
    if fd.type == _T.TYPE_FLOAT and math.isfinite(value) and abs(value) > _FLOAT32_MAX:
        raise ValueError(f"{text[:40]!r} is out of a float's range")
    return value


def parse_scalar(fd: Any, text: str) -> object:
    """The value of a scalar or enum field from its text (ValueError when it is not one)."""
    if fd.type == _T.TYPE_BOOL:
        if text in _GO_TRUE:
            return True
        if text in _GO_FALSE:
            return False
        raise ValueError(f"{text[:40]!r} is not a boolean (true/false, 1/0, t/f)")
    if fd.type in _RANGES:
        return _int(fd, text)
    if fd.type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        return _float(fd, text)
    if fd.type == _T.TYPE_STRING:
        text.encode("utf-8")  # a lone surrogate is no proto string: UnicodeEncodeError
        return text
    if fd.type == _T.TYPE_BYTES:
        return _bytes(text)
    if fd.type == _T.TYPE_ENUM:
        value = fd.enum_type.values_by_name.get(text)
        if value is None and re.fullmatch(r"[+-]?[0-9]{1,10}", text):
            value = fd.enum_type.values_by_number.get(int(text))
        if value is None:
            raise ValueError(f"{text[:40]!r} is not a value of {fd.enum_type.full_name}")
        return value.number
    raise ValueError(f"a {fd.full_name} cannot be given as a parameter")


def _set_message(fd: Any, target: Message, text: str) -> None:
    name = fd.message_type.full_name
    if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        target.FromJsonString(text)  # type: ignore[attr-defined]
    elif name in _WRAPPERS:
        inner = fd.message_type.fields_by_name["value"]
        target.value = parse_scalar(inner, text)  # type: ignore[attr-defined]
    else:
        raise ValueError(f"unsupported message type: {name!r}")


def _field(msg: Message, name: str) -> Any:
    if not name.isascii():  # no field name is; upb's lookup fails on a lone surrogate (SystemError)
        return None
    desc = msg.DESCRIPTOR
    fd = desc.fields_by_name.get(name)
    if fd is None:
        fd = next((f for f in desc.fields if f.json_name == name), None)
    return fd


def set_field(msg: Message, path: Sequence[str], values: Sequence[str]) -> None:
    """Set the field at ``path`` (field names) from ``values``; unknown names are ignored."""
    if not path or not values:
        raise ParamError("a parameter needs a name and a value")
    fd: Any = None
    for i, name in enumerate(path):
        fd = _field(msg, name)
        if fd is None:
            return  # grpc-gateway: an extra query parameter that is not part of the request
        if i == len(path) - 1:
            break
        if fd.message_type is None or fd.is_repeated:
            raise ParamError(f"invalid path: {name!r} is not a message")
        sub = getattr(msg, fd.name)
        sub.SetInParent()  # Go's Mutable(): the message is present once a parameter names it
        msg = sub
    assert fd is not None
    where = ".".join(path)
    if fd.containing_oneof is not None and msg.WhichOneof(fd.containing_oneof.name) is not None:
        raise ParamError(f"field already set for oneof {fd.containing_oneof.name!r}")
    try:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            if len(values) != 2:
                raise ValueError(f"a map entry takes {where}[KEY]=VALUE, exactly one value per key")
            entry = fd.message_type
            key = parse_scalar(entry.fields_by_name["key"], values[0])
            value_fd = entry.fields_by_name["value"]
            if value_fd.message_type is not None:
                _set_message(value_fd, getattr(msg, fd.name)[key], values[1])
            else:
                getattr(msg, fd.name)[key] = parse_scalar(value_fd, values[1])
        elif fd.is_repeated:
            items = getattr(msg, fd.name)
            for text in values:
                if fd.message_type is not None:
                    _set_message(fd, items.add(), text)
                else:
                    items.append(parse_scalar(fd, text))
        else:
            if len(values) > 1:
                raise ParamError(f"too many values for field {fd.name!r}: give {where} once")
            if fd.message_type is not None:
                sub = getattr(msg, fd.name)
                sub.SetInParent()
                _set_message(fd, sub, values[0])
            else:
                setattr(msg, fd.name, parse_scalar(fd, values[0]))
    except ParamError:
        raise
    except (ValueError, TypeError, OverflowError, json_format.ParseError, KeyError) as exc:
        raise ParamError(f"parsing field {where!r}: {exc}") from exc


def _covered(path: Sequence[str], bound: Iterable[Sequence[str]]) -> bool:
    """grpc-gateway's filter (``HasCommonPrefix``): a parameter at or under a bound field is ignored."""
    return any(list(path[: len(prefix)]) == list(prefix) for prefix in bound)


def populate(
    msg: Message,
    path_values: dict[str, str],
    query: Sequence[tuple[str, str]],
    *,
    body: str = "",
) -> None:
    """Fill ``msg`` from the path variables, then the query parameters (none when the body is ``*``)."""
    for name, value in path_values.items():
        set_field(msg, name.split("."), [value])
    if body == "*":
        return
    if len(query) > MAX_PARAMS:
        raise ParamError(f"at most {MAX_PARAMS} query parameters, got {len(query)}")
    bound = [n.split(".") for n in path_values] + ([body.split(".")] if body else [])
    grouped: dict[str, list[str]] = {}
    for key, value in query:
        grouped.setdefault(key, []).append(value)
    for key, values in grouped.items():
        match = _MAP_KEY.fullmatch(key)
        if match is not None:
            key, values = match.group(1), [match.group(2), *values]
        path = key.split(".")
        if _covered(path, bound):
            continue
        set_field(msg, path, values)
