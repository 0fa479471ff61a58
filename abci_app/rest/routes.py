"""The REST route table, generated from the ``google.api.http`` annotations of the query services.

No route is written by hand: every query route of the router (the handlers gRPC and ``abci_query``
serve) whose rpc carries an ``option (google.api.http)`` gets one HTTP route per binding (the rule
and its ``additional_bindings``). Path templates follow google/api/http.proto, the subset the
Cosmos SDK and our protos use: literal segments, ``{field}`` / ``{field=*}`` (one segment) and
``{field=**}`` (the rest of the path, last). Anything else is refused when the table is built.

Matching is grpc-gateway's: a path matches a template segment by segment, each segment
percent-decoded on its own (so ``%2F`` stays inside a segment). Where two templates match one path,
the more specific wins (a literal segment before a variable, so ``blocks/latest`` is not read as
``blocks/{height}``); of two identical templates (the SDK's ``bech32/{address_bytes}`` and
``bech32/{address_string}``), the one registered last wins, as in grpc-gateway's ServeMux, which
tries the last registered handler first.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.api import annotations_pb2  # type: ignore[import-untyped]
from google.protobuf import descriptor_pool

from abci_app.modules import QueryRoute

METHODS = ("get", "put", "post", "delete", "patch")


class RouteError(ValueError):
    """An annotation this gateway cannot serve (the message names the rpc and the template)."""


@dataclass(frozen=True)
class Segment:
    """One template segment: a literal, or a variable bound to a request field path."""

    literal: str | None = None
    variable: str | None = None  # dotted field path
    rest: bool = False  # ``{field=**}``: the rest of the path, slashes included


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP binding of a query rpc."""

    http_method: str  # upper case
    template: str
    segments: tuple[Segment, ...]
    body: str  # "" (no body), "*" (the whole request) or a field path
    query: QueryRoute
    index: int  # registration order: of two identical templates the later wins

    @property
    def path_fields(self) -> tuple[str, ...]:
        """The request fields bound by the path."""
        return tuple(s.variable for s in self.segments if s.variable is not None)

    def specificity(self) -> tuple[tuple[int, ...], int]:
        """Sort key of a match: literal segments beat variables, then the later registration."""
        return tuple(2 if s.literal is not None else 0 if s.rest else 1 for s in self.segments), self.index

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """The path variables when the raw (still percent-encoded) segments ``parts`` match."""
        values: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.rest:
                if i >= len(parts):
                    return None
                values[seg.variable or ""] = urllib.parse.unquote("/".join(parts[i:]), errors="replace")
                return values
            if i >= len(parts):
                return None
            text = urllib.parse.unquote(parts[i], errors="replace")
            if seg.literal is not None:
                if text != seg.literal:
                    return None
            else:
                if text == "":
                    return None  # grpc-gateway: a variable matches a non-empty segment
                values[seg.variable or ""] = text
        return values if len(parts) == len(self.segments) else None


def parse_template(template: str) -> tuple[Segment, ...]:
    """The segments of a path template; RouteError for a template outside the supported subset."""
    if not template.startswith("/") or ":" in template.rsplit("/", 1)[-1].split("}")[-1]:
        raise RouteError(f"template {template!r}: must start with '/' and carry no ':verb'")
    segments: list[Segment] = []
    raw = template[1:].split("/")
    for i, part in enumerate(raw):
        if part.startswith("{") and part.endswith("}"):
            name, _, pattern = part[1:-1].partition("=")
            if not name or not all(p.isidentifier() for p in name.split(".")):
                raise RouteError(f"template {template!r}: bad variable {part!r}")
            if pattern in ("", "*"):
                segments.append(Segment(variable=name))
            elif pattern == "**" and i == len(raw) - 1:
                segments.append(Segment(variable=name, rest=True))
            else:
                raise RouteError(f"template {template!r}: variable pattern {pattern!r} is not supported")
        elif part and not any(c in part for c in "{}*"):
            segments.append(Segment(literal=part))
        else:
            raise RouteError(f"template {template!r}: segment {part!r} is not supported")
    return tuple(segments)


def field_at(desc: Any, path: str) -> Any:
    """The field a dotted path names in ``desc`` (through singular message fields), or None."""
    fd: Any = None
    for i, name in enumerate(path.split(".")):
        if i:
            if fd is None or fd.message_type is None or fd.is_repeated:
                return None
            desc = fd.message_type
        fd = desc.fields_by_name.get(name)
        if fd is None:
            return None
    return fd


def _bindings(rule: Any) -> Iterable[tuple[str, str, str]]:
    kind = rule.WhichOneof("pattern")
    if kind in METHODS:
        yield kind.upper(), getattr(rule, kind), rule.body
    elif kind == "custom":
        yield rule.custom.kind.upper(), rule.custom.path, rule.body
    for extra in rule.additional_bindings:
        yield from _bindings(extra)


def http_rule(query: QueryRoute) -> Any:
    """The ``google.api.http`` option of a query route's rpc, or None when it has none."""
    service = descriptor_pool.Default().FindServiceByName(query.service)
    method = service.methods_by_name.get(query.method)
    if method is None:
        raise RouteError(f"{query.path}: no such rpc in the descriptor pool")
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return None
    return options.Extensions[annotations_pb2.http]


@dataclass
class RouteTable:
    """Every HTTP route, and the query routes that have no annotation (served over gRPC only)."""

    routes: list[HttpRoute] = field(default_factory=list)
    unannotated: list[str] = field(default_factory=list)

    @classmethod
    def build(cls, queries: Iterable[QueryRoute]) -> RouteTable:
        """Routes of ``queries`` in order; RouteError for an annotation that cannot be served."""
        table = cls()
        for query in queries:
            rule = http_rule(query)
            if rule is None:
                table.unannotated.append(query.path)
                continue
            desc = query.request_type.DESCRIPTOR
            for http_method, template, body in _bindings(rule):
                segments = parse_template(template)
                for seg in segments:
                    fd = field_at(desc, seg.variable) if seg.variable else None
                    if seg.variable and (fd is None or fd.is_repeated or fd.message_type is not None):
                        raise RouteError(f"{query.path} {template!r}: {seg.variable} is not a scalar field")
                if body not in ("", "*") and field_at(desc, body) is None:
                    raise RouteError(f"{query.path}: body {body!r} is not a field of {desc.full_name}")
                table.routes.append(
                    HttpRoute(http_method, template, segments, body, query, index=len(table.routes))
                )
        return table

    def served(self) -> list[HttpRoute]:
        """The routes a request can reach: of identical (method, template) pairs, the last."""
        last: dict[tuple[str, tuple[tuple[str | None, bool], ...]], HttpRoute] = {}
        for route in self.routes:  # templates alike but for their variables' names are identical
            last[(route.http_method, tuple((s.literal, s.rest) for s in route.segments))] = route
        return sorted(last.values(), key=lambda r: r.index)

    def match(self, http_method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | tuple[None, list[str]]:
        """The route for a request and its path values, or None and the methods the path allows."""
        parts = path[1:].split("/") if path.startswith("/") else [path]
        best: tuple[HttpRoute, dict[str, str]] | None = None
        allowed: set[str] = set()
        for route in self.routes:
            values = route.match(parts)
            if values is None:
                continue
            if route.http_method != http_method:
                allowed.add(route.http_method)
                continue
            if best is None or route.specificity() > best[0].specificity():
                best = (route, values)
        if best is not None:
            return best
        return None, sorted(allowed)
