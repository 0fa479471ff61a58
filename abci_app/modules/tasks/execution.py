"""Running tasks: one isolated, gas-capped branch per execution, fees, recurrence and the block scheduler.

Order inside a block (documented in docs/tasks.md): due block ascending, then tier (large, medium,
small), then task hash — exactly the key order of the due index. A task's tier cap counts against the
block's task-gas budget; the first task that does not fit stops the block, and it and everything after
it keep their due entries (they are older, so they run first next block).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from taskmaster.tasks.v1 import tx_pb2, types_pb2

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking import keeper as staking
from abci_app.modules.tasks import errors, keeper, triggers
from abci_app.modules.tasks.keys import DUE, STORE
from abci_app.modules.wasm import keeper as wasm
from abci_app.scheduler import DueEntry
from abci_app.tx.address import from_bech32, to_bech32
from abci_app.tx.gas import GasMeter, OutOfGas

log = logging.getLogger("abci_app.tasks")

RETRY_LIMIT = 3  # rescheduling environment: retries after a failed execution
RETRY_DELAY = 5  # blocks between a failure and its retry
MAX_ERROR_LEN = 256


@dataclass
class Running:
    """The execution in progress in one task branch (what reschedule_task and wasm sends may change)."""

    task_hash: str
    cost: int
    bond_after: int
    reschedule_to: int = 0
    allowance: int = 0  # wasm tasks: what is left of the send allowance during this execution


# Keyed by the identity of the task branch: only a handler running on that exact branch is "the
# running task". FinalizeBlock is single-threaded, so this never interleaves.
_RUNNING: dict[int, Running] = {}


@dataclass
class Payouts:
    """Executor reimbursements and protocol fees owed by the module account, paid once per batch."""

    executors: dict[bytes, int] = field(default_factory=dict)
    protocol_fee: int = 0

    def pay(self, ctx: Context) -> None:
        """Move the amounts out of the module account (sorted by executor address) and emit events."""
        for executor in sorted(self.executors):
            amount = self.executors[executor]
            if amount:
                bank.send(ctx, keeper.MODULE_ACCOUNT, executor, keeper.DENOM, amount)
                ctx.emit("ExecutorReimbursed", executor=to_bech32(executor), amount=str(amount))
        if self.protocol_fee:
            bank.send(ctx, keeper.MODULE_ACCOUNT, keeper.FEE_POOL, keeper.DENOM, self.protocol_fee)
            ctx.emit("ProtocolFeeCollected", amount=str(self.protocol_fee), pool=to_bech32(keeper.FEE_POOL))
        self.executors.clear()
        self.protocol_fee = 0


@dataclass(frozen=True)
class Outcome:
    """The result of one execution."""

    executed: bool
    success: bool = False
    return_data: bytes = b""
    error: str = ""
    gas_used: int = 0


def _run_target(task_ctx: Context, task: types_pb2.Task) -> bytes:
    """Decode and run the target message on the task branch; returns its serialized response."""
    msg = keeper.decode_target(task_ctx, task)
    response = task_ctx.routes[task.target].handler(task_ctx, msg)
    return response.SerializeToString(deterministic=True)


def _run_wasm(task_ctx: Context, info: types_pb2.TaskInfo, code_id: bytes, running: Running) -> bytes:
    """Run the task's module on the task branch (docs/wasm.md); returns its return data.

    Sends go from the allowance escrow, at most ``running.allowance``; reschedule applies
    reschedule_task's rules with the execution's own cost as max_payment.
    """
    task = info.definition.task
    meter = task_ctx.gas
    assert meter is not None

    def spend(recipient: bytes, amount: int) -> None:
        if recipient in task_ctx.blocked_recipients:
            raise wasm.HOST_ARGUMENT(f"{to_bech32(recipient)} is a module account; it cannot receive")
        if amount > running.allowance:
            raise wasm.ALLOWANCE_EXCEEDED(
                f"send of {amount}{keeper.DENOM} but {running.allowance} is left of the task's allowance"
            )
        bank.send(task_ctx, keeper.ALLOWANCE_ACCOUNT, recipient, keeper.DENOM, amount)
        running.allowance -= amount
        task_ctx.emit(
            "TaskWasmSend", task_id=info.task_hash, recipient=to_bech32(recipient), amount=str(amount)
        )

    env = wasm.HostEnv(
        ctx=task_ctx,
        owner=from_bech32(task.from_address),
        task_id=info.task_hash,
        data=task.data,
        spend=spend,
        allowance_left=lambda: running.allowance,
        reschedule=lambda block: request_reschedule(running, task_ctx.height, block, running.cost),
    )
    return wasm.run(task_ctx, code_id, env, meter)


def _isolated(ctx: Context, info: types_pb2.TaskInfo, running: Running) -> tuple[Outcome, Context]:
    """Run the task on its own gas-capped branch; write it on success, discard it on any failure."""
    cap = keeper.tier_of(info.definition.task.gas).cap
    meter = GasMeter(cap)
    task_ctx = ctx.child(gas=meter)
    _RUNNING[id(task_ctx.branch)] = running
    code_id = keeper.wasm_code_id(keeper.environment_of(info.definition.task))
    try:
        # the record is read, decoded and stored again for this execution: its bytes are paid first
        meter.consume(keeper.task_byte_gas(info.definition.task), "task record bytes")
        if code_id is None:
            data = _run_target(task_ctx, info.definition.task)
        else:
            data = _run_wasm(task_ctx, info, code_id, running)
    except AppError as err:
        task_ctx.branch.discard()
        return Outcome(True, False, b"", err.log[:MAX_ERROR_LEN], min(meter.consumed, cap)), task_ctx
    except Exception as exc:  # a handler bug is a task failure, never a node failure
        log.warning("task %s target raised %s", info.task_hash, type(exc).__name__)
        task_ctx.branch.discard()
        return Outcome(
            True, False, b"", f"internal: {type(exc).__name__}", min(meter.consumed, cap)
        ), task_ctx
    finally:
        _RUNNING.pop(id(task_ctx.branch), None)
    task_ctx.branch.write()
    return Outcome(True, True, data, "", meter.consumed), task_ctx


def _next_after(ctx: Context, info: types_pb2.TaskInfo, outcome: Outcome, running: Running) -> None:
    """Recurrence: reschedule request, environment retry, next interval or completion."""
    env = keeper.environment_of(info.definition.task)
    if outcome.success and running.reschedule_to:
        info.retries = 0
        keeper.set_due(ctx, info, running.reschedule_to)
        return
    if not outcome.success and env == "rescheduling" and info.retries < RETRY_LIMIT:
        info.retries += 1
        keeper.set_due(ctx, info, ctx.height + RETRY_DELAY)
        return
    info.retries = 0
    info.executions_left -= 1
    if info.executions_left == 0:
        keeper.disarm_trigger(ctx, info)
        keeper.set_due(ctx, info, 0)
        info.status = keeper.COMPLETED
        refunded = keeper.refund(ctx, info)
        ctx.emit("TaskCompleted", task_id=info.task_hash, refund=str(refunded))
        return
    if keeper.has_trigger(info.definition):
        keeper.set_due(ctx, info, 0)  # waits for its next crossing, from the end of its cooldown on
        keeper.park_trigger(ctx, info)
        return
    info.anchor_block += info.definition.schedule.interval  # from the scheduled block: no drift
    keeper.set_due(ctx, info, max(info.anchor_block, ctx.height + 1))


def _u64_add(counter: int, amount: int) -> int:
    """A uint64 metric plus ``amount``, saturating at 2^64-1 (a genesis may start it anywhere)."""
    return min(counter + amount, keeper.U64_MAX)


def execute(
    ctx: Context, info: types_pb2.TaskInfo, executor: bytes, payouts: Payouts, fee_bps: int
) -> Outcome:
    """Execute one due task for ``executor``: charge the bond, run isolated, record, reschedule."""
    cost = keeper.info_cost(info)
    bond = keeper.bond_of(info)
    if bond < cost:
        keeper.make_inactive(ctx, info, f"bond {bond} < execution cost {cost}")
        keeper.put_task(ctx, info)
        ctx.emit(
            "TaskInactiveDueToInsufficientBonds",
            task_id=info.task_hash,
            owner=info.definition.task.from_address,
            bond=str(bond),
            required=str(cost),
        )
        return Outcome(False)
    lateness = ctx.height - min(info.next_block, ctx.height)
    running = Running(info.task_hash, cost, bond - cost, allowance=keeper.allowance_of(info))
    outcome, task_ctx = _isolated(ctx, info, running)
    if outcome.success and keeper.wasm_code_id(keeper.environment_of(info.definition.task)) is not None:
        # a wasm task's own events (TaskWasmEvent, TaskWasmSend) are kept only when it succeeded
        ctx.events.extend(task_ctx.events)
        if info.allowance_remaining:
            info.allowance_remaining = str(running.allowance)
    fee = cost * fee_bps // 10_000
    payouts.executors[executor] = payouts.executors.get(executor, 0) + cost - fee
    payouts.protocol_fee += fee
    keeper.set_bond(ctx, info, bond - cost)
    m = info.metrics
    if outcome.success:
        m.success_count = _u64_add(m.success_count, 1)
    else:
        m.failure_count = _u64_add(m.failure_count, 1)
        m.last_error = outcome.error
    m.total_gas_used = _u64_add(m.total_gas_used, outcome.gas_used)
    m.last_executed_block = ctx.height
    m.fees_paid = str(keeper.stored_decimal(m.fees_paid, "metrics.fees_paid") + cost)
    m.last_lateness = lateness
    m.max_lateness = max(m.max_lateness, lateness)
    # the run history (docs/tasks.md, "Run history"): written on ``ctx``, as bookkeeping of this
    # execution like the record update below, so a failed run is kept too
    run = types_pb2.TaskRun(
        height=ctx.height,
        success=outcome.success,
        gas_used=outcome.gas_used,
        amount_paid=str(cost),
        error=outcome.error,
        executor=to_bech32(executor),
    )
    keeper.record_run(ctx, bytes.fromhex(info.task_hash), run, keeper.get_params(ctx).run_history_size)
    env = keeper.environment_of(info.definition.task)
    ctx.emit(
        "TaskExecuted",
        task_id=info.task_hash,
        executor=to_bech32(executor),
        success="true" if outcome.success else "false",
        return_data="" if env == "minimal" else outcome.return_data.hex(),
        error=outcome.error,
        gas_used=str(outcome.gas_used),
    )
    ctx.emit(
        "TaskExecutionRecorded",
        task_id=info.task_hash,
        block=str(ctx.height),
        due_block=str(info.next_block),
        lateness=str(lateness),
        cost=str(cost),
    )
    _next_after(ctx, info, outcome, running)
    if info.status == keeper.ACTIVE and keeper.bond_of(info) < cost:
        keeper.make_inactive(ctx, info, f"bond {keeper.bond_of(info)} < execution cost {cost}")
        ctx.emit(
            "TaskInactiveDueToInsufficientBonds",
            task_id=info.task_hash,
            owner=info.definition.task.from_address,
            bond=str(keeper.bond_of(info)),
            required=str(cost),
        )
    keeper.put_task(ctx, info)
    return outcome


def select_due(ctx: Context, height: int, budget: int) -> list[DueEntry]:
    """Due entries at ``height`` that fit ``budget`` (tier caps), in execution order."""
    chosen: list[DueEntry] = []
    used = 0
    for entry in DUE.due(ctx.store(STORE), height):
        cap = keeper.TIER_BY_PRIORITY[entry.priority].cap
        if used + cap > budget:
            break
        used += cap
        chosen.append(entry)
    return chosen


def run_due(ctx: Context, executor: bytes, budget: int) -> tuple[int, int, int]:
    """Execute due tasks within ``budget``; returns (executed, failed, gas budget used)."""
    params = keeper.get_params(ctx)
    payouts = Payouts()
    executed = failed = used = 0
    for entry in select_due(ctx, ctx.height, budget):
        outcome = _execute_entry(ctx, entry, executor, payouts, params.protocol_fee_bps)
        if outcome is not None and outcome.executed:
            executed += 1
            failed += 0 if outcome.success else 1
            used += keeper.TIER_BY_PRIORITY[entry.priority].cap
    payouts.pay(ctx)
    return executed, failed, used


def _execute_entry(
    ctx: Context, entry: DueEntry, executor: bytes, payouts: Payouts, fee_bps: int
) -> Outcome | None:
    """Execute the task of one due entry on its own branch; None when it was skipped.

    The target's failures are already task failures (``_isolated``); this catches what is left, a
    bug or a malformed genesis record in the bookkeeping around it, so that it fails this one task
    (branch and payouts rolled back, task taken off the schedule) instead of the node.
    """
    saved = (dict(payouts.executors), payouts.protocol_fee)
    entry_ctx = ctx.child()
    try:
        info = keeper.get_task(entry_ctx, entry.id)
        if info is None or info.status != keeper.ACTIVE or info.metrics.last_executed_block == ctx.height:
            return None
        outcome = execute(entry_ctx, info, executor, payouts, fee_bps)
    except OutOfGas:  # the meter of the tx running MsgExecuteQueuedTasks: that tx fails, as before
        raise
    except Exception as exc:  # never let one task's bookkeeping stop the block
        entry_ctx.branch.discard()
        payouts.executors, payouts.protocol_fee = saved
        _quarantine(ctx, entry, exc)
        return None
    entry_ctx.branch.write()
    ctx.events.extend(entry_ctx.events)
    return outcome


def _quarantine(ctx: Context, entry: DueEntry, exc: Exception) -> None:
    """Take a task whose execution raised off the schedule, INACTIVE with a deterministic reason."""
    reason = f"internal: {type(exc).__name__}"  # the class name only: messages may differ between nodes
    log.warning("task %s execution raised %s; made inactive", entry.id.hex(), type(exc).__name__)
    DUE.remove(ctx.store(STORE), entry.block, entry.priority, entry.id)
    fix_ctx = ctx.child()
    try:
        info = keeper.get_task(fix_ctx, entry.id)
        if info is not None and info.next_block == entry.block:
            info.next_block = 0  # its due entry is gone already
            info.status = keeper.INACTIVE
            info.definition.schedule.active = False
            info.inactive_reason = reason
            info.metrics.last_error = reason
            keeper.put_task(fix_ctx, info)
    except Exception:  # an undecodable record: the due entry is gone, leave the record as it is
        fix_ctx.branch.discard()
        return
    fix_ctx.branch.write()
    ctx.emit("TaskExecutionAborted", task_id=entry.id.hex(), block=str(ctx.height), error=reason)


def block_budget(params: types_pb2.Params) -> int:
    """The task gas a block may use."""
    return max(0, params.max_block_task_gas - params.block_task_gas_reserve)


def end_block(ctx: Context) -> None:
    """FinalizeBlock's scheduler step: run due tasks for the proposer, emit TasksExecuted."""
    operator = staking.operator_of(ctx, ctx.proposer) if ctx.proposer else None
    executor = operator if operator is not None else keeper.FEE_POOL
    triggers.release(ctx)  # waiting triggers armed from this height on join the trigger index
    triggers.expire(ctx)
    triggers.fire(ctx)  # after this block's oracle round (pre-block): crossed triggers join the due tasks
    executed, failed, used = run_due(ctx, executor, block_budget(keeper.get_params(ctx)))
    if executed:
        ctx.emit(
            "TasksExecuted",
            block=str(ctx.height),
            executed=str(executed),
            failed=str(failed),
            gas_budget_used=str(used),
        )


def running_task(ctx: Context) -> Running:
    """The execution running on ``ctx``'s branch; raises NOT_RUNNING_TASK outside one."""
    running = _RUNNING.get(id(ctx.branch))
    if running is None:
        raise errors.NOT_RUNNING_TASK(
            "reschedule_task is available only to the running task (as its target), not in a tx"
        )
    return running


def request_reschedule(running: Running, height: int, target_block: int, max_payment: int) -> None:
    """reschedule_task's rules: the running execution is done and due again at ``target_block``."""
    if target_block <= height or target_block >= 2**63:
        raise errors.INVALID_RESCHEDULE(f"target_block {target_block} must be after block {height}")
    if max_payment < running.cost:
        raise errors.INVALID_RESCHEDULE(
            f"max_payment {max_payment} is below the execution cost {running.cost}"
        )
    if running.bond_after < running.cost:
        raise errors.INSUFFICIENT_BOND(
            f"bond after this execution {running.bond_after} cannot pay the rescheduled one ({running.cost})"
        )
    running.reschedule_to = target_block


def handle_reschedule(ctx: Context, msg: tx_pb2.MsgRescheduleTask) -> tx_pb2.MsgRescheduleTaskResponse:
    """reschedule_task(target_block, max_payment): mark this execution done, due again at target_block."""
    running = running_task(ctx)
    max_payment = keeper.parse_amount(msg.max_payment, "max_payment")
    request_reschedule(running, ctx.height, msg.target_block, max_payment)
    return tx_pb2.MsgRescheduleTaskResponse(target_block=msg.target_block)
