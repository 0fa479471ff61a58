"""Oracle state: params, latest prices, bounded history, miss windows and jail records.

Every function takes the context of the block (or query) and reads/writes only the ``oracle`` store,
and asks staking to ``slash``, ``jail`` and ``unjail`` validators (it never edits a validator record or
burns from staking's pool itself): the oracle keeps only its liveness bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice

from taskmaster.oracle.v1 import oracle_pb2

from abci_app.context import Context
from abci_app.errors import AppError, register
from abci_app.modules.oracle.aggregate import time_weighted_average
from abci_app.modules.oracle.codec import MAX_PAIRS, pair_id, pair_ids
from abci_app.modules.oracle.keys import (
    JAIL_PREFIX,
    LATEST_PREFIX,
    MISS_INFO_PREFIX,
    PARAMS,
    STORE,
    history_key,
    history_prefix,
    jail_key,
    latest_key,
    miss_bit_key,
    miss_info_key,
)
from abci_app.modules.staking import keeper as staking
from abci_app.tx.address import from_bech32, to_bech32

NOT_JAILED = register("oracle", 2, "validator not jailed")
STILL_JAILED = register("oracle", 3, "jail period not over")
UNKNOWN_PAIR = register("oracle", 4, "unknown pair")
INVALID_PARAMS = register("oracle", 5, "invalid oracle params")

DEFAULT_PARAMS = oracle_pb2.Params(
    pairs=[
        oracle_pb2.Pair(coingecko_id="bitcoin", quote="usd"),
        oracle_pb2.Pair(coingecko_id="ethereum", quote="usd"),
    ],
    decimals=18,
    interval_blocks=5,
    start_height=2,
    max_price_age_seconds=120,
    window=10_000,  # counted rounds: >= 50,000 blocks, about 2.9 days of 5 s blocks (docs/oracle.md)
    min_valid_bps=500,  # 5%, as Terra's and Ojo's MinValidPerWindow
    jail_duration=20,
    slash_bps=1,  # 0.01%, as Terra's and Ojo's SlashFraction
    grace_rounds=5,
    history_size=100,
)


def get_params(ctx: Context) -> oracle_pb2.Params:
    """Oracle params (defaults before genesis)."""
    raw = ctx.store(STORE).get(PARAMS)
    return oracle_pb2.Params.FromString(raw) if raw is not None else DEFAULT_PARAMS


MAX_PAIR_PART_BYTES = 64  # a CoinGecko id or a quote
MAX_PAIR_ID_BYTES = 2 * MAX_PAIR_PART_BYTES + 1
MAX_WINDOW = 10_000
MAX_HISTORY_SIZE = 10_000
MIN_HISTORY_SIZE = 2  # the latest price and the one before it: price triggers fire on crossings
MAX_BLOCKS_PARAM = 10**9  # interval_blocks, jail_duration, grace_rounds: products stay within int64
MAX_SECONDS_PARAM = 10**9  # interval_seconds, max_price_age_seconds: x 10^9 ns stays within int64


def _pair_part_ok(part: str) -> bool:
    return (
        0 < len(part) <= MAX_PAIR_PART_BYTES
        and part.isascii()
        and part.isprintable()
        and ("/" not in part and " " not in part)
    )


def set_params(ctx: Context, params: oracle_pb2.Params) -> None:
    """Validate and store params: pairs sorted, unique and bounded, a schedule, bounded numbers.

    The bounds keep every derived number inside its field (int64 heights and nanoseconds, uint32
    counts) and every report inside one vote extension (:data:`codec.MAX_PAIRS`).
    """
    ids = pair_ids(params)
    if len(ids) > MAX_PAIRS:
        raise INVALID_PARAMS(f"at most {MAX_PAIRS} pairs, got {len(ids)}")
    for pair in params.pairs:
        if not (_pair_part_ok(pair.coingecko_id) and _pair_part_ok(pair.quote)):
            raise INVALID_PARAMS(
                f"pair {pair_id(pair)!r}: coingecko_id and quote must be 1..{MAX_PAIR_PART_BYTES} "
                "printable ASCII characters without '/' or spaces"
            )
    if ids != sorted(set(ids)):
        raise INVALID_PARAMS(f"pairs must be sorted by id and unique, got {ids}")
    if not params.interval_blocks and not params.interval_seconds:
        raise INVALID_PARAMS("set interval_blocks or interval_seconds")
    if params.window == 0 or params.min_valid_bps > 10_000 or params.slash_bps > 10_000:
        raise INVALID_PARAMS("window must be > 0 and basis points at most 10000")
    if params.history_size < MIN_HISTORY_SIZE:
        raise INVALID_PARAMS(
            f"history_size is {params.history_size}; give at least {MIN_HISTORY_SIZE}: a price trigger "
            "compares a round's price with the pair's previous one (0 keeps no price to compare, 1 makes "
            "every round a pair's first price)"
        )
    limits = {
        "window": (params.window, MAX_WINDOW),
        "history_size": (params.history_size, MAX_HISTORY_SIZE),
        "interval_blocks": (params.interval_blocks, MAX_BLOCKS_PARAM),
        "jail_duration": (params.jail_duration, MAX_BLOCKS_PARAM),
        "grace_rounds": (params.grace_rounds, MAX_BLOCKS_PARAM),
        "interval_seconds": (params.interval_seconds, MAX_SECONDS_PARAM),
        "max_price_age_seconds": (params.max_price_age_seconds, MAX_SECONDS_PARAM),
        "start_height": (params.start_height, 2**62),
        "upgrade_height": (params.upgrade_height, 2**62),
        "decimals": (params.decimals, 36),
    }
    for name, (value, limit) in limits.items():
        if value > limit:
            raise INVALID_PARAMS(f"{name} is {value}; at most {limit}")
    ctx.store(STORE).set(PARAMS, params.SerializeToString(deterministic=True))


# -- prices -----------------------------------------------------------------------------------------


def latest_price(ctx: Context, pair: str) -> oracle_pb2.PriceRecord | None:
    """The latest record of ``pair``."""
    raw = ctx.store(STORE).get(latest_key(pair))
    return oracle_pb2.PriceRecord.FromString(raw) if raw is not None else None


def latest_prices(ctx: Context) -> list[oracle_pb2.PriceRecord]:
    """Latest record of every pair that has one, sorted by pair."""
    return [oracle_pb2.PriceRecord.FromString(v) for _, v in ctx.store(STORE).iterate_prefix(LATEST_PREFIX)]


def history(ctx: Context, pair: str) -> list[oracle_pb2.PriceRecord]:
    """A pair's retained records, oldest first."""
    return [
        oracle_pb2.PriceRecord.FromString(v) for _, v in ctx.store(STORE).iterate_prefix(history_prefix(pair))
    ]


def pair_ids_configured(ctx: Context) -> list[str]:
    """The ids of the configured pairs, sorted (e.g. ``bitcoin/usd``)."""
    return pair_ids(get_params(ctx))


def latest_two(ctx: Context, pair: str) -> list[oracle_pb2.PriceRecord]:
    """The pair's latest retained record and the one before it, newest first (fewer if not retained)."""
    entries = islice(ctx.store(STORE).iterate_prefix(history_prefix(pair), reverse=True), 2)
    return [oracle_pb2.PriceRecord.FromString(v) for _, v in entries]


def twap(ctx: Context, pair: str, window_seconds: int) -> tuple[int, int] | None:
    """(time-weighted average, samples) of ``pair`` over the last ``window_seconds`` of block time.

    The window ends at the latest record's block time; 0 takes the whole retained history. None when
    the pair has no record.
    """
    records = history(ctx, pair)
    if not records:
        return None
    end = records[-1].block_time_ns
    start = end - window_seconds * 1_000_000_000 if window_seconds else 0
    # stored prices are ours: at most 78 digits, below any int_max_str_digits setting (minimum 640)
    samples = [(r.block_time_ns, int(r.price)) for r in records if r.block_time_ns >= start]
    return time_weighted_average(samples, end), len(samples)


def write_price(ctx: Context, record: oracle_pb2.PriceRecord, history_size: int) -> None:
    """Store a new latest price and append it to the history, dropping the oldest past ``history_size``."""
    store = ctx.store(STORE)
    raw = record.SerializeToString(deterministic=True)
    store.set(latest_key(record.pair), raw)
    store.set(history_key(record.pair, record.height), raw)
    keys = [k for k, _ in store.iterate_prefix(history_prefix(record.pair))]
    for key in keys[: max(0, len(keys) - history_size)]:
        store.delete(key)


# -- misses and jailing -----------------------------------------------------------------------------


def miss_info(ctx: Context, consensus_address: bytes) -> oracle_pb2.MissInfo:
    """A validator's miss counters (fresh ones when it has none)."""
    raw = ctx.store(STORE).get(miss_info_key(consensus_address))
    if raw is None:
        return oracle_pb2.MissInfo(consensus_address=consensus_address)
    return oracle_pb2.MissInfo.FromString(raw)


def all_miss_info(ctx: Context, limit: int | None = None) -> list[oracle_pb2.MissInfo]:
    """Every validator's miss counters, sorted by consensus address (the first ``limit`` when given)."""
    entries = islice(ctx.store(STORE).iterate_prefix(MISS_INFO_PREFIX), limit)
    return [oracle_pb2.MissInfo.FromString(v) for _, v in entries]


def reset_misses(ctx: Context, consensus_address: bytes, counting_from_height: int) -> None:
    """Clear a validator's window (after jailing or unjailing)."""
    store = ctx.store(STORE)
    for key in [k for k, _ in store.iterate_prefix(miss_bit_key(consensus_address, 0)[:-8])]:
        store.delete(key)
    info = oracle_pb2.MissInfo(consensus_address=consensus_address, counting_from_height=counting_from_height)
    store.set(miss_info_key(consensus_address), info.SerializeToString(deterministic=True))


def record_round(
    ctx: Context, consensus_address: bytes, missed: bool, params: oracle_pb2.Params
) -> oracle_pb2.MissInfo | None:
    """Count one round for a validator in its sliding window.

    Returns the updated counters when the validator falls below the minimum valid fraction (to be
    jailed), else None.
    """
    info = miss_info(ctx, consensus_address)
    if ctx.height < info.counting_from_height:
        return None
    store = ctx.store(STORE)
    position = info.index % params.window
    bit = miss_bit_key(consensus_address, position)
    was_missed = store.has(bit)
    if missed and not was_missed:
        store.set(bit, b"")
        info.missed_in_window += 1
    elif was_missed and not missed:
        store.delete(bit)
        info.missed_in_window -= 1
    info.index += 1
    info.rounds_seen += 1
    store.set(miss_info_key(consensus_address), info.SerializeToString(deterministic=True))
    if info.rounds_seen < params.window:
        return None
    valid = params.window - info.missed_in_window
    return info if valid * 10_000 < params.min_valid_bps * params.window else None


def jail_record(ctx: Context, consensus_address: bytes) -> oracle_pb2.JailRecord | None:
    """The latest jail record of a validator."""
    raw = ctx.store(STORE).get(jail_key(consensus_address))
    return oracle_pb2.JailRecord.FromString(raw) if raw is not None else None


def jail_records(ctx: Context, limit: int | None = None) -> list[oracle_pb2.JailRecord]:
    """Every jail record, sorted by consensus address (the first ``limit`` when given)."""
    entries = islice(ctx.store(STORE).iterate_prefix(JAIL_PREFIX), limit)
    return [oracle_pb2.JailRecord.FromString(v) for _, v in entries]


def jailed_power(ctx: Context) -> int:
    """The power the validators the oracle holds in jail would have if unjailed now (their tokens)."""
    total = 0
    for record in jail_records(ctx):
        if not record.active:
            continue
        validator = staking.get_validator(ctx, from_bech32(record.operator_address))
        if validator is not None and validator.jailed:
            total += staking.power_from_tokens(ctx, int(validator.tokens or "0"))
    return total


@dataclass
class JailCap:
    """The oracle's jailing cap as a round sees it: power ``held`` in its jail, out of ``base``.

    The cap: the power held in the oracle's jail stays below 1/3 of itself plus the candidates'
    power. Counting the validators jailed earlier in this block (they are no candidates any more)
    and the ones still in jail from earlier rounds, oracle jailing alone never removes 1/3 of the
    power in a window (or ever at once), so it can neither empty the set nor hand it to a minority.
    """

    held: int
    base: int

    def refusal(self, power: int) -> str | None:
        """Why jailing a validator of ``power`` would break the cap, or None."""
        if 3 * (self.held + power) < self.base:
            return None
        return (
            f"jailing {power} more power would hold {self.held + power} of {self.base} in the "
            "oracle's jail; the oracle jails less than 1/3 of the power (docs/oracle.md, jailing cap)"
        )

    def take(self, power: int) -> None:
        """Count a validator of ``power`` jailed (its slashed remainder is counted in full: stricter)."""
        self.held += power


def jail_cap(ctx: Context) -> JailCap:
    """The cap of the state now: read once per round (a range over jail records and candidates)."""
    held = jailed_power(ctx)
    return JailCap(held, held + sum(power for _, power in staking.top_candidates(ctx)))


def jail(
    ctx: Context,
    consensus_address: bytes,
    reason: str,
    params: oracle_pb2.Params,
    cap: JailCap | None = None,
) -> bool:
    """Jail a validator: power 0, a jail record, an optional slash. False when not done.

    Refused (``ValidatorJailDeferred``, the validator stays a candidate and its window full, so the
    next round tries again) when the oracle's cap (:class:`JailCap`; a round passes its own, read
    once, else it is read here) or staking's set-change guard would be broken: the set is never
    emptied, and never handed to a minority.
    """
    operator = staking.operator_of(ctx, consensus_address)
    if operator is None:
        return False
    validator = staking.get_validator(ctx, operator)
    if validator is None or validator.jailed:
        return False
    cap = cap if cap is not None else jail_cap(ctx)
    refusal = cap.refusal(validator.power)
    slashed = 0
    if refusal is None:
        child = ctx.child()
        try:
            slashed = staking.slash(child, operator, params.slash_bps)
            staking.jail(child, operator)
        except AppError as exc:
            child.branch.discard()
            refusal = exc.message
        else:
            child.branch.write()
            ctx.events.extend(child.events)
            cap.take(validator.power)
    if refusal is not None:
        ctx.emit(
            "ValidatorJailDeferred",
            operator=to_bech32(operator),
            consensus_address=consensus_address.hex().upper(),
            reason=reason,
            deferred=refusal,
        )
        return False
    record = oracle_pb2.JailRecord(
        operator_address=to_bech32(operator),
        consensus_address=consensus_address,
        reason=reason,
        height=ctx.height,
        jailed_until=ctx.height + params.jail_duration,
        slashed=str(slashed),
        active=True,
    )
    ctx.store(STORE).set(jail_key(consensus_address), record.SerializeToString(deterministic=True))
    reset_misses(ctx, consensus_address, 0)
    ctx.emit(
        "ValidatorJailed",
        operator=record.operator_address,
        consensus_address=consensus_address.hex().upper(),
        reason=reason,
        jailed_until=str(record.jailed_until),
        slashed=f"{slashed}{staking.bond_denom(ctx)}",
    )
    return True
