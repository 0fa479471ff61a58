"""Chain modules and the shape they share: message routes, query routes, genesis and block hooks.

A module is a folder (keys, keeper, msgs, queries, genesis); this file holds only the small records the
application uses to wire them, so modules never import the application.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from abci_app.context import Context
from abci_app.errors import register

QUERY_NOT_FOUND = register("query", 1, "not found")
QUERY_INVALID = register("query", 2, "invalid argument")
QUERY_UNKNOWN_PATH = register("query", 3, "unknown query path")
QUERY_INTERNAL = register("query", 4, "internal error")


@dataclass(frozen=True)
class MsgRoute:
    """How one message type is authorized and executed.

    ``signer`` returns the bech32 address that must have signed the tx; ``handler`` changes state
    through the context and returns the message's response.
    """

    msg_type: type[Message]
    signer: Callable[[Any], str]
    handler: Callable[[Context, Any], Message]


@dataclass(frozen=True)
class QueryRoute:
    """A read-only query, served over gRPC and as the ABCI query path ``/<service>/<method>``."""

    service: str
    method: str
    request_type: type[Message]
    response_type: type[Message]
    handler: Callable[[Context, Any], Message]

    @property
    def path(self) -> str:
        """The ABCI query path, the same as the gRPC method path."""
        return f"/{self.service}/{self.method}"


@dataclass(frozen=True)
class Module:
    """Everything the application needs to know about a module."""

    name: str
    store: str
    msgs: tuple[MsgRoute, ...] = ()
    queries: tuple[QueryRoute, ...] = ()
    init_genesis: Callable[[Context, Mapping[str, Any]], None] | None = None
    export_genesis: Callable[[Context], dict[str, Any]] | None = None
    end_block: Callable[[Context], None] | None = None
    invariants: tuple[Callable[[Context], None], ...] = field(default_factory=tuple)
    accounts: tuple[bytes, ...] = ()  # module accounts it owns: no MsgSend may pay into them


G = TypeVar("G", bound=Message)


def parse_genesis(state: Mapping[str, Any], defaults: Message, into: G) -> G:
    """A module's genesis JSON parsed into ``into``; ``params`` fields it leaves out keep ``defaults``.

    A field that is given keeps its value, 0 and empty included; a repeated field given replaces the
    default list. Field names may be JSON (camelCase) or proto (snake_case) names.
    """
    merged = dict(state)
    given = state.get("params") or {}
    if not isinstance(given, Mapping):
        raise json_format.ParseError(f"params must be a JSON object, got {type(given).__name__}")
    # defaults first: ParseDict applies keys in order, so a given field wins in either spelling
    merged["params"] = {**json_format.MessageToDict(defaults), **dict(given)}
    return json_format.ParseDict(merged, into)


def export_genesis_dict(genesis: Message) -> dict[str, Any]:
    """A module's genesis state as JSON, zero and empty fields included.

    Leaving them out would make :func:`parse_genesis` fill them with defaults on import, so a param
    set to 0 would not survive an export and re-import.
    """
    return json_format.MessageToDict(genesis, always_print_fields_with_no_presence=True)


def module_address(name: str) -> bytes:
    """The 20-byte address of a module account (no key can sign for it)."""
    return hashlib.sha256(b"module:" + name.encode()).digest()[:20]


def u64(value: int) -> bytes:
    """Fixed 8-byte big-endian encoding (sorts like the number)."""
    return value.to_bytes(8, "big")


def u256(value: int) -> bytes:
    """Fixed 32-byte big-endian encoding of an amount."""
    return value.to_bytes(32, "big")
