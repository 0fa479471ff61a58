"""Messages as the Cosmos SDK's REST gateway writes them.

The SDK (v0.50, ``server/api/server.go``) marshals with gogogateway's ``JSONPb{EmitDefaults: true,
OrigName: true, AnyResolver: interfaceRegistry}``: proto field names, 64-bit integers as strings,
bytes as base64, enums by name, ``Any`` as ``{"@type": ..., <fields>}``, and every field written
even when it holds its default: a scalar as its zero, a list as ``[]``, a map as ``{}`` and an unset
message (or an empty bytes field, which the gRPC hop leaves nil) as ``null`` — e.g.
``"pub_key": null`` of an account without a key, ``"pagination": {"next_key": null, "total": "0"}``.
``json_format`` with ``always_print_fields_with_no_presence`` does the first part; :func:`to_json`
adds the ``null`` fields. ``Any`` resolves through the default descriptor pool, which holds every
cosmos and taskmaster type once their modules are imported (:func:`load_types` imports them).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_OPAQUE = frozenset(
    {
        "google.protobuf.Timestamp",
        "google.protobuf.Duration",
        "google.protobuf.Struct",
        "google.protobuf.Value",
        "google.protobuf.ListValue",
        "google.protobuf.FieldMask",
        "google.protobuf.Empty",
        *(
            f"google.protobuf.{n}Value"
            for n in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
        ),
    }
)


def load_types() -> int:
    """Import every generated cosmos, tendermint and taskmaster module; returns how many.

    An ``Any`` in an answer can only be written when its type is in the default pool.
    """
    count = 0
    for top in ("cosmos", "tendermint", "taskmaster", "cosmos_proto", "amino", "gogoproto"):
        try:
            package = importlib.import_module(top)
        except ImportError:
            continue
        for info in pkgutil.walk_packages(package.__path__, top + "."):
            if info.name.endswith("_pb2"):
                try:
                    importlib.import_module(info.name)
                    count += 1
                except Exception:  # a module that conflicts with one loaded already: skip it
                    continue
    return count


def _fill(desc: Any, obj: Any) -> None:
    if not isinstance(obj, dict) or desc.full_name in _OPAQUE:
        return
    if desc.full_name == "google.protobuf.Any":
        type_url = obj.get("@type")
        if not isinstance(type_url, str):
            return
        try:
            inner = descriptor_pool.Default().FindMessageTypeByName(type_url.rsplit("/", 1)[-1])
        except KeyError:
            return
        _fill(inner, obj)
        return
    for fd in desc.fields:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            if value_fd.message_type is not None:
                for item in (obj.get(fd.name) or {}).values():
                    _fill(value_fd.message_type, item)
            continue
        if fd.is_repeated:
            if fd.message_type is not None:
                for item in obj.get(fd.name) or ():
                    _fill(fd.message_type, item)
            continue
        if fd.containing_oneof is not None:
            continue
        if fd.message_type is not None:
            if fd.name in obj:
                _fill(fd.message_type, obj[fd.name])
            else:
                obj[fd.name] = None
        elif fd.type == FieldDescriptor.TYPE_BYTES and obj.get(fd.name) == "" and not fd.has_presence:
            obj[fd.name] = None


def to_json(msg: Message) -> dict[str, Any]:
    """The JSON object of ``msg`` as the SDK's gateway writes it (module docstring)."""
    obj = json_format.MessageToDict(
        msg,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
        descriptor_pool=descriptor_pool.Default(),
    )
    _fill(msg.DESCRIPTOR, obj)
    return obj
