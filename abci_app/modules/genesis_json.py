"""The JSON form of a module's genesis state: how ``taskmaster export`` writes it and how it is checked.

Proto field names (snake_case, the names the genesis templates and exports use), zero and empty fields
included: leaving them out would make :func:`abci_app.modules.parse_genesis` fill them with defaults on
import, so a param set to 0 would not survive an export and re-import.

:func:`check_json` checks a JSON value against a message type's descriptor, the one source of truth of
a genesis section's shape (there is no JSON Schema kept beside the protos): every problem comes back
with the path of the offending field and what to give instead. It follows protobuf's JSON mapping
(https://protobuf.dev/programming-guides/json/), as ``json_format.ParseDict`` applies it, a little
stricter where a document is surely a mistake: a field given in both spellings, an enum number the
enum does not define, an integer written as ``"1_000"`` or ``1.0``.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message


def genesis_json(genesis: Message) -> dict[str, Any]:
    """``genesis`` as a JSON object with proto field names and every field present."""
    return json_format.MessageToDict(
        genesis, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a JSON document: where (``app_state.tasks.tasks[0].next_block``) and what to do."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


_INTEGERS: dict[int, tuple[str, int, int]] = {
    FieldDescriptor.TYPE_INT32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: ("int32", -(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: ("int64", -(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: ("uint32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: ("uint32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: ("uint64", 0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: ("uint64", 0, 2**64 - 1),
}
_DECIMAL = re.compile(r"-?[0-9]{1,20}")
_FLOAT_WORDS = ("NaN", "Infinity", "-Infinity")
_SHOWN = 40  # characters of an offending value quoted in a message


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."


def _json_type(value: Any) -> str:
    """The JSON name of a Python value's type, as a user wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _check_integer(value: Any, kind: int, path: str) -> list[Problem]:
    name, low, high = _INTEGERS[kind]
    article = "a" if name.startswith("u") else "an"
    wanted = f'{article} {name}: a JSON number or a decimal string such as "42"'
    if isinstance(value, bool) or not isinstance(value, int | str):
        return [Problem(path, f"must be {wanted}, not {_json_type(value)} {_shown(value)}")]
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        return [Problem(path, f"must be {wanted}, not {_shown(value)}")]
    number = int(value)  # at most 20 digits: no interpreter limit applies
    if not low <= number <= high:
        return [Problem(path, f"{number} is outside the range of {article} {name} ({low}..{high})")]
    return []


def _check_scalar(value: Any, field: FieldDescriptor, path: str) -> list[Problem]:
    kind = field.type
    if kind in _INTEGERS:
        return _check_integer(value, kind, path)
    if kind == FieldDescriptor.TYPE_STRING:
        if not isinstance(value, str):
            return [Problem(path, f"must be a string, not {_json_type(value)} {_shown(value)}")]
        return []
    if kind == FieldDescriptor.TYPE_BOOL:
        if not isinstance(value, bool):
            return [Problem(path, f"must be true or false, not {_json_type(value)} {_shown(value)}")]
        return []
    if kind == FieldDescriptor.TYPE_BYTES:
        return _check_bytes(value, path)
    if kind == FieldDescriptor.TYPE_ENUM:
        return _check_enum(value, field, path)
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return [Problem(path, f"must be a number, not {_json_type(value)} {_shown(value)}")]
        if isinstance(value, str) and value not in _FLOAT_WORDS:
            try:
                float(value)
            except ValueError:
                return [Problem(path, f"must be a number, not {_shown(value)}")]
        return []
    return [Problem(path, f"has proto type {kind}, which genesis JSON does not support")]


def _check_bytes(value: Any, path: str) -> list[Problem]:
    wanted = "bytes in base64 (standard or URL-safe alphabet)"
    if not isinstance(value, str):
        return [Problem(path, f"must be {wanted}, not {_json_type(value)} {_shown(value)}")]
    text = value.replace("-", "+").replace("_", "/")
    try:
        base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return [Problem(path, f"must be {wanted}, not {_shown(value)}")]
    return []


def _message_type(field: FieldDescriptor) -> Descriptor:
    descriptor = field.message_type
    assert descriptor is not None, field.full_name  # a message field always has its type
    return descriptor


def _check_enum(value: Any, field: FieldDescriptor, path: str) -> list[Problem]:
    enum = field.enum_type
    assert enum is not None, field.full_name  # an enum field always has its type
    names = [v.name for v in enum.values]
    if isinstance(value, str) and value in names:
        return []
    if isinstance(value, int) and not isinstance(value, bool) and value in enum.values_by_number:
        return []
    return [Problem(path, f"{_shown(value)} is not a {enum.name}; give one of {', '.join(names)}")]


def _unknown_field(name: str, descriptor: Descriptor, path: str) -> Problem:
    known = [f.name for f in descriptor.fields]
    spellings = {f.json_name: f.name for f in descriptor.fields} | {f.name: f.name for f in descriptor.fields}
    close = difflib.get_close_matches(name, list(spellings), n=1)
    hint = f"did you mean {spellings[close[0]]!r}? " if close else ""
    listed = ", ".join(known) if known else "none"
    return Problem(path, f"unknown field {name!r}; {hint}the fields of {descriptor.full_name} are: {listed}")


def _check_map(value: Any, field: FieldDescriptor, path: str) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [Problem(path, f"must be a JSON object (a map), not {_json_type(value)}")]
    key_field = _message_type(field).fields_by_name["key"]
    value_field = _message_type(field).fields_by_name["value"]
    problems: list[Problem] = []
    for key, item in value.items():
        where = f"{path}[{key!r}]"
        if key_field.type in _INTEGERS:
            problems += _check_integer(key, key_field.type, f"{path} key {key!r}")
        elif key_field.type == FieldDescriptor.TYPE_BOOL and key not in ("true", "false"):
            problems.append(Problem(f"{path} key {key!r}", 'must be "true" or "false"'))
        problems += _check_value(item, value_field, where)
    return problems


def _check_value(value: Any, field: FieldDescriptor, path: str) -> list[Problem]:
    """Problems of one (non-repeated) value of ``field``."""
    if value is None:
        return [Problem(path, "must not be null; leave the field out for its default")]
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return check_json(value, _message_type(field), path)
    return _check_scalar(value, field, path)


def _check_field(value: Any, field: FieldDescriptor, path: str) -> list[Problem]:
    if value is None:
        return []  # protobuf JSON: null is the field's default
    if field.type == FieldDescriptor.TYPE_MESSAGE and _message_type(field).GetOptions().map_entry:
        return _check_map(value, field, path)
    if field.is_repeated:
        if not isinstance(value, list):
            return [Problem(path, f"must be a JSON list, not {_json_type(value)}")]
        problems: list[Problem] = []
        for i, item in enumerate(value):
            problems += _check_value(item, field, f"{path}[{i}]")
        return problems
    return _check_value(value, field, path)


def check_json(value: Any, descriptor: Descriptor, path: str) -> list[Problem]:
    """Every problem of ``value`` as the JSON form of message ``descriptor``, in document order.

    Field names may be proto (``next_block``) or JSON (``nextBlock``) names, once each.
    """
    if not isinstance(value, Mapping):
        return [Problem(path, f"must be a JSON object ({descriptor.full_name}), not {_json_type(value)}")]
    by_name = {f.name: f for f in descriptor.fields} | {f.json_name: f for f in descriptor.fields}
    problems: list[Problem] = []
    given: dict[str, str] = {}
    for name, item in value.items():
        field = by_name.get(name) if isinstance(name, str) else None
        if field is None:
            problems.append(_unknown_field(str(name), descriptor, path))
            continue
        if field.name in given:
            problems.append(
                Problem(
                    f"{path}.{field.name}", f"is given twice, as {given[field.name]!r} and {name!r}; keep one"
                )
            )
            continue
        given[field.name] = name
        problems += _check_field(item, field, f"{path}.{field.name}")
    return problems


def descriptor_of(message: Message | type[Message]) -> Descriptor:
    """The descriptor of a message (or message class), as :func:`check_json` takes it."""
    return cast(Descriptor, message.DESCRIPTOR)
