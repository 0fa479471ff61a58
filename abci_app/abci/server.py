"""The ABCI socket server: accepts CometBFT's connections and feeds their requests to the application.

CometBFT v0.38 opens four connections to the application (consensus, mempool, info/query, snapshot).
Each is served by its own asyncio task that reads length-delimited ``abci.Request`` frames, answers them
strictly in request order, and writes ``abci.Response`` frames back. Responses are buffered and written
once every complete request of a read has been answered; a ``Flush`` (the point where CometBFT's client
waits) writes the buffered responses followed by ``ResponseFlush`` at once and drains the writer.

Application methods are synchronous and run on the event-loop thread; an ``asyncio.Lock`` shared by all
connections guarantees that at most one request is inside the application at any time, so a mempool
``CheckTx`` never interleaves with a consensus ``FinalizeBlock``.

Failures, each logged on the ``abci_app.abci`` logger:

- a frame that does not decode as ``abci.Request``, or whose oneof is empty or unknown, is answered
  with ``ResponseException``; the connection carries on, since the framing is intact;
- a broken frame (malformed length prefix, message over the size limit) is answered with
  ``ResponseException`` and that connection is closed, since no later boundary can be trusted;
- an application method that raises is logged with its traceback and answered with
  ``ResponseException`` (CometBFT then halts the node, which is the correct outcome for consensus);
  a :class:`~abci_app.errors.NodeFault` (this machine failed, e.g. out of memory) is logged as
  critical and answered the same way;
- a client that disconnects ends only its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError
from tendermint.abci import types_pb2 as abci

from abci_app.abci.application import AbciApplication
from abci_app.abci.framing import MAX_MESSAGE_SIZE, FrameDecoder, FramingError, encode_frame
from abci_app.errors import NodeFault

logger = logging.getLogger("abci_app.abci")

READ_CHUNK_SIZE: Final[int] = 64 * 1024
"""Bytes requested from the socket per read."""

UNIX_SOCKET_MODE: Final[int] = 0o600
"""Permissions of the unix socket file: only the node's own user may connect."""

_Handler = Callable[[AbciApplication, abci.Request], abci.Response]
Observer = Callable[[str, abci.Request, abci.Response, float], None]
"""Told of each answered request: method, request, response, seconds in the application."""

# One entry per application method; the request and response oneof fields share the method's name.
_APP_HANDLERS: Final[dict[str, _Handler]] = {
    "info": lambda app, req: abci.Response(info=app.info(req.info)),
    "init_chain": lambda app, req: abci.Response(init_chain=app.init_chain(req.init_chain)),
    "query": lambda app, req: abci.Response(query=app.query(req.query)),
    "check_tx": lambda app, req: abci.Response(check_tx=app.check_tx(req.check_tx)),
    "commit": lambda app, req: abci.Response(commit=app.commit(req.commit)),
    "list_snapshots": lambda app, req: abci.Response(list_snapshots=app.list_snapshots(req.list_snapshots)),
    "offer_snapshot": lambda app, req: abci.Response(offer_snapshot=app.offer_snapshot(req.offer_snapshot)),
    "load_snapshot_chunk": lambda app, req: abci.Response(
        load_snapshot_chunk=app.load_snapshot_chunk(req.load_snapshot_chunk)
    ),
    "apply_snapshot_chunk": lambda app, req: abci.Response(
        apply_snapshot_chunk=app.apply_snapshot_chunk(req.apply_snapshot_chunk)
    ),
    "prepare_proposal": lambda app, req: abci.Response(
        prepare_proposal=app.prepare_proposal(req.prepare_proposal)
    ),
    "process_proposal": lambda app, req: abci.Response(
        process_proposal=app.process_proposal(req.process_proposal)
    ),
    "extend_vote": lambda app, req: abci.Response(extend_vote=app.extend_vote(req.extend_vote)),
    "verify_vote_extension": lambda app, req: abci.Response(
        verify_vote_extension=app.verify_vote_extension(req.verify_vote_extension)
    ),
    "finalize_block": lambda app, req: abci.Response(finalize_block=app.finalize_block(req.finalize_block)),
}

# The first request that reveals which of CometBFT's four connections a socket is (for logs only).
_CONNECTION_ROLE: Final[dict[str, str]] = {
    "init_chain": "consensus",
    "prepare_proposal": "consensus",
    "process_proposal": "consensus",
    "extend_vote": "consensus",
    "verify_vote_extension": "consensus",
    "finalize_block": "consensus",
    "commit": "consensus",
    "check_tx": "mempool",
    "info": "query",
    "query": "query",
    "list_snapshots": "snapshot",
    "offer_snapshot": "snapshot",
    "load_snapshot_chunk": "snapshot",
    "apply_snapshot_chunk": "snapshot",
}


@dataclass(frozen=True)
class TcpAddress:
    """A TCP listen address; port 0 asks the OS for a free port."""

    host: str
    port: int


@dataclass(frozen=True)
class UnixAddress:
    """A unix domain socket listen address."""

    path: str


def parse_address(address: str) -> TcpAddress | UnixAddress:
    """Parse a CometBFT-style ``proxy_app`` address.

    Accepts ``tcp://host:port``, ``unix:///path/to.sock`` and, like CometBFT, a bare ``host:port``
    (meaning TCP). IPv6 hosts are written in brackets: ``tcp://[::1]:26658``.

    Raises:
        ValueError: for another scheme, a missing host, path or port, or a port outside 0..65535.
    """
    scheme, separator, rest = address.partition("://")
    if not separator:
        scheme, rest = "tcp", address
    if scheme == "unix":
        if not rest:
            raise ValueError(f"unix address without a path: {address!r}")
        return UnixAddress(rest)
    if scheme != "tcp":
        raise ValueError(f"unsupported ABCI address scheme {scheme!r} in {address!r}; use tcp:// or unix://")
    host, colon, port_text = rest.rpartition(":")
    if not colon or not host or not port_text.isdigit():
        raise ValueError(f"TCP address must be host:port, got {address!r}")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"TCP port out of range in {address!r}")
    return TcpAddress(host.removeprefix("[").removesuffix("]"), port)


class AbciServer:
    """Serves an :class:`AbciApplication` to CometBFT over the ABCI socket protocol."""

    def __init__(
        self,
        app: AbciApplication,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        observer: Observer | None = None,
    ) -> None:
        """Prepare a server for ``app``; frames above ``max_message_size`` bytes are refused.

        ``observer``, when given, is told of every request the application answered (method name,
        request, response, seconds spent in the application), e.g. to record metrics.
        """
        self._app = app
        self._observer = observer
        self._max_message_size = max_message_size
        self._app_lock = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._address: TcpAddress | UnixAddress | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._connection_ids = itertools.count(1)
        self._stopped = asyncio.Event()

    @property
    def address(self) -> str:
        """The address actually listened on, e.g. ``tcp://127.0.0.1:41231`` once port 0 is resolved.

        Raises:
            RuntimeError: if the server has not been started.
        """
        if self._server is None or self._address is None:
            raise RuntimeError("AbciServer is not started")
        if isinstance(self._address, UnixAddress):
            return f"unix://{self._address.path}"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"

    async def start(self, address: str) -> None:
        """Listen on ``address`` (``tcp://host:port`` or ``unix:///path``) and accept connections.

        A stale unix socket file (nothing listening on it) is removed first.

        Raises:
            RuntimeError: if the server is already started.
            ValueError: if the address cannot be parsed.
            OSError: if the address is in use or a non-socket file is in the way.
        """
        if self._server is not None:
            raise RuntimeError("AbciServer is already started")
        parsed = parse_address(address)
        if isinstance(parsed, UnixAddress):
            _remove_stale_unix_socket(parsed.path)
            self._server = await asyncio.start_unix_server(self._serve_connection, path=parsed.path)
            os.chmod(parsed.path, UNIX_SOCKET_MODE)
        else:
            self._server = await asyncio.start_server(self._serve_connection, parsed.host, parsed.port)
        self._address = parsed
        self._stopped.clear()
        logger.info("ABCI server listening on %s", self.address)

    async def serve_forever(self) -> None:
        """Wait until :meth:`stop` is called.

        Raises:
            RuntimeError: if the server has not been started.
        """
        if self._address is None:
            raise RuntimeError("AbciServer.serve_forever() called before start()")
        await self._stopped.wait()

    async def stop(self) -> None:
        """Stop listening, close every connection and remove the unix socket file. Idempotent."""
        server, address = self._server, self._address
        if server is None:
            return
        self._server = None
        server.close()
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()
        if isinstance(address, UnixAddress):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(address.path)
        self._stopped.set()
        logger.info("ABCI server stopped")

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one client connection until it closes, breaks the framing, or the server stops."""
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        connection = _Connection(next(self._connection_ids), writer.get_extra_info("peername"))
        logger.info("ABCI connection %s opened", connection)
        try:
            await self._request_loop(connection, reader, writer)
        except ConnectionError as error:
            logger.info("ABCI connection %s closed by peer: %s", connection, error)
        except OSError as error:
            logger.warning("ABCI connection %s lost: %s", connection, error)
        except asyncio.CancelledError:
            # Not re-raised: asyncio's stream callback would log a cancelled connection task as an error.
            logger.info("ABCI connection %s closed by server shutdown", connection)
        except Exception:
            logger.exception("ABCI connection %s failed; closing it", connection)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    async def _request_loop(
        self, connection: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read frames, answer each in order, write the answers; return when the connection ends."""
        decoder = FrameDecoder(self._max_message_size)
        while True:
            chunk = await reader.read(READ_CHUNK_SIZE)
            if not chunk:
                if decoder.pending:
                    logger.warning(
                        "ABCI connection %s closed by peer mid-message (%d bytes discarded)",
                        connection,
                        decoder.pending,
                    )
                else:
                    logger.info("ABCI connection %s closed by peer", connection)
                return
            fault: FramingError | None = None
            try:
                frames = decoder.feed(chunk)
            except FramingError as error:
                frames, fault = error.frames, error
            pending = bytearray()
            for frame in frames:
                response = await self._answer(connection, frame)
                pending += self._encode_response(connection, response)
                if response.WhichOneof("value") == "flush":
                    writer.write(pending)
                    pending.clear()
                    await writer.drain()
            if fault is not None:
                logger.error("ABCI connection %s: broken framing, closing it: %s", connection, fault)
                pending += encode_frame(_exception(f"broken ABCI framing, closing connection: {fault}"))
                writer.write(pending)
                await writer.drain()
                return
            if pending:
                writer.write(pending)
                await writer.drain()

    async def _answer(self, connection: _Connection, frame: bytes) -> abci.Response:
        """Decode one request frame and produce its response; never raises for a bad request."""
        try:
            request = abci.Request.FromString(frame)
        except DecodeError as error:
            logger.error(
                "ABCI connection %s: undecodable request (%d bytes): %s", connection, len(frame), error
            )
            return abci.Response(
                exception=abci.ResponseException(
                    error=f"cannot decode ABCI request ({len(frame)} bytes): {error}"
                )
            )
        kind = request.WhichOneof("value")
        if kind is None:
            logger.error("ABCI connection %s: request with an empty or unknown oneof", connection)
            return abci.Response(
                exception=abci.ResponseException(
                    error="ABCI request has no known method set (empty or unknown oneof field); "
                    "is the client speaking ABCI for CometBFT v0.38?"
                )
            )
        if kind == "echo":
            return abci.Response(echo=abci.ResponseEcho(message=request.echo.message))
        if kind == "flush":
            return abci.Response(flush=abci.ResponseFlush())
        connection.note_request(kind)
        logger.debug("ABCI connection %s: %s", connection, kind)
        async with self._app_lock:
            started = time.perf_counter()
            try:
                response = _APP_HANDLERS[kind](self._app, request)
                if response.WhichOneof("value") != kind:
                    raise TypeError(f"application {kind}() returned no response")
            except NodeFault as error:
                logger.critical(
                    "node fault in %s(): %s; answering ResponseException, CometBFT stops this node. Fix "
                    "the machine (memory, address space) and restart: the uncommitted block is replayed",
                    kind,
                    error,
                    exc_info=True,
                )
                response = abci.Response(
                    exception=abci.ResponseException(error=f"{kind}: node fault: {error}")
                )
            except Exception as error:
                logger.exception("ABCI application %s() raised; answering ResponseException", kind)
                response = abci.Response(
                    exception=abci.ResponseException(error=f"{kind}: {type(error).__name__}: {error}")
                )
            if self._observer is not None:
                self._observer(kind, request, response, time.perf_counter() - started)
        return response

    def _encode_response(self, connection: _Connection, response: abci.Response) -> bytes:
        """Frame a response; one too large for CometBFT to read becomes a ResponseException."""
        payload = response.SerializeToString()
        try:
            return encode_frame(payload, self._max_message_size)
        except FramingError as error:
            logger.error("ABCI connection %s: response cannot be sent: %s", connection, error)
            return encode_frame(_exception(f"response cannot be sent: {error}"))


class _Connection:
    """Identity of one client connection, for logs: an id, the peer, and CometBFT's role once known."""

    def __init__(self, connection_id: int, peer: object) -> None:
        self.connection_id = connection_id
        self.peer = peer
        self.role: str | None = None

    def note_request(self, kind: str) -> None:
        """Infer the connection's role from the first request that reveals it."""
        if self.role is None:
            self.role = _CONNECTION_ROLE.get(kind)
            if self.role is not None:
                logger.info("ABCI connection %s identified as the %s connection", self, self.role)

    def __str__(self) -> str:
        peer = f" from {self.peer}" if self.peer else ""
        role = f" ({self.role})" if self.role else ""
        return f"#{self.connection_id}{role}{peer}"


def _exception(message: str) -> bytes:
    """A serialized ``Response{exception: {error: message}}``."""
    return abci.Response(exception=abci.ResponseException(error=message)).SerializeToString()


def _remove_stale_unix_socket(path: str) -> None:
    """Remove a socket file left by a previous run, unless something still listens on it.

    Raises:
        OSError: if a live server answers on ``path`` or a non-socket file is there.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a unix socket; refusing to replace it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        logger.info("removing stale ABCI socket file %s", path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise OSError(f"another process is already listening on {path}")
