"""The operator's early warning: this validator's oracle standing and the chain's price ages, as metrics.

A commit listener reads the version just committed (never a block in progress), so what it reports is
exactly what every node's state says: this node's validator's misses in the oracle window, the
counted rounds it may still miss before it is jailed, whether it is jailed, the last counted round it
reported in, and each pair's latest on-chain price (its value and its age, read at scrape time).
When the validator comes within :data:`WARN_ROUNDS` of jail, a warning on the ``abci_app.oracle``
logger says so, again at each further miss, and once when it is jailed.
Nothing here writes state or touches consensus.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from abci_app.app import Application
from abci_app.context import Context
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.oracle.keys import STORE as ORACLE_STORE
from abci_app.modules.oracle.keys import miss_bit_key
from abci_app.modules.oracle.liveness import Standing, standing

log = logging.getLogger("abci_app.oracle")

WARN_ROUNDS_MIN = 10  # warn at least this many counted rounds before jail ...
WARN_WINDOW_FRACTION = 20  # ... or 1/20 of the window, whichever is more (500 rounds at the default)


def warn_rounds(window: int) -> int:
    """How close to jail (in counted rounds it may still miss) the warning starts."""
    return max(WARN_ROUNDS_MIN, window // WARN_WINDOW_FRACTION)


class OracleLiveness(Collector):
    """Follows the committed state for this node's validator; a Prometheus collector of it."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self._lock = threading.Lock()  # commits on the event loop, scrapes on the metrics thread
        self.standing: Standing | None = None
        self.prices: dict[str, tuple[int, int]] = {}  # pair -> (height, block time ns) of the latest price
        self.values: dict[str, float] = {}  # pair -> latest price as a float (a metric, never state)
        self.height = 0
        self.last_reported = 0  # height of the last counted round this validator reported in (0: none seen)
        self._ring: tuple[int, int] | None = None  # (rounds_seen, index) of the validator's miss ring
        app.commit_listeners.append(self.on_commit)

    def on_commit(self, height: int, app_hash: bytes) -> None:
        """Commit listener: read the standing and the prices of the version just committed."""
        ctx = self.app._context(self.app.store.branch(height), height)
        address = self.app.local.consensus_address
        found = standing(ctx, address) if address else None
        records = oracle.latest_prices(ctx)
        prices = {r.pair: (r.height, r.block_time_ns) for r in records}
        scale = 10 ** oracle.get_params(ctx).decimals
        values = {r.pair: int(r.price) / scale for r in records}
        reported = self._reported(ctx, address, height) if found is not None and found.validator else 0
        with self._lock:
            previous, self.standing, self.prices, self.height = self.standing, found, prices, height
            self.values = values
            self.last_reported = reported or self.last_reported
        if found is not None and found.validator:
            self._warn(height, previous, found)

    def _reported(self, ctx: Context, address: bytes, height: int) -> int:
        """``height`` when this commit counted a round for the validator and its ring bit is not a miss.

        The miss ring (oracle keys ``0x05``) moves one position per counted round: a new position
        without a miss bit is a round it reported in. 0 when no round was counted at this commit.
        """
        info = oracle.miss_info(ctx, address)
        ring = (int(info.rounds_seen), int(info.index))
        previous, self._ring = self._ring, ring
        if previous is None or previous == ring or not info.rounds_seen:
            return 0
        window = oracle.get_params(ctx).window
        position = (info.index - 1) % window if window else 0
        missed = ctx.store(ORACLE_STORE).get(miss_bit_key(address, position))
        return 0 if missed is not None else height

    def _warn(self, height: int, previous: Standing | None, now: Standing) -> None:
        if now.jailed:
            if previous is None or not previous.jailed:
                log.warning("oracle: this node's validator is jailed at height %d (see JailRecords)", height)
            return
        limit = warn_rounds(now.window)
        changed = previous is None or previous.rounds_before_jail != now.rounds_before_jail
        if now.rounds_before_jail <= limit and changed:
            log.warning(
                "oracle: this node's validator may miss only %d more counted rounds before it is jailed "
                "(%d missed of the last %d; height %d): check its price feed",
                now.rounds_before_jail,
                now.missed_in_window,
                now.window,
                height,
            )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges of the last commit (nothing before the first one)."""
        with self._lock:
            found, prices, height = self.standing, dict(self.prices), self.height
            values, last_reported = dict(self.values), self.last_reported
        if found is not None and found.validator:
            yield GaugeMetricFamily(
                "taskmaster_oracle_missed_rounds",
                "This validator's missed rounds in the oracle window (counted rounds only)",
                value=found.missed_in_window,
            )
            yield GaugeMetricFamily(
                "taskmaster_oracle_rounds_before_jail",
                "Counted oracle rounds this validator may still miss in a row before it is jailed",
                value=found.rounds_before_jail,
            )
            yield GaugeMetricFamily(
                "taskmaster_oracle_jailed", "1 while this validator is jailed", value=int(found.jailed)
            )
            yield GaugeMetricFamily(
                "taskmaster_oracle_last_reported_height",
                "Height of the last counted oracle round this validator reported in (0: none since start)",
                value=last_reported,
            )
        if not prices:
            return
        price = GaugeMetricFamily(
            "taskmaster_oracle_price",
            "Each pair's latest on-chain price, in the quote unit (the 18-decimal integer as a float)",
            labels=["pair"],
        )
        for pair, value in sorted(values.items()):
            price.add_metric([pair], value)
        yield price
        seconds = GaugeMetricFamily(
            "taskmaster_oracle_price_age_seconds",
            "Seconds since the block time of each pair's latest on-chain price",
            labels=["pair"],
        )
        blocks = GaugeMetricFamily(
            "taskmaster_oracle_price_age_blocks",
            "Blocks since each pair's latest on-chain price, at the last commit",
            labels=["pair"],
        )
        now = time.time()
        for pair, (price_height, block_time_ns) in sorted(prices.items()):
            seconds.add_metric([pair], max(0.0, now - block_time_ns / 1e9))
            blocks.add_metric([pair], max(0, height - price_height))
        yield seconds
        yield blocks

    def register(self, registry: CollectorRegistry) -> OracleLiveness:
        """Add these gauges to a node's metrics registry; returns self."""
        registry.register(self)
        return self
