"""Task records, nonces, bonds, cancellers and validation: the only code that changes the tasks store.

Bonds live in the ``tasks`` module account; every change to a task's ``bond_remaining`` moves the same
amount into or out of that account in the same branch, so the module balance always equals the sum of
the bonds (``invariants.bonds_match_module_account``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message
from taskmaster.tasks.v1 import types_pb2

from abci_app.canonical import NonCanonicalError, decode_canonical
from abci_app.context import Context
from abci_app.errors import AppError, shown
from abci_app.modules import module_address, u64
from abci_app.modules.bank import keeper as bank
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.tasks import errors
from abci_app.modules.tasks.keys import (
    DUE,
    OWNER_PREFIX,
    PARAMS_KEY,
    STORE,
    canceller_key,
    env_canceller_key,
    expiry_key,
    nonce_key,
    owner_key,
    run_key,
    run_prefix,
    task_key,
    trigger_key,
    waiting_key,
)
from abci_app.modules.wasm import keeper as wasm
from abci_app.store.branch import prefix_end
from abci_app.tx.address import from_bech32, to_bech32
from abci_app.tx.gas import DEFAULT_COSTS

MODULE_ACCOUNT = module_address("tasks")
FEE_POOL = module_address("tasks_fee_pool")
ALLOWANCE_ACCOUNT = module_address("tasks_allowance")  # escrow of wasm tasks' send allowances
DENOM = bank.NATIVE_DENOM
ENVIRONMENTS = ("basic", "minimal", "rescheduling")
MAX_TASK_GAS = 750_000
HASH_DOMAIN = b"taskmaster.tasks.v1.Task\x00"
U64_MAX = 2**64 - 1
MAX_GAS_PRICE = 2**128 - 1  # utask per gas; at most 39 decimal digits
MAX_AMOUNT = 2**256 - 1  # bonds and payments; at most 78 decimal digits
MAX_TASK_DATA_BYTES = 8192  # a task's target message; a kv put of 128 + 4096 bytes fits with room
# Task bytes are paid in gas (docs/tasks.md, "Bonds and fees"): scheduling decodes ``data`` once;
# every execution reads, decodes and re-stores the record, so it consumes, out of its tier cap, the
# store's read and write per-byte costs plus the decode cost for each byte of the canonical task.
DECODE_GAS_PER_BYTE = 3
EXECUTION_GAS_PER_BYTE = DEFAULT_COSTS.read_per_byte + DECODE_GAS_PER_BYTE + DEFAULT_COSTS.write_per_byte

Status = types_pb2.TaskStatus
ACTIVE = types_pb2.TASK_STATUS_ACTIVE
INACTIVE = types_pb2.TASK_STATUS_INACTIVE
COMPLETED = types_pb2.TASK_STATUS_COMPLETED
CANCELLED = types_pb2.TASK_STATUS_CANCELLED

DEFAULT_PARAMS = types_pb2.Params(
    min_interval=100,
    max_block_task_gas=50_000_000,
    block_task_gas_reserve=5_000_000,
    gas_price="1",
    protocol_fee_bps=1000,
    run_history_size=20,
)
MAX_RUN_HISTORY = 1000  # run_history_size at most: one page (pagination.MAX_LIMIT) holds a whole history


@dataclass(frozen=True)
class Tier:
    """A size tier: tasks run with ``cap`` gas and pay for it; ``priority`` orders a block (0 first)."""

    name: str
    cap: int
    priority: int


SMALL = Tier("small", 100_000, 2)
MEDIUM = Tier("medium", 250_000, 1)
LARGE = Tier("large", 750_000, 0)
TIERS = (SMALL, MEDIUM, LARGE)
TIER_BY_PRIORITY = {t.priority: t for t in TIERS}


# -- params ------------------------------------------------------------------------------------------------


def get_params(ctx: Context) -> types_pb2.Params:
    """The module params (defaults before genesis)."""
    raw = ctx.store(STORE).get(PARAMS_KEY)
    return types_pb2.Params.FromString(raw) if raw is not None else DEFAULT_PARAMS


def set_params(ctx: Context, params: types_pb2.Params) -> None:
    """Replace the params after checking them."""
    if params.max_block_task_gas < params.block_task_gas_reserve + LARGE.cap:
        raise ValueError(
            f"max_block_task_gas {params.max_block_task_gas} must leave room for one large task "
            f"({LARGE.cap}) above block_task_gas_reserve {params.block_task_gas_reserve}"
        )
    if params.protocol_fee_bps > 10_000 or params.min_interval < 1:
        raise ValueError("protocol_fee_bps must be <= 10000 and min_interval >= 1")
    if params.run_history_size > MAX_RUN_HISTORY:
        raise ValueError(
            f"run_history_size {params.run_history_size} is above {MAX_RUN_HISTORY}; keep at most "
            f"{MAX_RUN_HISTORY} runs per task (0 keeps none)"
        )
    try:
        parse_decimal(params.gas_price, "params.gas_price", errors.INVALID_GAS_PRICE, MAX_GAS_PRICE, 1)
    except AppError as err:
        raise ValueError(err.message) from err
    ctx.store(STORE).set(PARAMS_KEY, params.SerializeToString(deterministic=True))


# -- small parsers ----------------------------------------------------------------------------------------


def _is_decimal(text: str) -> bool:
    """1 to 78 ASCII digits: bounded before int(), so no answer depends on int_max_str_digits.

    (``isascii() and isdigit()`` is the regex ``[0-9]{1,78}``, several times faster: stored decimals
    are read on every task execution.)
    """
    return 0 < len(text) <= 78 and text.isascii() and text.isdigit()


def parse_decimal(text: str, field: str, error: Callable[[str], AppError], high: int, low: int = 0) -> int:
    """A decimal integer in ``[low, high]``; raises ``error`` naming ``field`` otherwise.

    The digit count is checked before ``int()``, so the answer never depends on the interpreter's
    ``int_max_str_digits`` (``high`` is below 10^78).
    """
    if not _is_decimal(text):
        raise error(f"{field} {shown(text)} must be a decimal integer of at most {len(str(high))} digits")
    value = int(text)
    if not low <= value <= high:
        raise error(f"{field} {text} must be between {low} and {high}")
    return value


def parse_amount(text: str, field: str, allow_zero: bool = False) -> int:
    """A decimal integer in ``[1, 2^256)`` (``[0, ...)`` with ``allow_zero``); raises INVALID_AMOUNT."""
    return parse_decimal(text, field, errors.INVALID_AMOUNT, MAX_AMOUNT, 0 if allow_zero else 1)


def stored_decimal(text: str, field: str) -> int:
    """A decimal string of a stored record (empty = 0); raises ValueError on a malformed one.

    Records are written by this module, so only a bad genesis can reach the error.
    """
    if text == "":
        return 0
    if not _is_decimal(text):
        raise ValueError(f"stored {field} {shown(text)} is not a decimal integer of at most 78 digits")
    return int(text)


def parse_hash(text: str) -> bytes:
    """A task hash given as 64 hex characters."""
    raw = b""
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
    if len(raw) != 32:
        raise errors.INVALID_TASK_HASH(f"task hash {shown(text, 70)} must be 64 hex characters")
    return raw


def params_gas_price(ctx: Context) -> int:
    """The params' gas price (checked when the params were set)."""
    return stored_decimal(get_params(ctx).gas_price, "params.gas_price")


def resolve_gas_price(ctx: Context, text: str) -> int:
    """A message's gas price: empty or 0 means the params' price; lower than it is rejected."""
    floor = params_gas_price(ctx)
    if text in ("", "0"):
        return floor
    price = parse_decimal(text, "gas_price", errors.INVALID_GAS_PRICE, MAX_GAS_PRICE)
    if price < floor:
        raise errors.INVALID_GAS_PRICE(f"gas_price {price} is below the minimum {floor}; give at least that")
    return price


# -- tiers, hashes, costs ---------------------------------------------------------------------------------


def tier_of(gas: int) -> Tier:
    """The size tier of a gas limit; raises INVALID_GAS for 0 or more than 750,000."""
    if gas <= 0 or gas > MAX_TASK_GAS:
        raise errors.INVALID_GAS(f"gas {gas} must be between 1 and {MAX_TASK_GAS}")
    for tier in TIERS:
        if gas <= tier.cap:
            return tier
    raise AssertionError("unreachable")


def environment_of(task: types_pb2.Task) -> str:
    """The task's environment name (empty means basic)."""
    return task.environment or "basic"


def wasm_code_id(environment: str) -> bytes | None:
    """The code id of a ``wasm:<code id>`` environment, None for the built-in ones.

    Raises UNKNOWN_ENVIRONMENT for a ``wasm:`` environment whose id is not 64 lowercase hex characters.
    """
    try:
        return wasm.environment_code_id(environment)
    except AppError:
        raise errors.UNKNOWN_ENVIRONMENT(
            f"environment {shown(environment, 80)} must be wasm:<code id> with the code id as 64 "
            "lowercase hex characters"
        ) from None


def check_environment_name(environment: str) -> None:
    """A built-in environment or a well-formed ``wasm:<code id>``; raises UNKNOWN_ENVIRONMENT."""
    if wasm_code_id(environment) is None and environment not in ENVIRONMENTS:
        raise errors.UNKNOWN_ENVIRONMENT(
            f"environment {shown(environment)} is not one of {', '.join(ENVIRONMENTS)} or wasm:<code id>"
        )


def canonical_encoding(task: types_pb2.Task) -> bytes:
    """The documented byte encoding the task hash covers (see docs/tasks.md)."""
    owner = from_bech32(task.from_address, "definition.task.from_address")
    target = task.target.encode()
    env = environment_of(task).encode()
    return b"".join(
        (
            HASH_DOMAIN,
            owner,
            u64(task.gas),
            len(target).to_bytes(2, "big"),
            target,
            len(task.data).to_bytes(4, "big"),
            task.data,
            u64(task.nonce),
            bytes((len(env),)),
            env,
        )
    )


def task_hash(task: types_pb2.Task) -> bytes:
    """SHA-256 of the canonical encoding."""
    return hashlib.sha256(canonical_encoding(task)).digest()


def execution_cost(gas: int, gas_price: int) -> int:
    """What one execution charges: the tier's cap times the gas price."""
    return tier_of(gas).cap * gas_price


def required_bond(definition: types_pb2.TaskDefinition, gas_price: int) -> int:
    """The bond that pays every scheduled execution (EstimateRequiredBond)."""
    return definition.schedule.executions * execution_cost(definition.task.gas, gas_price)


def info_cost(info: types_pb2.TaskInfo) -> int:
    """One execution's cost for a stored task."""
    return execution_cost(info.definition.task.gas, stored_decimal(info.gas_price, "gas_price"))


def bond_of(info: types_pb2.TaskInfo) -> int:
    """The bond a task has left."""
    return stored_decimal(info.metrics.bond_remaining, "metrics.bond_remaining")


def stored_task(task: types_pb2.Task) -> types_pb2.Task:
    """The task as it is stored (the environment filled in)."""
    out = types_pb2.Task()
    out.CopyFrom(task)
    out.environment = environment_of(task)
    return out


def task_byte_gas(task: types_pb2.Task) -> int:
    """Gas each execution consumes for the task's bytes, out of its tier cap (docs/tasks.md).

    ``EXECUTION_GAS_PER_BYTE`` times the length of the stored task's canonical encoding; an empty
    environment is stored as "basic" (field 6: tag, length, 5 bytes).
    """
    size = task.ByteSize() + (0 if task.environment else 2 + len("basic"))
    return EXECUTION_GAS_PER_BYTE * size


# -- validation --------------------------------------------------------------------------------------------


def decode_target(ctx: Context, task: types_pb2.Task, check_signer: bool = True) -> Message:
    """The task's target message, decoded; raises UNKNOWN_TARGET, UNDECODABLE_DATA, TARGET_SIGNER_MISMATCH."""
    if (
        task.target.startswith("/taskmaster.tasks.")
        and task.target != "/taskmaster.tasks.v1.MsgRescheduleTask"
    ):
        raise errors.UNKNOWN_TARGET(
            f"target {task.target} is a task-manager message; tasks may only target other modules' "
            "messages or /taskmaster.tasks.v1.MsgRescheduleTask"
        )
    route = ctx.routes.get(task.target)
    if route is None:
        raise errors.UNKNOWN_TARGET(f"target {shown(task.target)} is not a message type URL of this chain")
    if len(task.data) > MAX_TASK_DATA_BYTES:
        raise errors.DATA_TOO_LARGE(
            f"data is {len(task.data)} bytes; a task's target message may have at most "
            f"{MAX_TASK_DATA_BYTES} bytes"
        )
    msg = decode_data(route.msg_type, task.data, task.target)
    signer = route.signer(msg)
    if check_signer and signer != task.from_address:
        raise errors.TARGET_SIGNER_MISMATCH(
            f"the {task.target} in data acts for {signer!r}, not the task owner {task.from_address}"
        )
    return msg


def decode_data(msg_type: type[Message], data: bytes, target: str) -> Message:
    """``data`` decoded as ``msg_type``, accepted only in its canonical encoding.

    Raises UNDECODABLE_DATA when it does not decode, NON_CANONICAL_DATA when it decodes but is not
    the deterministic encoding (unknown fields, reordered or repeated fields, default values written
    out): such bytes would be stored and paid for but never executed. The logs carry no parser text,
    which differs between protobuf implementations.
    """
    try:
        return decode_canonical(msg_type, data, "definition.task.data")
    except NonCanonicalError as exc:
        if not exc.decoded:
            raise errors.UNDECODABLE_DATA(
                f"data ({len(data)} bytes) does not decode as a {target}; encode that message"
            ) from None
        raise errors.NON_CANONICAL_DATA(
            f"data ({len(data)} bytes) is not the canonical encoding of a {target} (unknown fields, "
            "fields out of order or repeated, default values written out); encode the message with "
            "deterministic protobuf serialization and nothing else"
        ) from None


def validate_task(ctx: Context, task: types_pb2.Task, signer: str) -> bytes:
    """Check the task fields against the signer and the chain; return the owner's address bytes."""
    owner = from_bech32(task.from_address, "definition.task.from_address")
    if task.from_address != signer:
        raise errors.FROM_NOT_SIGNER(f"task from_address {task.from_address} is not the signer {signer}")
    validate_task_fields(ctx, task)
    expected = get_nonce(ctx, owner)
    if task.nonce != expected:
        raise errors.WRONG_NONCE(f"task nonce {task.nonce} must equal the account's task nonce {expected}")
    if expected == U64_MAX:
        raise errors.WRONG_NONCE(f"the account's task nonce {expected} is exhausted; use another account")
    return owner


def validate_task_fields(ctx: Context, task: types_pb2.Task, check_signer: bool = True) -> None:
    """Gas tier, environment, target and data, and that the task's bytes fit its tier cap.

    Shared by MsgScheduleTask and EstimateRequiredBond, so an estimate is refused exactly when the
    schedule would be. Decoding ``data`` is charged per byte to the tx's meter.
    """
    tier = tier_of(task.gas)
    env = environment_of(task)
    check_environment_name(env)
    if ctx.gas is not None:
        ctx.gas.consume(DECODE_GAS_PER_BYTE * len(task.data), "task data decode")
    code_id = wasm_code_id(env)
    if code_id is None:
        decode_target(ctx, task, check_signer)
    else:
        validate_wasm_fields(ctx, task, code_id)
    byte_gas = task_byte_gas(task)
    if byte_gas >= tier.cap:
        bigger = next((t for t in TIERS if t.cap > byte_gas), None)
        hint = f"raise gas to the {bigger.name} tier (> {tier.cap})" if bigger else "send less data"
        raise errors.INVALID_GAS(
            f"each execution needs {byte_gas} gas for the task's {byte_gas // EXECUTION_GAS_PER_BYTE} "
            f"bytes ({EXECUTION_GAS_PER_BYTE} per byte), which leaves nothing of the {tier.name} tier's "
            f"cap {tier.cap} for the target; {hint}"
        )


def validate_wasm_fields(ctx: Context, task: types_pb2.Task, code_id: bytes) -> None:
    """A wasm task: its code is stored, it names no target, its data (the module's input) fits."""
    wasm.require_code(ctx, code_id)
    if task.target:
        raise errors.UNKNOWN_TARGET(
            "a wasm task has no target (its module is its logic); leave target empty, not "
            f"{shown(task.target)}"
        )
    if len(task.data) > MAX_TASK_DATA_BYTES:
        raise errors.DATA_TOO_LARGE(
            f"data is {len(task.data)} bytes; a wasm task's input may have at most "
            f"{MAX_TASK_DATA_BYTES} bytes"
        )


def validate_schedule(ctx: Context, schedule: types_pb2.TaskSchedule, triggered: bool = False) -> None:
    """Check the schedule rules: start in the future, executions >= 1, interval >= min_interval
    (a triggered task's executions follow its trigger, not an interval)."""
    if schedule.executions < 1:
        raise errors.ZERO_EXECUTIONS(f"executions {schedule.executions} must be at least 1")
    if schedule.start_block <= ctx.height:
        raise errors.START_NOT_IN_FUTURE(
            f"start_block {schedule.start_block} must be after the current block {ctx.height}"
        )
    min_interval = get_params(ctx).min_interval
    if not triggered and schedule.executions > 1 and schedule.interval < min_interval:
        raise errors.INTERVAL_TOO_SHORT(
            f"interval {schedule.interval} must be at least min_interval {min_interval} "
            f"for {schedule.executions} executions"
        )
    if schedule.start_block + schedule.interval * (schedule.executions - 1) >= 2**63:
        raise errors.INTERVAL_TOO_SHORT("the last execution block must stay below 2^63")


# -- price triggers ---------------------------------------------------------------------------------------

ABOVE = types_pb2.TRIGGER_DIRECTION_ABOVE
BELOW = types_pb2.TRIGGER_DIRECTION_BELOW


def has_trigger(definition: types_pb2.TaskDefinition) -> bool:
    """Whether the task runs on a price trigger."""
    return definition.HasField("trigger")


def validate_trigger(ctx: Context, definition: types_pb2.TaskDefinition) -> int:
    """Check a definition's trigger against the oracle's pairs; returns its threshold."""
    trigger = definition.trigger
    pairs = oracle.pair_ids_configured(ctx)
    if trigger.pair not in pairs:
        raise errors.INVALID_TRIGGER(
            f"trigger pair {shown(trigger.pair)} is not an oracle pair; one of {pairs}"
        )
    if trigger.direction not in (ABOVE, BELOW):
        raise errors.INVALID_TRIGGER(
            "trigger direction must be TRIGGER_DIRECTION_ABOVE or TRIGGER_DIRECTION_BELOW"
        )
    threshold = parse_decimal(trigger.threshold, "trigger.threshold", errors.INVALID_TRIGGER, MAX_AMOUNT)
    if trigger.cooldown_blocks >= 2**62:
        raise errors.INVALID_TRIGGER(f"trigger.cooldown_blocks {trigger.cooldown_blocks} must be below 2^62")
    expiry = trigger.expiry_block
    if expiry and not definition.schedule.start_block <= expiry < 2**63:
        raise errors.INVALID_TRIGGER(
            f"trigger.expiry_block {expiry} must be 0 (never) or from start_block "
            f"{definition.schedule.start_block} on"
        )
    return threshold


def arm_block(info: types_pb2.TaskInfo) -> int:
    """The first height whose crossing can fire the task: ``start_block``, and after an execution
    ``last_executed_block + cooldown_blocks`` if that is later (both below 2^63, cooldown below 2^62:
    the sum fits a u64)."""
    last = info.metrics.last_executed_block
    cooled = last + info.definition.trigger.cooldown_blocks if last else 0
    return max(info.definition.schedule.start_block, cooled)


def waits_for_crossing(info: types_pb2.TaskInfo) -> bool:
    """An active triggered task with no due entry: it has an entry in the trigger or the waiting index."""
    return has_trigger(info.definition) and info.status == ACTIVE and info.next_block == 0


def _trigger_key(info: types_pb2.TaskInfo) -> bytes:
    trigger = info.definition.trigger
    threshold = stored_decimal(trigger.threshold, "trigger.threshold")
    return trigger_key(trigger.pair, trigger.direction, threshold, bytes.fromhex(info.task_hash))


def park_trigger(ctx: Context, info: types_pb2.TaskInfo, through: int | None = None) -> None:
    """Index a task that waits for a crossing: in the trigger index when its arm block is at most
    ``through`` (default: this height), else in the waiting index at its arm block, valued with its
    trigger key, until the end-block of that height moves it (``triggers.release``)."""
    key = _trigger_key(info)
    block = arm_block(info)
    if block <= (ctx.height if through is None else through):
        ctx.store(STORE).set(key, b"")
    else:
        ctx.store(STORE).set(waiting_key(block, bytes.fromhex(info.task_hash)), key)


def unpark_trigger(ctx: Context, info: types_pb2.TaskInfo) -> None:
    """Remove the entry of a task that waits for a crossing (nothing for any other task); call it
    before the task's status or due block changes.

    An arm block before this height was moved into the trigger index by an earlier end-block, one after
    it is still waiting; one at this height is either, before or after this end-block's release.
    """
    if not waits_for_crossing(info):
        return
    block = arm_block(info)
    if block <= ctx.height:
        ctx.store(STORE).delete(_trigger_key(info))
    if block >= ctx.height:
        ctx.store(STORE).delete(waiting_key(block, bytes.fromhex(info.task_hash)))


def _expiry_key(info: types_pb2.TaskInfo) -> bytes | None:
    expiry = info.definition.trigger.expiry_block
    return expiry_key(expiry, bytes.fromhex(info.task_hash)) if expiry else None


def arm_trigger(ctx: Context, info: types_pb2.TaskInfo, through: int | None = None) -> None:
    """Index an open triggered task: by expiry block (if it has one) and, while it waits for a
    crossing, by its trigger (``park_trigger``)."""
    expiry = _expiry_key(info)
    if expiry is not None:
        ctx.store(STORE).set(expiry, b"")
    if waits_for_crossing(info):
        park_trigger(ctx, info, through)


def disarm_trigger(ctx: Context, info: types_pb2.TaskInfo) -> None:
    """Remove a finishing task's trigger entries (nothing for untriggered tasks); call it before the
    task's status or due block changes."""
    if not has_trigger(info.definition):
        return
    unpark_trigger(ctx, info)
    expiry = _expiry_key(info)
    if expiry is not None:
        ctx.store(STORE).delete(expiry)


def require_definition(definition: types_pb2.TaskDefinition, has: bool) -> None:
    """Reject a message without a definition."""
    if not has:
        raise errors.MISSING_DEFINITION("the message has no definition; give task and schedule")


# -- records -----------------------------------------------------------------------------------------------


def get_task(ctx: Context, hash_: bytes) -> types_pb2.TaskInfo | None:
    """The stored task record, or None."""
    raw = ctx.store(STORE).get(task_key(hash_))
    return types_pb2.TaskInfo.FromString(raw) if raw is not None else None


def require_task(ctx: Context, hash_: bytes) -> types_pb2.TaskInfo:
    """The stored task record; raises UNKNOWN_TASK naming the hash."""
    info = get_task(ctx, hash_)
    if info is None:
        raise errors.UNKNOWN_TASK(f"no task with hash {hash_.hex()}")
    return info


def put_task(ctx: Context, info: types_pb2.TaskInfo) -> None:
    """Store a task record."""
    ctx.store(STORE).set(task_key(bytes.fromhex(info.task_hash)), info.SerializeToString(deterministic=True))


def owner_tasks(ctx: Context, owner: bytes, limit: int | None = None, after: bytes = b"") -> list[bytes]:
    """Hashes of the tasks ``owner`` scheduled, in hash order, after ``after`` (the first ``limit``)."""
    prefix = OWNER_PREFIX + owner
    start = prefix + after + b"\x00" if after else prefix
    hashes: list[bytes] = []
    for key, _ in ctx.store(STORE).iterate(start, prefix_end(prefix)):
        if limit is not None and len(hashes) == limit:
            break
        hashes.append(key[len(prefix) :])
    return hashes


def get_nonce(ctx: Context, owner: bytes) -> int:
    """The owner's next task nonce."""
    raw = ctx.store(STORE).get(nonce_key(owner))
    return int.from_bytes(raw, "big") if raw is not None else 0


def set_nonce(ctx: Context, owner: bytes, nonce: int) -> None:
    """Set the owner's next task nonce."""
    ctx.store(STORE).set(nonce_key(owner), u64(nonce))


def set_due(ctx: Context, info: types_pb2.TaskInfo, block: int) -> None:
    """Move the task's single due entry to ``block`` (0 removes it)."""
    if not info.next_block and not block:
        return  # no entry, none wanted
    store = ctx.store(STORE)
    hash_ = bytes.fromhex(info.task_hash)
    priority = tier_of(info.definition.task.gas).priority
    if info.next_block:
        DUE.remove(store, info.next_block, priority, hash_)
    if block:
        DUE.add(store, block, priority, hash_)
    info.next_block = block


def set_bond(ctx: Context, info: types_pb2.TaskInfo, amount: int) -> None:
    """Record the task's bond (the caller moves the coins)."""
    info.metrics.bond_remaining = str(amount)


def allowance_of(info: types_pb2.TaskInfo) -> int:
    """What is left of a wasm task's send allowance."""
    return stored_decimal(info.allowance_remaining, "allowance_remaining")


def refund(ctx: Context, info: types_pb2.TaskInfo) -> int:
    """Return the whole bond and any allowance left to the owner; returns the total."""
    owner = from_bech32(info.definition.task.from_address)
    amount = bond_of(info)
    if amount:
        bank.send(ctx, MODULE_ACCOUNT, owner, DENOM, amount)
        set_bond(ctx, info, 0)
    left = allowance_of(info)
    if left:
        bank.send(ctx, ALLOWANCE_ACCOUNT, owner, DENOM, left)
        info.allowance_remaining = "0"
    return amount + left


def escrow_allowance(ctx: Context, owner: bytes, info: types_pb2.TaskInfo, amount: int) -> None:
    """Move ``amount`` from the owner into the task's send allowance (wasm tasks only)."""
    if wasm_code_id(environment_of(info.definition.task)) is None:
        raise errors.INVALID_AMOUNT("only wasm tasks send from an allowance; leave allowance empty")
    have = bank.balance(ctx, owner, DENOM)
    if have < amount:
        raise errors.INSUFFICIENT_BOND_BALANCE(
            f"{to_bech32(owner)} has {have}{DENOM}, the bond and allowance need {amount}{DENOM} more"
        )
    bank.send(ctx, owner, ALLOWANCE_ACCOUNT, DENOM, amount)
    info.allowance_remaining = str(allowance_of(info) + amount)


def escrow(ctx: Context, payer: bytes, info: types_pb2.TaskInfo, amount: int) -> None:
    """Move ``amount`` from ``payer`` into the task's bond; raises INSUFFICIENT_BOND_BALANCE."""
    have = bank.balance(ctx, payer, DENOM)
    if have < amount:
        raise errors.INSUFFICIENT_BOND_BALANCE(
            f"{to_bech32(payer)} has {have}{DENOM}, the bond needs {amount}{DENOM}"
        )
    if amount:
        bank.send(ctx, payer, MODULE_ACCOUNT, DENOM, amount)
    set_bond(ctx, info, bond_of(info) + amount)


def make_inactive(ctx: Context, info: types_pb2.TaskInfo, reason: str) -> None:
    """Take the task off the due index (a triggered one off the trigger indexes too, keeping its
    expiry); it resumes through an update with active=true."""
    unpark_trigger(ctx, info)
    set_due(ctx, info, 0)
    info.status = INACTIVE
    info.definition.schedule.active = False
    info.inactive_reason = reason


# -- scheduling --------------------------------------------------------------------------------------------


def schedule(
    ctx: Context,
    definition: types_pb2.TaskDefinition,
    signer: str,
    gas_price: int,
    first_block: int,
    allowance: int = 0,
) -> types_pb2.TaskInfo:
    """Validate, hash, escrow the bond (and a wasm task's ``allowance``), index and store a new task
    due at ``first_block``."""
    owner = validate_task(ctx, definition.task, signer)
    triggered = has_trigger(definition)
    validate_schedule(ctx, definition.schedule, triggered)
    if triggered:
        validate_trigger(ctx, definition)
    hash_ = task_hash(definition.task)
    if get_task(ctx, hash_) is not None:  # unreachable while nonces increase; kept as a guard
        raise errors.WRONG_NONCE(f"task {hash_.hex()} already exists")
    info = types_pb2.TaskInfo(
        definition=definition,
        task_hash=hash_.hex(),
        status=ACTIVE,
        executions_left=definition.schedule.executions,
        gas_price=str(gas_price),
        anchor_block=first_block,
        scheduled_at=ctx.height,
        metrics=types_pb2.TaskMetrics(bond_remaining="0", fees_paid="0"),
    )
    info.definition.schedule.active = True
    info.definition.task.environment = environment_of(definition.task)
    escrow(ctx, owner, info, required_bond(definition, gas_price))
    if allowance:
        escrow_allowance(ctx, owner, info, allowance)
    set_nonce(ctx, owner, definition.task.nonce + 1)
    ctx.store(STORE).set(owner_key(owner, hash_), b"")
    if triggered:
        arm_trigger(ctx, info)  # waits for start_block, then due only when its price crosses (triggers.py)
    else:
        set_due(ctx, info, first_block)
    put_task(ctx, info)
    ctx.emit(
        "TaskScheduled",
        task_id=info.task_hash,
        owner=signer,
        next_block=str(info.next_block),
        environment=info.definition.task.environment,
        bond=str(bond_of(info)),
    )
    return info


# -- authorization -----------------------------------------------------------------------------------------


def is_task_canceller(ctx: Context, hash_: bytes, account: bytes) -> bool:
    """Whether ``account`` is a canceller of this one task."""
    return ctx.store(STORE).has(canceller_key(hash_, account))


def is_env_canceller(ctx: Context, owner: bytes, environment: str, account: bytes) -> bool:
    """Whether ``owner`` authorized ``account`` for every task of ``environment``."""
    return ctx.store(STORE).has(env_canceller_key(owner, environment, account))


def cancel_authority(ctx: Context, info: types_pb2.TaskInfo, sender: bytes) -> str:
    """Who ``sender`` is for this task (owner, environment canceller, task canceller); raises if nobody."""
    owner = from_bech32(info.definition.task.from_address)
    if sender == owner:
        return "owner"
    if is_env_canceller(ctx, owner, environment_of(info.definition.task), sender):
        return "environment_canceller"
    if is_task_canceller(ctx, bytes.fromhex(info.task_hash), sender):
        return "task_canceller"
    raise errors.UNAUTHORIZED_CANCEL(
        f"{to_bech32(sender)} is not the owner, an environment canceller or a canceller "
        f"of task {info.task_hash}"
    )


def require_owner(info: types_pb2.TaskInfo, sender: str) -> None:
    """Only the task owner may do this."""
    if sender != info.definition.task.from_address:
        raise errors.NOT_OWNER(f"{sender} is not the owner {info.definition.task.from_address} of the task")


def require_open(info: types_pb2.TaskInfo) -> None:
    """Reject changes to completed or cancelled tasks."""
    if info.status in (COMPLETED, CANCELLED):
        raise errors.TASK_FINISHED(f"task {info.task_hash} is {Status.Name(info.status)}")


# -- run history ------------------------------------------------------------------------------------------


def record_run(ctx: Context, hash_: bytes, run: types_pb2.TaskRun, keep: int) -> None:
    """Append ``run`` to the task's history and prune it to its last ``keep`` runs (0 keeps none).

    The sequence is the last kept one plus 1 (1 for an empty history). Pruning deletes from the oldest
    key while more than ``keep`` remain: one delete per run in the steady state, more only right after
    the param shrank; at most ``MAX_RUN_HISTORY`` + 1 keys are ever read. Written on ``ctx`` (the
    block's or the executing tx's context, not the task's discarded-on-failure branch), so its store
    gas goes to that context's meter like the task record's own update.
    """
    store = ctx.store(STORE)
    prefix = run_prefix(hash_)
    last = next(store.iterate(prefix, prefix_end(prefix), reverse=True), None)
    sequence = 1 if last is None else int.from_bytes(last[0][len(prefix) :], "big") + 1
    if keep:
        run.sequence = sequence
        store.set(run_key(hash_, sequence), run.SerializeToString(deterministic=True))
    oldest_kept = sequence - keep + 1  # sequences below this one go
    # listed before deleting: a store is not changed while it is iterated
    for key in [key for key, _ in store.iterate(prefix, run_key(hash_, max(oldest_kept, 0)))]:
        store.delete(key)


def runs_of(ctx: Context, hash_: bytes) -> list[types_pb2.TaskRun]:
    """The task's kept runs, oldest first (at most MAX_RUN_HISTORY)."""
    store = ctx.store(STORE)
    prefix = run_prefix(hash_)
    return [types_pb2.TaskRun.FromString(v) for _, v in store.iterate(prefix, prefix_end(prefix))]
