"""AbciServer against real sockets: ordering, Flush, Echo, bad input, failing handlers, shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from tendermint.abci import types_pb2 as abci

from abci_app.abci import AbciServer, encode_frame, parse_address
from abci_app.abci.server import TcpAddress, UnixAddress

from .abci_client import AbciTestClient, RecordingApp, check_tx, echo, flush, info, query, run

TCP = "tcp://127.0.0.1:0"


@asynccontextmanager
async def serving(
    app: RecordingApp, address: str = TCP, max_message_size: int | None = None
) -> AsyncIterator[AbciServer]:
    """A started server that is always stopped afterwards."""
    server = (
        AbciServer(app) if max_message_size is None else AbciServer(app, max_message_size=max_message_size)
    )
    await server.start(address)
    try:
        yield server
    finally:
        await server.stop()


def with_client(
    scenario: Callable[[AbciServer, AbciTestClient, RecordingApp], Awaitable[None]], address: str = TCP
) -> RecordingApp:
    """Run ``scenario`` against a fresh server and one connected client; return the app."""
    app = RecordingApp()

    async def main() -> None:
        async with serving(app, address) as server:
            client = await AbciTestClient.connect(server.address)
            try:
                await scenario(server, client, app)
            finally:
                await client.close()

    run(main())
    return app


def kinds(responses: list[abci.Response]) -> list[str | None]:
    return [r.WhichOneof("value") for r in responses]


def test_pipelined_requests_are_answered_in_request_order() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        txs = [f"tx{i}".encode() for i in range(200)]
        await client.send(info(), *(check_tx(tx) for tx in txs), echo("end"), flush())
        responses = await client.receive(len(txs) + 3)
        assert kinds(responses) == ["info", *["check_tx"] * len(txs), "echo", "flush"]
        assert responses[0].info.last_block_height == 7
        assert [r.check_tx.data for r in responses[1:-2]] == txs
        assert responses[-2].echo.message == "end"

    with_client(scenario)


def test_flush_is_answered_after_the_requests_before_it() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        await client.send(check_tx(b"bad"), flush())
        rejected, flushed = await client.receive(2)
        assert rejected.check_tx.code == 1
        assert flushed == abci.Response(flush=abci.ResponseFlush())

    with_client(scenario)


def test_request_split_into_single_byte_writes_is_answered() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        stream = b"".join(encode_frame(r.SerializeToString()) for r in (check_tx(b"slow"), flush()))
        for byte in stream:
            await client.send_raw(bytes([byte]))
            await asyncio.sleep(0)
        response, _ = await client.receive(2)
        assert response.check_tx.data == b"slow"

    with_client(scenario)


def test_echo_is_answered_by_the_server_without_the_application() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        response = await client.call(echo("hello"))
        assert response.echo.message == "hello"

    assert with_client(scenario).calls == []


def test_large_request_and_response_over_one_mib() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        payload = os.urandom(3 * 1024 * 1024)
        response = await client.call(query("/echo", payload))
        assert response.query.value == payload

    with_client(scenario)


def test_unix_socket_serves_requests_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "abci.sock"

    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        assert server.address == f"unix://{path}"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        response = await client.call(info())
        assert response.info.data == "recording-app"

    with_client(scenario, f"unix://{path}")
    assert not path.exists()


def test_stale_unix_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(path))
    leftover.close()  # the file stays, nothing listens on it
    assert path.exists()

    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        assert (await client.call(echo("ok"))).echo.message == "ok"

    with_client(scenario, f"unix://{path}")


def test_unix_socket_with_a_live_listener_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "live.sock"

    async def main() -> None:
        async with serving(RecordingApp(), f"unix://{path}"):
            with pytest.raises(OSError, match="already listening"):
                await AbciServer(RecordingApp()).start(f"unix://{path}")

    run(main())


def test_non_socket_file_at_unix_path_is_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "important.txt"
    path.write_text("keep me")

    async def main() -> None:
        with pytest.raises(FileExistsError):
            await AbciServer(RecordingApp()).start(f"unix://{path}")

    run(main())
    assert path.read_text() == "keep me"


def test_garbage_bytes_get_an_exception_and_the_connection_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        await client.send_raw(encode_frame(b"\xff\xff\xff\xff garbage"))
        await client.send(flush())
        error, flushed = await client.receive(2)
        assert error.WhichOneof("value") == "exception"
        assert "cannot decode ABCI request" in error.exception.error
        assert flushed.WhichOneof("value") == "flush"
        assert (await client.call(info())).info.last_block_height == 7

    with caplog.at_level(logging.ERROR, logger="abci_app.abci"):
        with_client(scenario)
    assert any("undecodable request" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        abci.Request().SerializeToString(),
        b"\x4a\x00",
    ],  # empty; empty oneof; reserved field 9 (DeliverTx)
    ids=["empty-frame", "empty-request", "unknown-field"],
)
def test_request_without_a_known_method_gets_an_exception(frame: bytes) -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        await client.send_raw(encode_frame(frame))
        (error,) = await client.receive(1)
        assert "empty or unknown oneof" in error.exception.error
        assert (await client.call(echo("still here"))).echo.message == "still here"

    with_client(scenario)


def test_malformed_varint_gets_an_exception_then_the_connection_is_closed() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        await client.send(echo("before"))
        await client.send_raw(b"\xff" * 11)
        answered, error = await client.receive(2)
        assert answered.echo.message == "before"
        assert "broken ABCI framing" in error.exception.error
        assert "malformed length prefix" in error.exception.error
        assert await client.at_eof()
        other = await AbciTestClient.connect(server.address)
        assert (await other.call(info())).info.last_block_height == 7
        await other.close()

    with_client(scenario)


def test_oversize_message_gets_an_exception_then_the_connection_is_closed() -> None:
    async def main() -> None:
        async with serving(RecordingApp(), max_message_size=1024) as server:
            client = await AbciTestClient.connect(server.address)
            await client.send(check_tx(b"x" * 2000))
            (error,) = await client.receive(1)
            assert "exceeds the maximum of 1024 bytes" in error.exception.error
            assert await client.at_eof()
            await client.close()

    run(main())


def test_handler_raising_gets_an_exception_and_is_logged_with_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        response = await client.call(query("/boom"))
        assert response.exception.error == "query: RuntimeError: query handler exploded"
        assert (await client.call(query("/echo", b"ok"))).query.value == b"ok"

    with caplog.at_level(logging.ERROR, logger="abci_app.abci"):
        with_client(scenario)
    failures = [r for r in caplog.records if "query() raised" in r.getMessage()]
    assert len(failures) == 1
    assert failures[0].exc_info is not None


def test_a_node_fault_gets_an_exception_and_is_logged_as_critical(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        response = await client.call(query("/fault"))
        assert response.exception.error == "query: node fault: out of address space"

    with caplog.at_level(logging.ERROR, logger="abci_app.abci"):
        with_client(scenario)
    assert [r.levelname for r in caplog.records if "node fault in query()" in r.getMessage()] == ["CRITICAL"]


def test_handler_returning_nothing_gets_an_exception() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        response = await client.call(query("/none"))
        assert "returned no response" in response.exception.error

    with_client(scenario)


def test_client_disconnecting_mid_message_leaves_other_connections_served() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        quitter = await AbciTestClient.connect(server.address)
        await quitter.send_raw(encode_frame(b"x" * 100)[:50])
        await quitter.close()
        await asyncio.sleep(0.05)
        assert (await client.call(info())).info.last_block_height == 7

    with_client(scenario)


def test_four_connections_are_served_concurrently() -> None:
    async def scenario(server: AbciServer, client: AbciTestClient, app: RecordingApp) -> None:
        others = [await AbciTestClient.connect(server.address) for _ in range(3)]
        clients = [client, *others]
        results = await asyncio.gather(*(c.call(check_tx(f"c{i}".encode())) for i, c in enumerate(clients)))
        assert [r.check_tx.data for r in results] == [b"c0", b"c1", b"c2", b"c3"]
        for other in others:
            await other.close()

    assert with_client(scenario).calls == ["check_tx"] * 4


def test_stop_closes_open_connections() -> None:
    async def main() -> None:
        server = AbciServer(RecordingApp())
        await server.start(TCP)
        client = await AbciTestClient.connect(server.address)
        assert (await client.call(echo("x"))).echo.message == "x"
        waiter = asyncio.create_task(server.serve_forever())
        await server.stop()
        await asyncio.wait_for(waiter, 1)
        assert await client.at_eof()
        await client.close()
        await server.stop()  # idempotent

    run(main())


def test_server_cannot_start_twice() -> None:
    async def main() -> None:
        async with serving(RecordingApp()) as server:
            with pytest.raises(RuntimeError, match="already started"):
                await server.start(TCP)

    run(main())


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("tcp://127.0.0.1:26658", TcpAddress("127.0.0.1", 26658)),
        ("127.0.0.1:26658", TcpAddress("127.0.0.1", 26658)),
        ("tcp://[::1]:0", TcpAddress("::1", 0)),
        ("unix:///var/run/abci.sock", UnixAddress("/var/run/abci.sock")),
    ],
)
def test_parse_address(address: str, parsed: TcpAddress | UnixAddress) -> None:
    assert parse_address(address) == parsed


@pytest.mark.parametrize(
    "address", ["grpc://127.0.0.1:1", "tcp://127.0.0.1", "tcp://:80", "tcp://h:99999", "unix://"]
)
def test_parse_address_rejects(address: str) -> None:
    with pytest.raises(ValueError):
        parse_address(address)
