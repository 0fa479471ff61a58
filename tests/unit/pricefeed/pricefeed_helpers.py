"""Shared helpers of the price feed tests: run a coroutine with a deadline, start the simulator, read
CoinGecko's documented answers from ``tests/fixtures/coingecko/``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from abci_app.pricefeed.decimal18 import JsonNumber
from devtools.coingecko_simulator import Simulator, simulator_of, start_simulator

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "coingecko"
_INTEGER = re.compile(r"-?[0-9]+")
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


@dataclass(frozen=True)
class DocumentedAnswer:
    """One file of ``tests/fixtures/coingecko/``: an HTTP answer as CoinGecko documents it."""

    name: str
    status: int
    content_type: str
    body: bytes
    query: str | None
    source_url: str


def documented(name: str) -> DocumentedAnswer:
    """The fixture ``<name>.json`` (its ``source`` must name a URL)."""
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    request = data.get("request") or {}
    return DocumentedAnswer(
        name=name,
        status=int(data["status"]),
        content_type=str(data["content_type"]),
        body=str(data["body"]).encode("utf-8"),
        query=request.get("query"),
        source_url=str(data["source"]["url"]),
    )


def documented_names() -> list[str]:
    """Every fixture name, sorted."""
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def shape_mismatches(served: object, doc: object, where: str = "$") -> list[str]:
    """Where ``served`` (parsed with ``loads_no_float``) does not have the keys and JSON types of ``doc``.

    An integer in ``doc`` (like ``last_updated_at``) must be an integer; any other number a number.
    """
    if isinstance(doc, dict):
        if not isinstance(served, dict):
            return [f"{where}: an object expected, got {type(served).__name__}"]
        out = (
            [f"{where}: keys {sorted(served)} != documented {sorted(doc)}"] if set(served) != set(doc) else []
        )
        for key in sorted(set(served) & set(doc)):
            out += shape_mismatches(served[key], doc[key], f"{where}.{key}")
        return out
    if isinstance(doc, JsonNumber):
        if not isinstance(served, JsonNumber):
            return [f"{where}: a number expected, got {served!r}"]
        if _INTEGER.fullmatch(doc) and not _INTEGER.fullmatch(served):
            return [f"{where}: an integer expected, got {served}"]
        return []
    if type(served) is not type(doc):
        return [f"{where}: {type(doc).__name__} expected, got {served!r}"]
    return []


@contextlib.asynccontextmanager
async def documented_server(answer: DocumentedAnswer) -> AsyncIterator[str]:
    """A loopback server answering every request with a documented answer; yields its base URL."""
    async with canned_server(answer.status, answer.body, answer.content_type) as base_url:
        yield base_url


def no_floats(value: Any) -> bool:
    """True when no float is anywhere in ``value`` (a parsed JSON document)."""
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(no_floats(v) for v in value.values())
    if isinstance(value, list):
        return all(no_floats(v) for v in value)
    return True
