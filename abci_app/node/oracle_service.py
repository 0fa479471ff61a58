"""The node-local half of the oracle: fetch prices while this node's validator is in the active set.

The fetcher runs on the application's event loop and fills a :class:`PriceCache`; ExtendVote reads
only that cache (``app.price_source``), so a vote never waits for the network.

Membership is decided from committed state at every Commit (the service is one of the application's
commit listeners), never on a timer: the commit whose end-block puts this node's validator into the
active set starts the fetcher at once, so its cache is warm for the next round (CometBFT asks the
validator for votes two heights later); the commit that takes it out (unbonded, jailed, out of the top
``max_validators``) stops it. A change of the chain's pairs restarts it with the new pairs. Each
transition is logged once, with the height and the reason, on the ``abci_app.oracle`` logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from abci_app.app import Application
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.oracle.codec import pair_ids
from abci_app.modules.staking import keeper as staking
from abci_app.pricefeed.cache import PriceCache
from abci_app.pricefeed.client import PriceFetcher
from abci_app.pricefeed.config import FeedConfig, FeedConfigError, config_path

log = logging.getLogger("abci_app.oracle")

FetcherFactory = Callable[[FeedConfig, Sequence[str], PriceCache], PriceFetcher]


@dataclass(frozen=True)
class FeedPlan:
    """What the committed state at ``height`` asks of this node's price feed."""

    height: int
    active: bool  # this node's validator is in the active set
    reason: str  # why (or why not), in words for the log
    pairs: tuple[str, ...]  # the chain's pairs

    @property
    def fetch(self) -> tuple[str, ...]:
        """The pairs to fetch: the chain's while active, none otherwise."""
        return self.pairs if self.active else ()


def feed_plan(app: Application, height: int) -> FeedPlan:
    """The plan of the committed version ``height`` for this node's consensus address."""
    ctx = app._context(app.store.branch(height), height)
    address = app.local.consensus_address
    active, reason = (
        staking.membership(ctx, address) if address else (False, "this node has no validator key")
    )
    return FeedPlan(height, active, reason, tuple(sorted(pair_ids(oracle.get_params(ctx)))))


class OracleService:
    """Runs a PriceFetcher for the chain's pairs while this node's validator is in the active set."""

    def __init__(
        self, app: Application, config: FeedConfig, *, fetcher_factory: FetcherFactory = PriceFetcher
    ) -> None:
        self.app = app
        self.config = config
        self.cache = PriceCache()
        self._make_fetcher = fetcher_factory
        self._fetcher: PriceFetcher | None = None
        self._fetch_stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._plan: FeedPlan | None = None  # the newest plan from committed state
        self._changed = asyncio.Event()  # set when _plan asks for other pairs than the last one
        self.transitions: deque[str] = deque(maxlen=100)  # the latest transitions' log lines, oldest first
        app.price_source = self.fresh_prices
        app.commit_listeners.append(self.on_commit)

    @property
    def fetcher(self) -> PriceFetcher | None:
        """The running fetcher, or None while this node's validator is not active (or has no pairs)."""
        return self._fetcher

    @classmethod
    def from_home(cls, app: Application, home: Path) -> OracleService | None:
        """The service configured in ``<home>/config/pricefeed.json``; None when absent or disabled."""
        if not config_path(home).exists():
            log.info("no %s: this node reports no prices", config_path(home))
            return None
        try:
            config = FeedConfig.load(home)
        except FeedConfigError as exc:
            log.error("price feed disabled: %s", exc)
            return None
        if not config.enabled:
            log.info("price feed disabled in %s", config_path(home))
            return None
        return cls(app, config)

    def fresh_prices(self) -> dict[str, int]:
        """Quotes no older than the chain's and this node's maximum age (wall clock: ExtendVote only)."""
        if self.app.store.last_version == 0:
            return {}
        ctx = self.app._context(self.app.store.branch(), self.app.store.last_version)
        chain_age = oracle.get_params(ctx).max_price_age_seconds
        max_age = min(chain_age or self.config.max_price_age_s, self.config.max_price_age_s)
        return self.cache.fresh(int(time.time()), max_age)

    def on_commit(self, height: int, app_hash: bytes) -> None:
        """Commit listener: take the plan of the version just committed; wake :meth:`run` on a change."""
        plan = feed_plan(self.app, height)
        previous = self._plan
        self._plan = plan
        if previous is None or plan.fetch != previous.fetch:
            self._changed.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Start, restart or stop the fetcher as each commit's plan asks, until ``stop``."""
        if self._plan is None and self.app.store.last_version > 0:
            self._plan = feed_plan(self.app, self.app.store.last_version)  # a node started mid-chain
        if self._plan is not None and not self._plan.active:
            log.info(
                "price feed idle at height %d: this node's validator is not in the active set (%s); "
                "it starts at the commit that puts it there",
                self._plan.height,
                self._plan.reason,
            )
        try:
            while not stop.is_set():
                self._changed.clear()
                await self._apply(self._plan)
                await _first_of(stop, self._changed)
        finally:
            await self._apply(None, shutting_down=True)

    async def _apply(self, plan: FeedPlan | None, *, shutting_down: bool = False) -> None:
        """Make the fetcher fetch ``plan.fetch`` (nothing for None); log the transition once."""
        want = plan.fetch if plan is not None else ()
        running = self._fetcher.pairs if self._fetcher is not None else ()
        if want == running:
            return
        if self._fetcher is not None:
            await self._stop_fetcher()
            if not want:
                self._transition(
                    "price feed stopped: node shutting down"
                    if shutting_down or plan is None
                    else f"price feed stopped at height {plan.height}: this node's validator left the "
                    f"active set ({plan.reason})"
                )
        if want:
            assert plan is not None
            self._fetcher = self._make_fetcher(self.config, want, self.cache)
            self._fetch_stop = asyncio.Event()
            self._task = asyncio.ensure_future(self._fetcher.run(self._fetch_stop))
            verb = "restarted for the chain's new pairs" if running else "started"
            self._transition(
                f"price feed {verb} at height {plan.height}: this node's validator is {plan.reason}; "
                f"fetching {len(want)} pairs from {self.config.base_url} from the next round"
            )

    async def _stop_fetcher(self) -> None:
        assert self._fetch_stop is not None and self._task is not None and self._fetcher is not None
        self._fetch_stop.set()
        await self._task
        await self._fetcher.close()
        self._fetcher = self._fetch_stop = self._task = None

    def _transition(self, line: str) -> None:
        self.transitions.append(line)
        log.info("%s", line)


async def _first_of(*events: asyncio.Event) -> None:
    """Wait until any of ``events`` is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiter
