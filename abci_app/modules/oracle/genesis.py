"""Genesis of the oracle module: params, and in an export every price, miss window and jail record.

Heights are absolute (a chain started from an export continues at the exported height + 1), so a jail
record's ``jailed_until`` and a miss counter's ``counting_from_height`` keep their meaning: a jailed
validator cannot unjail earlier than it could before the export.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskmaster.oracle.v1 import oracle_pb2

from abci_app.context import Context
from abci_app.modules import parse_genesis, u64
from abci_app.modules.genesis_json import genesis_json
from abci_app.modules.oracle import keeper
from abci_app.modules.oracle.keys import (
    HISTORY_PREFIX,
    MISS_BIT_PREFIX,
    STORE,
    history_key,
    jail_key,
    latest_key,
    miss_bit_key,
    miss_info_key,
)
from abci_app.modules.oracle.task import COUNT_PREFIX, count_key
from abci_app.tx.address import from_bech32

MAX_PRICE_DIGITS = 78  # a 256-bit integer
MAX_HEIGHT = 2**63 - 1


class OracleGenesisError(ValueError):
    """An oracle genesis section that no export produces; the message names the field."""


def _check_record(record: oracle_pb2.PriceRecord, where: str) -> None:
    pair = record.pair.encode()
    if not 0 < len(pair) <= keeper.MAX_PAIR_ID_BYTES:
        raise OracleGenesisError(f"{where}.pair must be 1..{keeper.MAX_PAIR_ID_BYTES} bytes")
    price = record.price
    if not (price.isascii() and price.isdigit() and len(price) <= MAX_PRICE_DIGITS):
        raise OracleGenesisError(
            f"{where}.price must be an integer string of at most {MAX_PRICE_DIGITS} digits"
        )
    for name in ("height", "block_time_ns", "reporting_power", "total_power"):
        if not 0 <= getattr(record, name) <= MAX_HEIGHT:
            raise OracleGenesisError(f"{where}.{name} must be between 0 and 2^63-1")


def _consensus_address(raw: bytes, where: str) -> bytes:
    if len(raw) != 20:
        raise OracleGenesisError(f"{where}.consensus_address must be 20 bytes, got {len(raw)}")
    return raw


def _init_prices(ctx: Context, genesis: oracle_pb2.GenesisState) -> None:
    store = ctx.store(STORE)
    for i, record in enumerate(genesis.prices):
        _check_record(record, f"oracle genesis prices[{i}]")
        if store.has(latest_key(record.pair)):
            raise OracleGenesisError(f"oracle genesis prices[{i}]: pair {record.pair!r} is listed twice")
        store.set(latest_key(record.pair), record.SerializeToString(deterministic=True))
    for i, record in enumerate(genesis.history):
        _check_record(record, f"oracle genesis history[{i}]")
        key = history_key(record.pair, record.height)
        if store.has(key):
            raise OracleGenesisError(f"oracle genesis history[{i}]: {record.pair} at {record.height} twice")
        store.set(key, record.SerializeToString(deterministic=True))
    for i, entry in enumerate(genesis.round_counts):
        if not 0 < len(entry.pair.encode()) <= keeper.MAX_PAIR_ID_BYTES:
            raise OracleGenesisError(f"oracle genesis round_counts[{i}].pair must be 1..129 bytes")
        store.set(count_key(entry.pair), u64(entry.count))


def _init_misses(ctx: Context, genesis: oracle_pb2.GenesisState) -> None:
    store = ctx.store(STORE)
    window = genesis.params.window
    counted: dict[bytes, int] = {}
    for i, bit in enumerate(genesis.missed_rounds):
        address = _consensus_address(bit.consensus_address, f"oracle genesis missed_rounds[{i}]")
        if bit.position >= window:
            raise OracleGenesisError(
                f"oracle genesis missed_rounds[{i}].position {bit.position} must be below window {window}"
            )
        store.set(miss_bit_key(address, bit.position), b"")
        counted[address] = counted.get(address, 0) + 1
    for i, info in enumerate(genesis.miss_counters):
        where = f"oracle genesis miss_counters[{i}]"
        address = _consensus_address(info.consensus_address, where)
        if store.has(miss_info_key(address)):
            raise OracleGenesisError(f"{where}: consensus_address {address.hex()} is listed twice")
        if info.missed_in_window != counted.pop(address, 0):
            raise OracleGenesisError(f"{where}.missed_in_window must equal its entries in missed_rounds")
        if not 0 <= info.counting_from_height <= MAX_HEIGHT or max(info.rounds_seen, info.index) > MAX_HEIGHT:
            raise OracleGenesisError(f"{where}: counters and heights must be between 0 and 2^63-1")
        store.set(miss_info_key(address), info.SerializeToString(deterministic=True))
    if counted:
        raise OracleGenesisError(
            f"oracle genesis missed_rounds name validators without miss_counters: "
            f"{sorted(a.hex() for a in counted)}"
        )


def _init_jail_records(ctx: Context, genesis: oracle_pb2.GenesisState) -> None:
    store = ctx.store(STORE)
    for i, record in enumerate(genesis.jail_records):
        where = f"oracle genesis jail_records[{i}]"
        address = _consensus_address(record.consensus_address, where)
        from_bech32(record.operator_address, f"{where}.operator_address")
        if not (0 <= record.height <= MAX_HEIGHT and 0 <= record.jailed_until <= MAX_HEIGHT):
            raise OracleGenesisError(f"{where}: height and jailed_until must be between 0 and 2^63-1")
        if store.has(jail_key(address)):
            raise OracleGenesisError(f"{where}: consensus_address {address.hex()} is listed twice")
        store.set(jail_key(address), record.SerializeToString(deterministic=True))


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Params from genesis (each field given replaces the default), then the listed records.

    Raises OracleGenesisError (or the params' INVALID_PARAMS) naming the field that is wrong.
    """
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, oracle_pb2.GenesisState())
    keeper.set_params(ctx, genesis.params)
    _init_prices(ctx, genesis)
    _init_misses(ctx, genesis)
    _init_jail_records(ctx, genesis)


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params and every record, in store key order."""
    store = ctx.store(STORE)
    genesis = oracle_pb2.GenesisState(
        params=keeper.get_params(ctx),
        prices=keeper.latest_prices(ctx),
        miss_counters=keeper.all_miss_info(ctx),
        jail_records=keeper.jail_records(ctx),
    )
    for _, value in store.iterate_prefix(HISTORY_PREFIX):
        genesis.history.append(oracle_pb2.PriceRecord.FromString(value))
    for key, _ in store.iterate_prefix(MISS_BIT_PREFIX):
        genesis.missed_rounds.add(consensus_address=key[1:21], position=int.from_bytes(key[21:], "big"))
    for key, value in store.iterate_prefix(COUNT_PREFIX):
        genesis.round_counts.add(pair=key[1:].decode(), count=int.from_bytes(value, "big"))
    return genesis_json(genesis)
