"""The price oracle as a built-in task: a round is opened every n blocks (or seconds); the next block's
injection carries the validators' reports; ``run`` aggregates them and counts misses.

Layout versions (``migrations``): v1 stores latest prices and a bounded history; v2 adds a per-pair
count of rounds ever written (``0x08 | pair -> u64``), back-filled by the migration from the history.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from taskmaster.oracle.v1 import oracle_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.modules.oracle import keeper
from abci_app.modules.oracle.aggregate import stake_weighted_median
from abci_app.modules.oracle.codec import ExtensionError, decode_extension, pair_ids
from abci_app.modules.oracle.injection import COMMIT, is_cleared
from abci_app.modules.oracle.keys import STORE, history_prefix
from abci_app.modules.taskmaster import keeper as taskmaster
from abci_app.modules.taskmaster.task import BuiltinTask, Migration, Outcome, Schedule

COUNT_PREFIX = b"\x08"


def count_key(pair: str) -> bytes:
    """v2 key: how many prices were ever written for ``pair``."""
    return COUNT_PREFIX + pair.encode()


def migrate_v2(ctx: Context) -> None:
    """v1 -> v2: back-fill each pair's round count from its retained history."""
    store = ctx.store(STORE)
    for pair in pair_ids(keeper.get_params(ctx)):
        count = sum(1 for _ in store.iterate_prefix(history_prefix(pair)))
        store.set(count_key(pair), count.to_bytes(8, "big"))


def _percent(bps: int) -> str:
    """Basis points as a percentage with two decimals, in integers (no float reaches state)."""
    return f"{bps // 100}.{bps % 100:02d}%"


def _has_quorum(entries: list[tuple[int, int]], total: int) -> bool:
    """Whether the reports of a pair hold at least 2/3 of the round's power (its price is written)."""
    power = sum(p for _, p in entries)
    return bool(entries) and 3 * power >= 2 * total


def _count_misses(
    ctx: Context, counted: list[tuple[bytes, set[int]]], quorum: set[int], params: oracle_pb2.Params
) -> None:
    """Count the round in each validator's window and jail those that fell below the minimum.

    A round counts only when at least one pair reached its 2/3 quorum, and a validator misses it
    only when it did not report every such pair: a pair nobody could price (a shared outage of the
    data source) is nobody's fault (Terra's and Ojo's rule, docs/oracle.md "Misses"). Candidates are
    jailed in the order of the commit's votes; :func:`keeper.jail` refuses those that would take the
    oracle's jailed power to 1/3 (they stay candidates and are tried again next round), or that
    staking's set-change guard refuses.
    """
    if not quorum:
        return
    jail_candidates: list[tuple[bytes, str]] = []
    for address, reported in counted:
        info = keeper.record_round(ctx, address, not quorum <= reported, params)
        if info is not None:
            jail_candidates.append(
                (
                    address,
                    f"missed {info.missed_in_window} of the last {params.window} oracle rounds "
                    f"(minimum valid {_percent(params.min_valid_bps)})",
                )
            )
    if jail_candidates:
        cap = keeper.jail_cap(ctx)  # read once for the round, then kept up to date by each jailing
        for address, reason in jail_candidates:
            keeper.jail(ctx, address, reason, params, cap)


def _valid_prices(vote: abci.ExtendedVoteInfo, pair_count: int) -> dict[int, int]:
    """The prices a vote reports: those of a valid extension on a commit vote, else none."""
    if vote.block_id_flag != COMMIT:
        return {}
    try:
        return decode_extension(vote.vote_extension, pair_count)
    except ExtensionError:
        return {}


class OracleTask(BuiltinTask):
    """Stake-weighted medians of the validators' CoinGecko quotes."""

    name = "oracle"
    store = STORE
    consensus_version = 2
    migrations: ClassVar[Mapping[int, Migration]] = MappingProxyType({2: migrate_v2})

    def schedule(self, ctx: Context) -> Schedule:
        """From the oracle params."""
        params = keeper.get_params(ctx)
        return Schedule(params.interval_blocks, params.interval_seconds, params.start_height)

    def upgrade_height(self, ctx: Context) -> int:
        """From the oracle params."""
        return keeper.get_params(ctx).upgrade_height

    def run(self, ctx: Context, round_height: int, inputs: Any) -> list[Outcome]:
        """Aggregate ``inputs`` (the injected ExtendedCommitInfo, or None when the block had none)."""
        params = keeper.get_params(ctx)
        pairs = pair_ids(params)
        if inputs is None:
            return [
                Outcome(False, pair, f"no injection for the round of height {round_height}") for pair in pairs
            ]
        assert isinstance(inputs, abci.ExtendedCommitInfo)
        total = sum(v.validator.power for v in inputs.votes)
        reports: dict[int, list[tuple[int, int]]] = {i: [] for i in range(len(pairs))}
        counted: list[tuple[bytes, set[int]]] = []  # (validator, pairs it reported), cleared votes left out
        for vote in inputs.votes:
            if vote.block_id_flag == COMMIT and is_cleared(vote):
                # the proposer says this signed extension failed verification; nobody else can check
                # that, so the round is not held against the validator (docs/oracle.md, "Cleared votes")
                ctx.emit(
                    "OracleReportCleared",
                    consensus_address=vote.validator.address.hex().upper(),
                    proposer=ctx.proposer.hex().upper(),
                    round_height=str(round_height),
                )
                continue
            prices = _valid_prices(vote, len(pairs))
            if vote.validator.power > 0:
                for index, price in prices.items():
                    reports[index].append((price, vote.validator.power))
            counted.append((vote.validator.address, set(prices)))
        quorum = {index for index, entries in reports.items() if _has_quorum(entries, total)}
        _count_misses(ctx, counted, quorum, params)
        outcomes = []
        status = taskmaster.status(ctx, self.name)
        versioned = status is not None and status.consensus_version >= 2
        for index, pair in enumerate(pairs):
            entries = reports[index]
            power = sum(p for _, p in entries)
            if index not in quorum:
                outcomes.append(
                    Outcome(False, pair, f"reports hold {power} of {total} power; at least 2/3 is required")
                )
                continue
            median = stake_weighted_median(entries)
            record = oracle_pb2.PriceRecord(
                pair=pair,
                price=str(median),
                height=ctx.height,
                block_time_ns=ctx.time_ns,
                reporting_power=power,
                reporter_count=len(entries),
                total_power=total,
            )
            keeper.write_price(ctx, record, params.history_size)
            if versioned:
                store = ctx.store(STORE)
                raw = store.get(count_key(pair))
                store.set(
                    count_key(pair), ((int.from_bytes(raw, "big") if raw else 0) + 1).to_bytes(8, "big")
                )
            outcomes.append(
                Outcome(True, pair, f"{median} from {len(entries)} reporters ({power}/{total} power)")
            )
        return outcomes

    def on_finish(self, ctx: Context, outcome: Outcome) -> None:
        """Emit ``OraclePriceUpdated``."""
        ctx.emit("OraclePriceUpdated", pair=outcome.subject, result=outcome.detail, height=str(ctx.height))

    def on_fail(self, ctx: Context, outcome: Outcome) -> None:
        """Emit ``OracleRoundFailed`` (no price is written for the pair)."""
        ctx.emit("OracleRoundFailed", pair=outcome.subject, error=outcome.detail, height=str(ctx.height))


TASK = OracleTask()
"""The oracle's built-in task (registered in the taskmaster's registry)."""
