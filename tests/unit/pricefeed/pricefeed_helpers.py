"""Shared helpers of the price feed tests: run a coroutine with a deadline, start the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from abci_app.pricefeed.simulator import Simulator, simulator_of, start_simulator

T = TypeVar("T")
SIM_NOW = 1_711_356_400.25  # a fixed simulator/client clock for exact-price tests
START = 1_711_356_300


def run(coro: Awaitable[T], timeout: float = 15.0) -> T:
    """Run ``coro`` on a fresh event loop, failing the test if it takes longer than ``timeout``."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def sim_config(**keys: Mapping[str, Any]) -> dict[str, Any]:
    """Two coins, two quotes, and the given keys' settings."""
    return {
        "start_time": START,
        "coins": {
            "bitcoin": {"usd": "67187.33", "eur": "62001.5"},
            "ethereum": {"usd": "3500.123456789012345678"},
        },
        "keys": {k: dict(v) for k, v in keys.items()},
    }


@contextlib.asynccontextmanager
async def simulator(
    config: Mapping[str, Any], clock: Callable[[], float] = time.time
) -> AsyncIterator[tuple[Simulator, str]]:
    """A running simulator on an ephemeral loopback port: (its state, base_url)."""
    runner, base_url = await start_simulator(config, clock=clock)
    try:
        yield simulator_of(runner), base_url
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def canned_server(
    status: int, body: bytes, content_type: str = "application/json"
) -> AsyncIterator[str]:
    """A loopback server answering every request with the same status and body; yields its base URL."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api/v3"
    finally:
        await runner.cleanup()
