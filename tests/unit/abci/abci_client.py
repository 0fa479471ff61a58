"""A minimal ABCI socket client and test application for driving a real AbciServer in tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from tendermint.abci import types_pb2 as abci

from abci_app.abci import BaseApplication, FrameDecoder, encode_frame
from abci_app.errors import NodeFault

T = TypeVar("T")

TIMEOUT = 10.0
"""Upper bound in seconds on any single test's asyncio work."""


def run(coroutine: Coroutine[Any, Any, T], timeout: float = TIMEOUT) -> T:
    """Run a coroutine on a fresh event loop, failing the test if it takes longer than ``timeout``."""

    async def bounded() -> T:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


class RecordingApp(BaseApplication):
    """Records every call; ``check_tx`` rejects tx ``b"bad"``; ``query`` raises on path ``/boom`` (a
    RuntimeError) and ``/fault`` (a NodeFault)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        self.calls.append("info")
        return abci.ResponseInfo(data="recording-app", last_block_height=7)

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        self.calls.append("check_tx")
        return abci.ResponseCheckTx(code=1 if req.tx == b"bad" else 0, data=req.tx)

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        self.calls.append("query")
        if req.path == "/boom":
            raise RuntimeError("query handler exploded")
        if req.path == "/fault":
            raise NodeFault("out of address space")
        if req.path == "/none":
            return None  # type: ignore[return-value]
        return abci.ResponseQuery(value=req.data)


class AbciTestClient:
    """Speaks raw ABCI frames to a server over one stream connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = FrameDecoder()
        self._ready: list[bytes] = []

    @classmethod
    async def connect(cls, address: str) -> AbciTestClient:
        """Open a connection to ``tcp://host:port`` or ``unix:///path``."""
        if address.startswith("unix://"):
            reader, writer = await asyncio.open_unix_connection(address.removeprefix("unix://"))
        else:
            host, _, port = address.removeprefix("tcp://").rpartition(":")
            reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are, framing or not."""
        self.writer.write(data)
        await self.writer.drain()

    async def send(self, *requests: abci.Request) -> None:
        """Write the requests, framed, in one write (pipelined)."""
        await self.send_raw(b"".join(encode_frame(r.SerializeToString()) for r in requests))

    async def receive(self, count: int) -> list[abci.Response]:
        """Read exactly ``count`` responses."""
        while len(self._ready) < count:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError(f"server closed the connection after {len(self._ready)} responses")
            self._ready += self._decoder.feed(chunk)
        frames, self._ready = self._ready[:count], self._ready[count:]
        return [abci.Response.FromString(frame) for frame in frames]

    async def call(self, request: abci.Request) -> abci.Response:
        """Send one request followed by Flush, as CometBFT does; return the request's response."""
        await self.send(request, flush())
        response, flushed = await self.receive(2)
        assert flushed.WhichOneof("value") == "flush"
        return response

    async def at_eof(self) -> bool:
        """True if the server has closed the connection (after any pending responses were read)."""
        return await self.reader.read(1) == b""

    async def close(self) -> None:
        """Close the connection."""
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def flush() -> abci.Request:
    """A Flush request."""
    return abci.Request(flush=abci.RequestFlush())


def echo(message: str) -> abci.Request:
    """An Echo request."""
    return abci.Request(echo=abci.RequestEcho(message=message))


def info() -> abci.Request:
    """An Info request."""
    return abci.Request(info=abci.RequestInfo(version="test"))


def check_tx(tx: bytes) -> abci.Request:
    """A CheckTx request."""
    return abci.Request(check_tx=abci.RequestCheckTx(tx=tx))


def query(path: str, data: bytes = b"") -> abci.Request:
    """A Query request."""
    return abci.Request(query=abci.RequestQuery(path=path, data=data))
