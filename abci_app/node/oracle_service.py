"""The node-local half of the oracle: fetch prices while this node is an active, unjailed validator.

The fetcher runs on the application's event loop and fills a :class:`PriceCache`; ExtendVote reads
only that cache (``app.price_source``), so a vote never waits for the network. The service checks the
committed validator set every few seconds and starts or stops the fetcher accordingly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from abci_app.app import Application
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.oracle.codec import pair_ids
from abci_app.modules.staking import keeper as staking
from abci_app.pricefeed.cache import PriceCache
from abci_app.pricefeed.client import PriceFetcher
from abci_app.pricefeed.config import FeedConfig, FeedConfigError, config_path

log = logging.getLogger("abci_app.oracle")
CHECK_INTERVAL_S = 2.0


class OracleService:
    """Runs a PriceFetcher for the chain's pairs while this node's validator is active and unjailed."""

    def __init__(self, app: Application, config: FeedConfig) -> None:
        self.app = app
        self.config = config
        self.cache = PriceCache()
        self._fetcher: PriceFetcher | None = None
        self._fetch_stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        app.price_source = self.fresh_prices

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

    def _chain_view(self) -> tuple[bool, list[str], int]:
        """(is this node an active unjailed validator, the chain's pairs, the chain's max price age)."""
        ctx = self.app._context(self.app.store.branch(), self.app.store.last_version)
        params = oracle.get_params(ctx)
        active = staking.is_active(ctx, self.app.config.consensus_address)
        return active, pair_ids(params), params.max_price_age_seconds

    def fresh_prices(self) -> dict[str, int]:
        """Quotes no older than the chain's and this node's maximum age (wall clock: ExtendVote only)."""
        if self.app.store.last_version == 0:
            return {}
        ctx = self.app._context(self.app.store.branch(), self.app.store.last_version)
        chain_age = oracle.get_params(ctx).max_price_age_seconds
        max_age = min(chain_age or self.config.max_price_age_s, self.config.max_price_age_s)
        return self.cache.fresh(int(time.time()), max_age)

    async def run(self, stop: asyncio.Event) -> None:
        """Start/stop the fetcher as the validator's status changes, until ``stop``."""
        try:
            while not stop.is_set():
                if self.app.store.last_version > 0:
                    active, pairs, _ = self._chain_view()
                    await self._apply(active, pairs)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), CHECK_INTERVAL_S)
        finally:
            await self._apply(False, [])

    async def _apply(self, active: bool, pairs: list[str]) -> None:
        running = self._fetcher is not None
        if running and (not active or tuple(sorted(pairs)) != self._fetcher.pairs):  # type: ignore[union-attr]
            assert self._fetch_stop is not None and self._task is not None
            self._fetch_stop.set()
            await self._task
            assert self._fetcher is not None
            await self._fetcher.close()
            self._fetcher = None
            log.info("price fetcher stopped (validator active: %s)", active)
        if active and self._fetcher is None and pairs:
            self._fetcher = PriceFetcher(self.config, pairs, self.cache)
            self._fetch_stop = asyncio.Event()
            self._task = asyncio.ensure_future(self._fetcher.run(self._fetch_stop))
            log.info("price fetcher started for %d pairs from %s", len(pairs), self.config.base_url)
