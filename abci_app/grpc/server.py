"""A ``grpc.aio`` server serving every module's query service, with server reflection.

Services are built from the router's query routes (the same handlers ``abci_query`` uses), so a query
answers the same bytes over gRPC and over CometBFT's RPC. Each call reads the last committed version
(or the version in the ``x-cosmos-block-height`` metadata header, as Cosmos SDK chains accept).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from cosmos.tx.v1beta1 import service_pb2
from grpc_reflection.v1alpha import reflection

from abci_app.app import Application
from abci_app.errors import AppError
from abci_app.modules import QueryRoute
from abci_app.modules.grpc_status import StatusError
from abci_app.store.errors import StoreError
from abci_app.tx import rpc_service
from abci_app.tx import service as tx_service

log = logging.getLogger("abci_app.grpc")

HEIGHT_HEADER = "x-cosmos-block-height"
_HEIGHT = re.compile(r"[0-9]{1,19}")
_STATUS_BY_CODESPACE_CODE = {("query", 1): grpc.StatusCode.NOT_FOUND}
_STATUS_BY_NAME = {
    "NotFound": grpc.StatusCode.NOT_FOUND,
    "InvalidArgument": grpc.StatusCode.INVALID_ARGUMENT,
    "FailedPrecondition": grpc.StatusCode.FAILED_PRECONDITION,
    "Unavailable": grpc.StatusCode.UNAVAILABLE,
    "Unimplemented": grpc.StatusCode.UNIMPLEMENTED,
    "Internal": grpc.StatusCode.INTERNAL,
}


def status_of(err: AppError) -> tuple[grpc.StatusCode, str]:
    """The gRPC status and details of a query failure (a StatusError keeps its own, as the SDK's)."""
    if isinstance(err, StatusError):
        return _STATUS_BY_NAME[err.status], err.description
    code = _STATUS_BY_CODESPACE_CODE.get((err.codespace, err.code), grpc.StatusCode.INVALID_ARGUMENT)
    return code, err.log


def _unary(app: Application, route: QueryRoute) -> Callable[[Any, grpc.aio.ServicerContext], Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        height = 0
        for key, value in context.invocation_metadata() or ():
            if key == HEIGHT_HEADER:
                text = value if isinstance(value, str) else ""
                if not _HEIGHT.fullmatch(text):  # bounded before int(): no interpreter digit limit
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"{HEIGHT_HEADER} must be a block height of 1 to 19 decimal digits",
                    )
                height = int(text)
        try:
            version = app.query_version(height)
            ctx = app._context(app.store.branch(version), version)
            if getattr(route.handler, "off_loop", False):
                # reads CometBFT's RPC, never the store: waits in a thread, not on the ABCI event loop
                return await asyncio.to_thread(route.handler, ctx, request)
            return route.handler(ctx, request)
        except AppError as err:
            await context.abort(*status_of(err))
        except StoreError as err:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(err))
        except Exception as exc:  # a handler bug answers INTERNAL; the server carries on
            log.exception("gRPC query %s raised", route.path)
            await context.abort(grpc.StatusCode.INTERNAL, f"query failed unexpectedly ({type(exc).__name__})")

    return call


def _simulate(app: Application) -> Callable[[Any, grpc.aio.ServicerContext], Any]:
    """``cosmos.tx.v1beta1.Service/Simulate`` (abci_app/tx/service.py); a failing tx is INVALID_ARGUMENT
    with its log, as the SDK answers it."""

    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return tx_service.simulate(request, lambda raw: app.simulation(raw, events=True))
        except tx_service.SimulationFailed as failed:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, failed.outcome.log)
        except AppError as err:
            await context.abort(status_of(err), err.log)
        except Exception as exc:  # a bug answers INTERNAL; the server carries on
            log.exception("gRPC Simulate raised")
            await context.abort(
                grpc.StatusCode.INTERNAL, f"simulation failed unexpectedly ({type(exc).__name__})"
            )

    return call


def _rpc_backed(
    call: Callable[[rpc_service.Rpc, Any], Awaitable[Any]], rpc: rpc_service.Rpc, name: str
) -> Callable[[Any, grpc.aio.ServicerContext], Any]:
    """A tx service method answered from CometBFT's RPC (abci_app/tx/rpc_service.py)."""

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await call(rpc, request)
        except rpc_service.RpcFailure as exc:
            status = (
                grpc.StatusCode.NOT_FOUND
                if exc.not_found
                else grpc.StatusCode.INVALID_ARGUMENT
                if exc.invalid
                else grpc.StatusCode.UNAVAILABLE
            )
            await context.abort(status, str(exc))
        except Exception as exc:  # a bug answers INTERNAL; the server carries on
            log.exception("gRPC %s raised", name)
            await context.abort(
                grpc.StatusCode.INTERNAL, f"{name} failed unexpectedly ({type(exc).__name__})"
            )

    return handle


def build_server(
    app: Application, address: str, rpc: rpc_service.Rpc | None = None
) -> tuple[grpc.aio.Server, int]:
    """Create (not start) the server bound to ``address``; returns it and the bound port. With ``rpc``
    (this node's CometBFT RPC) it also serves the tx service's BroadcastTx, GetTx, GetTxsEvent and
    GetBlockWithTxs."""
    server = grpc.aio.server()
    services: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for route in app.router.queries.values():
        services.setdefault(route.service, {})[route.method] = grpc.unary_unary_rpc_method_handler(
            _unary(app, route),
            request_deserializer=route.request_type.FromString,
            response_serializer=lambda m: m.SerializeToString(deterministic=True),
        )
    services.setdefault(tx_service.SERVICE, {})["Simulate"] = grpc.unary_unary_rpc_method_handler(
        _simulate(app),
        request_deserializer=service_pb2.SimulateRequest.FromString,
        response_serializer=lambda m: m.SerializeToString(deterministic=True),
    )
    if rpc is not None:
        for name, call, request_type in (
            ("BroadcastTx", rpc_service.broadcast_tx, service_pb2.BroadcastTxRequest),
            ("GetTx", rpc_service.get_tx, service_pb2.GetTxRequest),
            ("GetTxsEvent", rpc_service.get_txs_event, service_pb2.GetTxsEventRequest),
            ("GetBlockWithTxs", rpc_service.get_block_with_txs, service_pb2.GetBlockWithTxsRequest),
        ):
            services[tx_service.SERVICE][name] = grpc.unary_unary_rpc_method_handler(
                _rpc_backed(call, rpc, name),
                request_deserializer=request_type.FromString,
                response_serializer=lambda m: m.SerializeToString(deterministic=True),
            )
    for service, methods in sorted(services.items()):
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, methods),))
    reflection.enable_server_reflection((*sorted(services), reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind gRPC server to {address}")
    return server, port
