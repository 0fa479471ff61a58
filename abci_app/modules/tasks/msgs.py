"""Message handlers of the tasks module: thin checks over the keeper and the executor."""

from __future__ import annotations

from taskmaster.tasks.v1 import tx_pb2, types_pb2

from abci_app.context import Context
from abci_app.modules import MsgRoute
from abci_app.modules.tasks import errors, execution, keeper
from abci_app.modules.tasks.keys import STORE, canceller_key, env_canceller_key
from abci_app.tx.address import from_bech32


def handle_schedule(ctx: Context, msg: tx_pb2.MsgScheduleTask) -> tx_pb2.MsgScheduleTaskResponse:
    """Schedule a task: its first execution is due at ``start_block``."""
    keeper.require_definition(msg.definition, msg.HasField("definition"))
    price = keeper.resolve_gas_price(ctx, msg.gas_price)
    start = msg.definition.schedule.start_block
    info = keeper.schedule(ctx, msg.definition, msg.sender, price, start, _allowance(msg.allowance))
    return tx_pb2.MsgScheduleTaskResponse(task_hash=info.task_hash, bond=info.metrics.bond_remaining)


def handle_execute_and_schedule(
    ctx: Context, msg: tx_pb2.MsgExecuteAndSchedule
) -> tx_pb2.MsgExecuteAndScheduleResponse:
    """Schedule, then run the first execution in this tx (the signer is its executor)."""
    keeper.require_definition(msg.definition, msg.HasField("definition"))
    if keeper.has_trigger(msg.definition):
        raise errors.INVALID_TRIGGER("MsgExecuteAndSchedule cannot carry a trigger; use MsgScheduleTask")
    price = keeper.resolve_gas_price(ctx, msg.gas_price)
    info = keeper.schedule(ctx, msg.definition, msg.sender, price, ctx.height, _allowance(msg.allowance))
    outcome = _execute_now(ctx, info, from_bech32(msg.sender, "sender"))
    regular_next = max(ctx.height + msg.definition.schedule.interval, ctx.height + 1)
    if info.status == keeper.ACTIVE and info.retries == 0 and info.next_block == regular_next:
        # the rest of the executions follow the schedule from start_block, not from this block
        info.anchor_block = msg.definition.schedule.start_block
        keeper.set_due(ctx, info, msg.definition.schedule.start_block)
        keeper.put_task(ctx, info)
    return tx_pb2.MsgExecuteAndScheduleResponse(
        task_hash=info.task_hash,
        success=outcome.success,
        return_data=outcome.return_data,
        error=outcome.error,
    )


def _allowance(text: str) -> int:
    """A message's allowance: empty means none."""
    return keeper.parse_amount(text, "allowance", allow_zero=True) if text else 0


def _execute_now(ctx: Context, info: types_pb2.TaskInfo, executor: bytes) -> execution.Outcome:
    payouts = execution.Payouts()
    outcome = execution.execute(ctx, info, executor, payouts, keeper.get_params(ctx).protocol_fee_bps)
    payouts.pay(ctx)
    return outcome


def handle_update(ctx: Context, msg: tx_pb2.MsgUpdateTaskSchedule) -> tx_pb2.MsgUpdateTaskScheduleResponse:
    """Replace the schedule of an open task (owner only); the bond is topped up or refunded to fit it."""
    info = keeper.require_task(ctx, keeper.parse_hash(msg.task_hash))
    keeper.require_owner(info, msg.sender)
    keeper.require_open(info)
    keeper.require_definition(msg.definition, msg.HasField("definition"))
    if keeper.has_trigger(msg.definition) and not keeper.has_trigger(info.definition):
        raise errors.INVALID_TRIGGER("an update cannot add a trigger; cancel the task and schedule it again")
    _require_same_task(info, msg.definition.task)
    if keeper.has_trigger(info.definition):
        return _resume_triggered(ctx, msg, info)
    schedule = msg.definition.schedule
    keeper.validate_schedule(ctx, schedule)
    owner = from_bech32(msg.sender, "sender")
    cost = keeper.info_cost(info)
    needed = schedule.executions * cost if schedule.active else 0
    bond = keeper.bond_of(info)
    if bond < needed:
        keeper.escrow(ctx, owner, info, needed - bond)
    info.definition.schedule.CopyFrom(schedule)
    info.executions_left = schedule.executions
    info.anchor_block = schedule.start_block
    info.retries = 0
    if schedule.active:
        info.status = keeper.ACTIVE
        info.inactive_reason = ""
        keeper.set_due(ctx, info, schedule.start_block)
    else:
        keeper.make_inactive(ctx, info, "paused by update")
    keeper.put_task(ctx, info)
    _emit_schedule_updated(ctx, info, schedule.executions, schedule.active)
    return tx_pb2.MsgUpdateTaskScheduleResponse()


def _emit_schedule_updated(ctx: Context, info: types_pb2.TaskInfo, executions: int, active: bool) -> None:
    """The TaskConfigUpdated event of a schedule update (or a triggered task's resume)."""
    ctx.emit(
        "TaskConfigUpdated",
        task_id=info.task_hash,
        change="schedule",
        next_block=str(info.next_block),
        executions=str(executions),
        active="true" if active else "false",
        bond=info.metrics.bond_remaining,
    )


def _require_same_task(info: types_pb2.TaskInfo, task: types_pb2.Task) -> None:
    """An update keeps the task fields; raises TASK_FIELDS_CHANGED naming the ones that differ."""
    new_task = keeper.stored_task(task)
    # compared as stored protobuf, not through the task-hash encoding: that encoding assumes fields that
    # were validated at scheduling (an unvalidated 256-byte environment does not fit its length byte)
    old_task = keeper.stored_task(info.definition.task)
    if new_task.SerializeToString(deterministic=True) != old_task.SerializeToString(deterministic=True):
        changed = sorted(
            f.name
            for f in types_pb2.Task.DESCRIPTOR.fields
            if getattr(new_task, f.name) != getattr(old_task, f.name)
        )
        raise errors.TASK_FIELDS_CHANGED(
            f"fields {', '.join(changed)} differ from the scheduled task; only schedule fields may change"
        )


def _resume_triggered(
    ctx: Context, msg: tx_pb2.MsgUpdateTaskSchedule, info: types_pb2.TaskInfo
) -> tx_pb2.MsgUpdateTaskScheduleResponse:
    """The one update a triggered task takes: resume it from INACTIVE with its definition unchanged
    (``active=true``). It keeps the executions it had left (the bond is topped up from the owner to
    pay them all) and waits for a crossing again, armed as before (start block, cooldown)."""
    given = msg.definition
    if given.trigger.SerializeToString(deterministic=True) != info.definition.trigger.SerializeToString(
        deterministic=True
    ):
        raise errors.INVALID_TRIGGER(
            "a triggered task's trigger cannot change; give the scheduled trigger, or cancel the task and "
            "schedule it again"
        )
    wanted, scheduled = types_pb2.TaskSchedule(), types_pb2.TaskSchedule()
    wanted.CopyFrom(given.schedule)
    scheduled.CopyFrom(info.definition.schedule)
    wanted.active = scheduled.active = True
    if not given.schedule.active or wanted != scheduled:
        raise errors.INVALID_TRIGGER(
            "a triggered task's schedule cannot change: an update only resumes an inactive one, with its "
            "scheduled schedule and active=true; cancel the task and schedule it again to change it"
        )
    if info.status != keeper.INACTIVE:
        raise errors.INVALID_TRIGGER(f"task {info.task_hash} is not inactive; there is nothing to resume")
    expiry = info.definition.trigger.expiry_block
    if expiry and expiry < ctx.height:
        raise errors.INVALID_TRIGGER(
            f"the trigger expired after block {expiry}; cancel the task to have its bond refunded"
        )
    needed = info.executions_left * keeper.info_cost(info)
    bond = keeper.bond_of(info)
    if bond < needed:
        keeper.escrow(ctx, from_bech32(msg.sender, "sender"), info, needed - bond)
    info.status = keeper.ACTIVE
    info.definition.schedule.active = True
    info.inactive_reason = ""
    info.retries = 0
    info.next_block = 0  # an inactive task has no due entry
    keeper.arm_trigger(ctx, info)  # waits for a crossing: in the trigger index once its arm block came
    keeper.put_task(ctx, info)
    _emit_schedule_updated(ctx, info, info.executions_left, True)
    return tx_pb2.MsgUpdateTaskScheduleResponse()


def handle_cancel(ctx: Context, msg: tx_pb2.MsgCancelTask) -> tx_pb2.MsgCancelTaskResponse:
    """Cancel an open task (owner, environment canceller or task canceller); refund the bond to the owner."""
    info = keeper.require_task(ctx, keeper.parse_hash(msg.task_hash))
    role = keeper.cancel_authority(ctx, info, from_bech32(msg.sender, "sender"))
    keeper.require_open(info)
    keeper.disarm_trigger(ctx, info)
    keeper.set_due(ctx, info, 0)
    info.status = keeper.CANCELLED
    info.definition.schedule.active = False
    refunded = keeper.refund(ctx, info)
    keeper.put_task(ctx, info)
    ctx.emit(
        "TaskCancelled",
        task_id=info.task_hash,
        owner=info.definition.task.from_address,
        cancelled_by=msg.sender,
        role=role,
        refund=str(refunded),
    )
    return tx_pb2.MsgCancelTaskResponse(refund=str(refunded))


def _canceller(text: str) -> bytes:
    if not text:
        raise errors.INVALID_CANCELLER("canceller is empty; give a task1... address")
    return from_bech32(text, "canceller")


def handle_add_canceller(ctx: Context, msg: tx_pb2.MsgAddTaskCanceller) -> tx_pb2.MsgAddTaskCancellerResponse:
    """The owner lets ``canceller`` cancel this one task."""
    hash_ = keeper.parse_hash(msg.task_hash)
    info = keeper.require_task(ctx, hash_)
    keeper.require_owner(info, msg.sender)
    keeper.require_open(info)
    ctx.store(STORE).set(canceller_key(hash_, _canceller(msg.canceller)), b"")
    ctx.emit("TaskConfigUpdated", task_id=info.task_hash, change="add_canceller", canceller=msg.canceller)
    return tx_pb2.MsgAddTaskCancellerResponse()


def handle_remove_canceller(
    ctx: Context, msg: tx_pb2.MsgRemoveTaskCanceller
) -> tx_pb2.MsgRemoveTaskCancellerResponse:
    """The owner withdraws a task canceller."""
    hash_ = keeper.parse_hash(msg.task_hash)
    info = keeper.require_task(ctx, hash_)
    keeper.require_owner(info, msg.sender)
    key = canceller_key(hash_, _canceller(msg.canceller))
    if not ctx.store(STORE).has(key):
        raise errors.INVALID_CANCELLER(f"{msg.canceller} is not a canceller of task {info.task_hash}")
    ctx.store(STORE).delete(key)
    ctx.emit("TaskConfigUpdated", task_id=info.task_hash, change="remove_canceller", canceller=msg.canceller)
    return tx_pb2.MsgRemoveTaskCancellerResponse()


def _environment(name: str) -> str:
    keeper.check_environment_name(name)
    return name


def handle_add_env_canceller(
    ctx: Context, msg: tx_pb2.MsgAddEnvironmentCanceller
) -> tx_pb2.MsgAddEnvironmentCancellerResponse:
    """The owner lets ``canceller`` cancel every task of the owner that uses ``environment``."""
    owner = from_bech32(msg.sender, "sender")
    env = _environment(msg.environment)
    ctx.store(STORE).set(env_canceller_key(owner, env, _canceller(msg.canceller)), b"")
    ctx.emit(
        "TaskConfigUpdated",
        owner=msg.sender,
        change="add_environment_canceller",
        environment=env,
        canceller=msg.canceller,
    )
    return tx_pb2.MsgAddEnvironmentCancellerResponse()


def handle_remove_env_canceller(
    ctx: Context, msg: tx_pb2.MsgRemoveEnvironmentCanceller
) -> tx_pb2.MsgRemoveEnvironmentCancellerResponse:
    """The owner withdraws an environment canceller."""
    owner = from_bech32(msg.sender, "sender")
    env = _environment(msg.environment)
    key = env_canceller_key(owner, env, _canceller(msg.canceller))
    if not ctx.store(STORE).has(key):
        raise errors.INVALID_CANCELLER(
            f"{msg.canceller} is not a {env} environment canceller of {msg.sender}"
        )
    ctx.store(STORE).delete(key)
    ctx.emit(
        "TaskConfigUpdated",
        owner=msg.sender,
        change="remove_environment_canceller",
        environment=env,
        canceller=msg.canceller,
    )
    return tx_pb2.MsgRemoveEnvironmentCancellerResponse()


def handle_execute_queued(
    ctx: Context, msg: tx_pb2.MsgExecuteQueuedTasks
) -> tx_pb2.MsgExecuteQueuedTasksResponse:
    """Run due tasks now, for the signer, while their caps fit the tx's gas left minus the reserve."""
    executor = from_bech32(msg.executor, "executor")
    budget = 0
    if ctx.gas is not None and ctx.gas.limit is not None:
        budget = max(0, ctx.gas.limit - ctx.gas.consumed - msg.target_gas_reserve)
    executed, failed, _ = execution.run_due(ctx, executor, budget)
    return tx_pb2.MsgExecuteQueuedTasksResponse(executed=executed, failed=failed)


def handle_execute(ctx: Context, msg: tx_pb2.MsgExecuteTask) -> tx_pb2.MsgExecuteTaskResponse:
    """Run one due, active task now; the signer is reimbursed as its executor."""
    executor = from_bech32(msg.executor, "executor")
    info = keeper.require_task(ctx, keeper.parse_hash(msg.task_hash))
    if info.status != keeper.ACTIVE:
        raise errors.TASK_NOT_ACTIVE(f"task {info.task_hash} is {types_pb2.TaskStatus.Name(info.status)}")
    if info.next_block == 0 or info.next_block > ctx.height or info.metrics.last_executed_block == ctx.height:
        raise errors.TASK_NOT_DUE(
            f"task {info.task_hash} is due at block {info.next_block}, now {ctx.height}"
        )
    outcome = _execute_now(ctx, info, executor)
    if not outcome.executed:
        raise errors.INSUFFICIENT_BOND(f"task {info.task_hash} bond cannot pay an execution; bond it first")
    return tx_pb2.MsgExecuteTaskResponse(
        success=outcome.success, return_data=outcome.return_data, error=outcome.error
    )


def handle_bond(ctx: Context, msg: tx_pb2.MsgBondTask) -> tx_pb2.MsgBondTaskResponse:
    """Add to an open task's bond (anyone may pay); an inactive task resumes through an update."""
    info = keeper.require_task(ctx, keeper.parse_hash(msg.task_hash))
    keeper.require_open(info)
    amount = keeper.parse_amount(msg.amount, "amount")
    keeper.escrow(ctx, from_bech32(msg.sender, "sender"), info, amount)
    keeper.put_task(ctx, info)
    ctx.emit(
        "TaskConfigUpdated",
        task_id=info.task_hash,
        change="bond",
        amount=str(amount),
        bond=info.metrics.bond_remaining,
    )
    return tx_pb2.MsgBondTaskResponse(bond=info.metrics.bond_remaining)


ROUTES = (
    MsgRoute(tx_pb2.MsgScheduleTask, lambda m: m.sender, handle_schedule),
    MsgRoute(tx_pb2.MsgExecuteAndSchedule, lambda m: m.sender, handle_execute_and_schedule),
    MsgRoute(tx_pb2.MsgUpdateTaskSchedule, lambda m: m.sender, handle_update),
    MsgRoute(tx_pb2.MsgCancelTask, lambda m: m.sender, handle_cancel),
    MsgRoute(tx_pb2.MsgAddTaskCanceller, lambda m: m.sender, handle_add_canceller),
    MsgRoute(tx_pb2.MsgRemoveTaskCanceller, lambda m: m.sender, handle_remove_canceller),
    MsgRoute(tx_pb2.MsgAddEnvironmentCanceller, lambda m: m.sender, handle_add_env_canceller),
    MsgRoute(tx_pb2.MsgRemoveEnvironmentCanceller, lambda m: m.sender, handle_remove_env_canceller),
    MsgRoute(tx_pb2.MsgExecuteQueuedTasks, lambda m: m.executor, handle_execute_queued),
    MsgRoute(tx_pb2.MsgExecuteTask, lambda m: m.executor, handle_execute),
    MsgRoute(tx_pb2.MsgBondTask, lambda m: m.sender, handle_bond),
    MsgRoute(tx_pb2.MsgRescheduleTask, lambda m: m.owner, execution.handle_reschedule),
)
