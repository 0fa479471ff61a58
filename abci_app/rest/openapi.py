"""An OpenAPI 3 document of the REST routes, generated from the same descriptors as the routes.

Each route is an operation (``operationId`` = the rpc's full name) with its path parameters, its
query parameters (every scalar, enum or repeated scalar field reachable through singular message
fields, dotted, that the path does not bind) or its JSON body, and a response schema under
``components/schemas`` named by the message's full name. Types are those of the JSON the gateway
writes (abci_app/rest/jsonpb.py): 64-bit integers are strings (``format: int64``), bytes base64
strings (``format: byte``), enums their names, ``Any`` an object with ``@type``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from abci_app.rest.routes import HttpRoute
from abci_app.version import APP_VERSION

_T = FieldDescriptor
_SCALARS: dict[int, dict[str, Any]] = {
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "format": "byte"},
    _T.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _T.TYPE_FLOAT: {"type": "number", "format": "float"},
    _T.TYPE_INT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _T.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    _T.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    _T.TYPE_INT64: {"type": "string", "format": "int64"},
    _T.TYPE_SINT64: {"type": "string", "format": "int64"},
    _T.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    _T.TYPE_UINT64: {"type": "string", "format": "uint64"},
    _T.TYPE_FIXED64: {"type": "string", "format": "uint64"},
}
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "example": "1.5s"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": {},
    },
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "code": {"type": "integer", "format": "int32"},
        "message": {"type": "string"},
        "details": {"type": "array", "items": {"$ref": "#/components/schemas/google.protobuf.Any"}},
    },
}


class _Schemas:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"google.rpc.Status": ERROR_SCHEMA}

    def ref(self, desc: Any) -> dict[str, Any]:
        name = desc.full_name
        if name not in self.schemas:
            self.schemas[name] = {}  # placeholder: recursive messages
            if name in _WELL_KNOWN:
                self.schemas[name] = _WELL_KNOWN[name]
            else:
                props = {fd.name: self.field(fd) for fd in desc.fields}
                self.schemas[name] = {"type": "object", "properties": props}
        return {"$ref": f"#/components/schemas/{name}"}

    def single(self, fd: Any) -> dict[str, Any]:
        if fd.type == _T.TYPE_ENUM:
            return {"type": "string", "enum": [v.name for v in fd.enum_type.values]}
        if fd.message_type is not None:
            return self.ref(fd.message_type)
        return dict(_SCALARS[fd.type])

    def field(self, fd: Any) -> dict[str, Any]:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            return {
                "type": "object",
                "additionalProperties": self.single(fd.message_type.fields_by_name["value"]),
            }
        if fd.is_repeated:
            return {"type": "array", "items": self.single(fd)}
        return self.single(fd)


def _query_params(desc: Any, prefix: str, bound: set[str], depth: int = 0) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for fd in desc.fields:
        name = prefix + fd.name
        if name in bound:
            continue
        if fd.message_type is not None:
            if fd.is_repeated or fd.message_type.GetOptions().map_entry or depth >= 3:
                continue
            if fd.message_type.full_name.startswith("google.protobuf."):
                continue
            out.extend(_query_params(fd.message_type, name + ".", bound, depth + 1))
        else:
            out.append((name, fd))
    return out


def _operation(route: HttpRoute, schemas: _Schemas) -> dict[str, Any]:
    desc = route.query.request_type.DESCRIPTOR
    params: list[dict[str, Any]] = []
    for name in route.path_fields:
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
    op: dict[str, Any] = {
        "operationId": route.query.path[1:].replace("/", "."),
        "summary": f"{route.query.service}.{route.query.method}",
        "tags": [route.query.service],
        "responses": {
            "200": {
                "description": "A successful answer.",
                "content": {
                    "application/json": {"schema": schemas.ref(route.query.response_type.DESCRIPTOR)}
                },
            },
            "default": {
                "description": "An error (a google.rpc.Status: the gRPC code, its message, no details).",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/google.rpc.Status"}}
                },
            },
        },
    }
    if route.body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas.ref(desc)}},
        }
    else:
        for name, fd in _query_params(desc, "", set(route.path_fields)):
            param: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schemas.field(fd),
            }
            if fd.is_repeated:
                param["explode"] = True
            params.append(param)
    if params:
        op["parameters"] = params
    return op


def openapi_path(route: HttpRoute) -> str:
    """The OpenAPI path of a route (``{field=**}`` written ``{field}``)."""
    return "/" + "/".join(
        s.literal if s.literal is not None else "{" + str(s.variable) + "}" for s in route.segments
    )


def openapi_document(routes: Sequence[HttpRoute]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of ``routes``."""
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(openapi_path(route), {})[route.http_method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Taskmaster REST API",
            "version": str(APP_VERSION),
            "description": "Generated from the google.api.http annotations of the node's query services "
            "(docs/rest.md). 64-bit integers are strings, bytes base64, errors google.rpc.Status.",
        },
        "paths": paths,
        "components": {"schemas": schemas.schemas},
    }
