"""The node's REST gateway: the query services over HTTP/JSON, as the Cosmos SDK's API server serves.

Routes come from the protos' ``google.api.http`` annotations (:mod:`abci_app.rest.routes`) and call
the router's query handlers, the ones gRPC and ``abci_query`` call, on the last committed version (or
the one in the ``x-cosmos-block-height`` header). Handlers that read the store run on the event loop,
as the gRPC server runs them (the store is not shared with threads); handlers that read CometBFT's
RPC (``off_loop``) wait in a thread, so that a slow CometBFT never stalls the ABCI connection that
CometBFT itself is waiting on (abci_app/modules/cosmos_node/services.py).

Also served: ``/openapi.json`` (OpenAPI 3, generated from the same descriptors) and Swagger UI at
``/swagger/``, its assets from the pinned ``swagger-ui-dist`` npm package (abci_app/rest/ui).
docs/rest.md has the conventions, the errors and the limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import json_format

from abci_app.app import Application
from abci_app.errors import AppError
from abci_app.grpc.server import HEIGHT_HEADER, status_of
from abci_app.rest.jsonpb import load_types, to_json
from abci_app.rest.openapi import openapi_document
from abci_app.rest.params import ParamError, populate
from abci_app.rest.routes import HttpRoute, RouteTable
from abci_app.store.errors import StoreError

log = logging.getLogger("abci_app.rest")

MAX_URL_BYTES = 8192
"""Request line at most (path and query): longer is 414, before anything is parsed."""
MAX_BODY_BYTES = 64 * 1024
"""A POST body at most (the same bound as ``abci_query`` data)."""
QUERY_TIMEOUT_S = 15.0
"""A query that has not answered by then is DeadlineExceeded (504)."""
MAX_IN_FLIGHT = 32
"""Queries answered at once; more wait their turn (each off-loop one holds a thread)."""

_HEIGHT = re.compile(r"[0-9]{1,19}")
UI_DIR = Path(__file__).resolve().parent / "ui" / "node_modules" / "swagger-ui-dist"
UI_ASSETS = (
    "swagger-ui.css",
    "index.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
    "favicon-16x16.png",
)
_CONTENT_TYPES = {".css": "text/css", ".js": "application/javascript", ".png": "image/png"}

# grpc-gateway v2 runtime/errors.go HTTPStatusFromCode (the SDK's gateway): gRPC code -> HTTP status
HTTP_STATUS = {
    0: 200,
    1: 408,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 400,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
}

SWAGGER_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>Taskmaster REST API</title>
  <link rel="stylesheet" type="text/css" href="./swagger-ui.css">
  <link rel="stylesheet" type="text/css" href="./index.css">
  <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="./favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="./swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="./swagger-ui-standalone-preset.js" charset="UTF-8"></script>
  <script src="./swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
"""
SWAGGER_INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "../openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
"""


class GatewayError(Exception):
    """A failure answered as ``{"code", "message", "details"}`` with the HTTP status of the code."""

    def __init__(self, code: int, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else HTTP_STATUS.get(code, 500)


def error_response(err: GatewayError, headers: dict[str, str] | None = None) -> web.Response:
    """The grpc-gateway error body (a google.rpc.Status as JSON) of ``err``."""
    body = {"code": err.code, "message": err.message, "details": []}
    return web.json_response(body, status=err.http_status, headers=headers)


def _grpc_code(status: grpc.StatusCode) -> int:
    code: int = status.value[0]
    return code


class Gateway:
    """The route table bound to an application, answering aiohttp requests."""

    def __init__(self, app: Application, table: RouteTable | None = None) -> None:
        load_types()
        self.app = app
        self.table = table if table is not None else RouteTable.build(app.router.queries.values())
        self.openapi = json.dumps(openapi_document(self.table.served()), sort_keys=True).encode()
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    def _call(self, route: HttpRoute, request_msg: Any, height: int) -> Any:
        version = self.app.query_version(height)
        ctx = self.app._context(self.app.store.branch(version), version)
        return route.query.handler(ctx, request_msg)

    async def answer(self, route: HttpRoute, request_msg: Any, height: int) -> Any:
        """The handler's answer; GatewayError for every failure (the status gRPC would give)."""
        try:
            if getattr(route.query.handler, "off_loop", False):
                work: Awaitable[Any] = asyncio.to_thread(self._call, route, request_msg, height)
                return await asyncio.wait_for(work, QUERY_TIMEOUT_S)
            return self._call(route, request_msg, height)
        except TimeoutError as exc:
            raise GatewayError(4, f"{route.query.path} did not answer within {QUERY_TIMEOUT_S:g}s") from exc
        except AppError as err:
            status, details = status_of(err)
            raise GatewayError(_grpc_code(status), details) from err
        except StoreError as err:
            raise GatewayError(5, str(err)) from err
        except Exception as exc:  # a handler bug answers INTERNAL; the server carries on
            log.exception("REST query %s raised", route.query.path)
            raise GatewayError(13, f"query failed unexpectedly ({type(exc).__name__})") from exc

    async def parse(self, route: HttpRoute, values: dict[str, str], request: web.Request) -> Any:
        """The request message of a request (GatewayError 400 for a bad parameter or body)."""
        msg = route.query.request_type()
        raw_query = request.rel_url.raw_query_string  # split on & and = before anything is decoded
        try:
            query = urllib.parse.parse_qsl(raw_query, keep_blank_values=True, errors="replace")
            populate(msg, values, query, body=route.body)
            if route.body:
                raw = await request.read()
                if len(raw) > MAX_BODY_BYTES:
                    raise GatewayError(8, f"the body is over {MAX_BODY_BYTES} bytes", 413)
                target = msg
                if route.body != "*":
                    for name in route.body.split("."):
                        target = getattr(target, name)
                json_format.Parse(raw.decode("utf-8") if raw else "{}", target)
        except ParamError as exc:
            raise GatewayError(3, str(exc)) from exc
        except (json_format.ParseError, UnicodeDecodeError, ValueError, TypeError, RecursionError) as exc:
            raise GatewayError(
                3, f"the body is not a JSON {route.query.request_type.DESCRIPTOR.full_name}: {exc}"
            ) from exc
        except web.HTTPRequestEntityTooLarge as exc:
            raise GatewayError(8, f"the body is over {MAX_BODY_BYTES} bytes", 413) from exc
        return msg

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Route any request under the gateway (every path not served by the OpenAPI or UI handlers)."""
        if len(request.raw_path) > MAX_URL_BYTES:
            return error_response(GatewayError(3, f"the URL is over {MAX_URL_BYTES} bytes", 414))
        path = request.raw_path.split("?", 1)[0]
        route, found = self.table.match(request.method, path)
        if route is None:
            if found:
                err = GatewayError(12, "Method Not Allowed", 405)
                return error_response(err, {"Allow": ", ".join(found)})
            return error_response(GatewayError(5, "Not Found"))
        assert isinstance(found, dict)
        height = 0
        text = request.headers.get(HEIGHT_HEADER)
        if text is not None:
            if not _HEIGHT.fullmatch(text):
                return error_response(
                    GatewayError(3, f"{HEIGHT_HEADER} must be a block height of 1 to 19 decimal digits")
                )
            height = int(text)
        try:
            async with self._slots:
                msg = await self.parse(route, found, request)
                answer = await self.answer(route, msg, height)
                body = to_json(answer)
        except GatewayError as err:
            return error_response(err)
        except Exception as exc:
            log.exception("REST answer of %s could not be written", route.query.path)
            return error_response(GatewayError(13, f"the answer could not be written ({type(exc).__name__})"))
        return web.json_response(body)

    def web_app(self) -> web.Application:
        """The aiohttp application: OpenAPI, Swagger UI, then every generated route."""
        webapp = web.Application(client_max_size=MAX_BODY_BYTES)

        async def openapi(_: web.Request) -> web.Response:
            return web.Response(body=self.openapi, content_type="application/json")

        async def swagger_index(_: web.Request) -> web.Response:
            return web.Response(text=SWAGGER_HTML, content_type="text/html")

        async def swagger_init(_: web.Request) -> web.Response:
            return web.Response(text=SWAGGER_INIT, content_type="application/javascript")

        def asset(name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
            async def serve(_: web.Request) -> web.StreamResponse:
                path = UI_DIR / name
                if not path.is_file():
                    return error_response(
                        GatewayError(5, f"Swagger UI asset {name} is not installed (run `make build`)")
                    )
                return web.FileResponse(path, headers={"Content-Type": _CONTENT_TYPES[Path(name).suffix]})

            return serve

        async def swagger_redirect(_: web.Request) -> web.Response:
            raise web.HTTPFound("/swagger/")

        webapp.router.add_get("/openapi.json", openapi)
        webapp.router.add_get("/swagger/openapi.json", openapi)
        webapp.router.add_get("/swagger", swagger_redirect)
        webapp.router.add_get("/swagger/", swagger_index)
        webapp.router.add_get("/swagger/index.html", swagger_index)
        webapp.router.add_get("/swagger/swagger-initializer.js", swagger_init)
        for name in UI_ASSETS:
            webapp.router.add_get(f"/swagger/{name}", asset(name))
        webapp.router.add_route("*", "/{tail:.*}", self.handle)
        return webapp


async def start(app: Application, address: str) -> tuple[Callable[[], Awaitable[None]], int]:
    """Serve the gateway on ``host:port``; returns its stop function and the bound port."""
    host, _, port = address.rpartition(":")
    gateway = Gateway(app)
    runner = web.AppRunner(
        gateway.web_app(),
        access_log=None,
        handle_signals=False,
        keepalive_timeout=15,
        max_line_size=MAX_URL_BYTES + 64,
        max_field_size=MAX_URL_BYTES,
    )
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port), shutdown_timeout=2)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound = 0
    server = site._server
    sockets = getattr(server, "sockets", None) or ()
    for sock in sockets:
        bound = sock.getsockname()[1]
    return runner.cleanup, bound
