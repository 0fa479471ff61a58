"""The price feed follows the active set: decided at each commit from committed state, no timer, no restart.

An in-process chain (staking_chain: ``operator`` with 100 power, ``max_validators`` 2) is driven block by
block while an :class:`OracleService` for ``user0``'s consensus key runs on the same event loop with a
fetcher that does no I/O.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.modules.staking import keeper as staking
from abci_app.node.oracle_service import OracleService, feed_plan
from abci_app.pricefeed.client import PriceFetcher
from abci_app.pricefeed.config import FeedConfig
from abci_app.tx.address import address_from_pubkey, from_bech32
from tests.app.driver import Chain
from tests.unit.staking.staking_chain import addr, consensus_key, create, delegate, run, start, undelegate

CONFIG = FeedConfig(base_url="http://127.0.0.1:9/api/v3", api_key="k")


class IdleFetcher(PriceFetcher):
    """A fetcher that polls nothing: it waits for its stop."""

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = start(str(tmp_path / "db"))
    c.app.local.consensus_address = address_from_pubkey(consensus_key("user0"))
    yield c
    c.app.close()


def _service(chain: Chain) -> OracleService:
    return OracleService(chain.app, CONFIG, fetcher_factory=IdleFetcher)


async def _until(condition: Callable[[], bool]) -> None:
    """Let the service's task run until ``condition`` holds (in-process: a few loop turns at most)."""
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the service did not get there")


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def _commit_with(chain: Chain, change: Callable[[Context], None]) -> None:
    """Commit a block where ``change`` happens (as the oracle jails) before staking's end-block."""
    height = chain.height + 1
    branch = chain.app._block_branch()
    ctx = chain.app._context(branch, height)
    change(ctx)
    staking.end_block(ctx)
    chain.app.store.stage(branch, height)
    chain.app.staged_height = height
    chain.app.commit(abci.RequestCommit())
    chain.height = height


def _operator(chain: Chain, name: str) -> bytes:
    return from_bech32(addr(chain, name))


def test_the_feed_starts_at_the_commit_that_puts_the_validator_in_the_set(chain: Chain) -> None:
    async def scenario() -> None:
        service = _service(chain)
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        chain.block([])
        await _settle()
        assert service.fetcher is None and list(service.transitions) == []
        run(chain, "user0", create(chain, "user0", 30_000_000))
        await _until(lambda: service.fetcher is not None)
        assert service.fetcher is not None and service.fetcher.pairs == ("bitcoin/usd", "ethereum/usd")
        (line,) = service.transitions
        assert f"started at height {chain.height}" in line and "in the active set with power 30" in line
        stop.set()
        await task
        assert service.fetcher is None and "node shutting down" in service.transitions[-1]

    asyncio.run(scenario())


def test_undelegating_below_one_unit_of_power_stops_the_feed_as_unbonded(tmp_path: Path) -> None:
    # no minimum self-delegation: with the default (one unit of power) the operator would be jailed
    chain = start(str(tmp_path / "unbonded"), {"max_validators": "2", "min_self_delegation": "0"})
    chain.app.local.consensus_address = address_from_pubkey(consensus_key("user0"))

    async def scenario() -> None:
        run(chain, "user0", create(chain, "user0", 30_000_000))
        service = _service(chain)
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        await _until(lambda: service.fetcher is not None)  # started mid-chain: from the committed state
        run(chain, "user0", undelegate(chain, "user0", addr(chain, "user0"), 29_500_000))
        await _until(lambda: service.fetcher is None)
        assert len(service.transitions) == 2
        assert f"stopped at height {chain.height}" in service.transitions[1]
        assert "unbonded: 500000 bonded tokens" in service.transitions[1]
        stop.set()
        await task

    asyncio.run(scenario())
    chain.app.close()


def test_an_operator_undelegating_below_its_minimum_self_delegation_stops_the_feed_as_jailed(
    chain: Chain,
) -> None:
    async def scenario() -> None:
        run(chain, "user0", create(chain, "user0", 30_000_000))
        service = _service(chain)
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        await _until(lambda: service.fetcher is not None)
        run(chain, "user0", undelegate(chain, "user0", addr(chain, "user0"), 29_500_000))
        await _until(lambda: service.fetcher is None)
        assert "left the active set (jailed)" in service.transitions[-1]
        stop.set()
        await task

    asyncio.run(scenario())


def test_a_validator_pushed_out_of_the_top_n_stops_and_restarts_when_it_is_back(chain: Chain) -> None:
    async def scenario() -> None:
        run(chain, "user0", create(chain, "user0", 30_000_000))
        service = _service(chain)
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        await _until(lambda: service.fetcher is not None)
        run(chain, "user1", create(chain, "user1", 50_000_000))  # max_validators is 2
        await _until(lambda: service.fetcher is None)
        assert "out of the top 2 validators by power" in service.transitions[-1]
        run(chain, "user2", delegate(chain, "user2", addr(chain, "user0"), 30_000_000))
        await _until(lambda: service.fetcher is not None)
        assert "in the active set with power 60" in service.transitions[-1]
        assert len(service.transitions) == 3
        stop.set()
        await task

    asyncio.run(scenario())


def test_jailing_stops_the_feed_and_unjailing_starts_it(chain: Chain) -> None:
    async def scenario() -> None:
        run(chain, "user0", create(chain, "user0", 30_000_000))
        service = _service(chain)
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        await _until(lambda: service.fetcher is not None)
        _commit_with(chain, lambda ctx: staking.jail(ctx, _operator(chain, "user0")))
        await _until(lambda: service.fetcher is None)
        assert service.transitions[-1].endswith("left the active set (jailed)")

        def unjail(ctx: Context) -> None:
            staking.unjail(ctx, _operator(chain, "user0"))

        _commit_with(chain, unjail)
        await _until(lambda: service.fetcher is not None)
        stop.set()
        await task

    asyncio.run(scenario())


def test_each_transition_is_logged_once_however_many_blocks_follow(
    chain: Chain, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        service = _service(chain)
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        run(chain, "user0", create(chain, "user0", 30_000_000))
        for _ in range(5):
            chain.block([])
            await _settle()
        run(chain, "user0", undelegate(chain, "user0", addr(chain, "user0"), 29_500_000))
        for _ in range(5):
            chain.block([])
            await _settle()
        stop.set()
        await task

    with caplog.at_level(logging.INFO, logger="abci_app.oracle"):
        asyncio.run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("price feed")]
    assert [line.split(" at height")[0].split(":")[0] for line in lines] == [
        "price feed started",
        "price feed stopped",
    ]
    assert "left the active set" in lines[1] and "shutting down" not in lines[1]


def test_a_node_without_a_validator_key_never_fetches(chain: Chain) -> None:
    chain.app.local.consensus_address = b""
    chain.block([])
    plan = feed_plan(chain.app, chain.height)
    assert (plan.active, plan.fetch, plan.reason) == (False, (), "this node has no validator key")
