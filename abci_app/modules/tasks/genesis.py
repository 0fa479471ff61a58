"""Genesis of the tasks module: params, task records, nonces and cancellers; export them back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskmaster.tasks.v1 import genesis_pb2, types_pb2

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules import parse_genesis
from abci_app.modules.genesis_json import genesis_json
from abci_app.modules.tasks import keeper
from abci_app.modules.tasks.execution import MAX_ERROR_LEN
from abci_app.modules.tasks.keys import (
    CANCELLER_PREFIX,
    DUE,
    ENV_CANCELLER_PREFIX,
    NONCE_PREFIX,
    RUN_PREFIX,
    STORE,
    TASK_PREFIX,
    canceller_key,
    env_canceller_key,
    owner_key,
    run_key,
)
from abci_app.tx.address import from_bech32, to_bech32


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Write params (defaults filled in for absent fields) and every listed record.

    The owner, due and trigger indexes are rebuilt from the records. Raises ValueError (or an
    AppError) naming the record and field that is wrong.
    """
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, genesis_pb2.GenesisState())
    keeper.set_params(ctx, genesis.params)
    store = ctx.store(STORE)
    for i, info in enumerate(genesis.tasks):
        where = f"tasks genesis tasks[{i}]"
        owner = from_bech32(info.definition.task.from_address, f"{where}.definition.task.from_address")
        hash_ = keeper.task_hash(info.definition.task)
        if keeper.get_task(ctx, hash_) is not None:
            raise ValueError(f"{where}: task {hash_.hex()} is listed twice")
        for name, text in (
            ("gas_price", info.gas_price),
            ("metrics.bond_remaining", info.metrics.bond_remaining),
            ("metrics.fees_paid", info.metrics.fees_paid),
            ("allowance_remaining", info.allowance_remaining),
        ):
            keeper.stored_decimal(text, f"{where}.{name}")  # bounded, or ValueError
        info.task_hash = hash_.hex()
        keeper.put_task(ctx, info)
        store.set(owner_key(owner, hash_), b"")
        if keeper.has_trigger(info.definition) and info.status in (keeper.ACTIVE, keeper.INACTIVE):
            _check_open_trigger(ctx, info, where)
            # as the end-block of the height before this one left it: armed triggers in the trigger
            # index, the others waiting for their arm block (an export re-imports to the same keys)
            keeper.arm_trigger(ctx, info, through=ctx.height - 1)
        if info.status == keeper.ACTIVE and not (
            keeper.has_trigger(info.definition) and info.next_block == 0
        ):
            priority = keeper.tier_of(info.definition.task.gas).priority
            if not 0 < info.next_block < 2**63:
                raise ValueError(f"{where}.next_block {info.next_block} must be a height (1..2^63-1)")
            DUE.add(store, info.next_block, priority, hash_)
    for i, entry in enumerate(genesis.nonces):
        keeper.set_nonce(ctx, from_bech32(entry.account, f"tasks genesis nonces[{i}].account"), entry.nonce)
    for i, c in enumerate(genesis.task_cancellers):
        canceller = from_bech32(c.canceller, f"tasks genesis task_cancellers[{i}].canceller")
        store.set(canceller_key(keeper.parse_hash(c.task_hash), canceller), b"")
    for i, e in enumerate(genesis.environment_cancellers):
        where = f"tasks genesis environment_cancellers[{i}]"
        if not 0 < len(e.environment.encode()) <= 255:
            raise ValueError(f"{where}.environment must be 1..255 bytes")
        owner = from_bech32(e.owner, f"{where}.owner")
        store.set(
            env_canceller_key(owner, e.environment, from_bech32(e.canceller, f"{where}.canceller")), b""
        )
    _init_runs(ctx, genesis)


def _init_runs(ctx: Context, genesis: genesis_pb2.GenesisState) -> None:
    """Write the kept runs after checking them: a listed task, strictly increasing sequences per task
    (1..2^63-1), heights below 2^63, a decimal amount, a bech32 executor, an error of at most
    MAX_ERROR_LEN characters' bytes, and at most ``params.run_history_size`` runs per task (the bound a chain
    keeps). Raises ValueError naming the entry and field."""
    keep = genesis.params.run_history_size
    count: dict[str, int] = {}
    last: dict[str, int] = {}
    store = ctx.store(STORE)
    for i, record in enumerate(genesis.runs):
        where = f"tasks genesis runs[{i}]"
        hash_ = keeper.parse_hash(record.task_hash)
        if keeper.get_task(ctx, hash_) is None:
            raise ValueError(f"{where}.task_hash {record.task_hash}: no such task in tasks genesis tasks")
        run = record.run
        if not last.get(record.task_hash, 0) < run.sequence < 2**63:
            raise ValueError(
                f"{where}.run.sequence {run.sequence} must be above the task's previous run's "
                f"({last.get(record.task_hash, 0)}) and below 2^63: list a task's runs oldest first"
            )
        if not 0 < run.height < 2**63:
            raise ValueError(f"{where}.run.height {run.height} must be a height (1..2^63-1)")
        keeper.stored_decimal(run.amount_paid, f"{where}.run.amount_paid")
        from_bech32(run.executor, f"{where}.run.executor")
        if len(run.error.encode()) > 4 * MAX_ERROR_LEN:
            raise ValueError(f"{where}.run.error is longer than {4 * MAX_ERROR_LEN} bytes")
        count[record.task_hash] = count.get(record.task_hash, 0) + 1
        if count[record.task_hash] > keep:
            raise ValueError(
                f"{where}: task {record.task_hash} has more than params.run_history_size = {keep} runs; "
                "list at most that many (its newest)"
            )
        last[record.task_hash] = run.sequence
        store.set(run_key(hash_, run.sequence), run.SerializeToString(deterministic=True))


def _check_open_trigger(ctx: Context, info: types_pb2.TaskInfo, where: str) -> None:
    """An open triggered record passes what MsgScheduleTask checks of a trigger (an oracle pair, a
    direction, a threshold below 2^256, cooldown and expiry bounds) and of its gas (a tier), and its
    heights fit the trigger indexes; raises ValueError naming the field.

    The tasks end-block reads these records at every crossing and expiry: one it cannot handle would
    fail there, block after block, instead of here.
    """
    definition = info.definition
    try:
        keeper.tier_of(definition.task.gas)
    except AppError as err:
        raise ValueError(f"{where}.definition.task.{err.message}") from None
    try:
        keeper.validate_trigger(ctx, definition)
    except AppError as err:
        raise ValueError(f"{where}.definition.{err.message}") from None
    for name, height in (
        ("definition.schedule.start_block", definition.schedule.start_block),
        ("metrics.last_executed_block", info.metrics.last_executed_block),
    ):
        if height >= 2**63:
            raise ValueError(f"{where}.{name} {height} must be below 2^63")


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Everything, in key order."""
    store = ctx.store(STORE)
    genesis = genesis_pb2.GenesisState(params=keeper.get_params(ctx))
    for _, value in store.iterate_prefix(TASK_PREFIX):
        genesis.tasks.append(types_pb2.TaskInfo.FromString(value))
    for key, value in store.iterate_prefix(NONCE_PREFIX):
        genesis.nonces.add(account=to_bech32(key[1:]), nonce=int.from_bytes(value, "big"))
    for key, _ in store.iterate_prefix(CANCELLER_PREFIX):
        genesis.task_cancellers.add(task_hash=key[1:33].hex(), canceller=to_bech32(key[33:]))
    for key, _ in store.iterate_prefix(ENV_CANCELLER_PREFIX):
        env_len = key[21]
        genesis.environment_cancellers.add(
            owner=to_bech32(key[1:21]),
            environment=key[22 : 22 + env_len].decode(),
            canceller=to_bech32(key[22 + env_len :]),
        )
    for key, value in store.iterate_prefix(RUN_PREFIX):
        genesis.runs.add(task_hash=key[1:33].hex(), run=types_pb2.TaskRun.FromString(value))
    return genesis_json(genesis)
