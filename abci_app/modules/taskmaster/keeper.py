"""Task status records, the due index of block-scheduled tasks, and the round / migration machinery.

Store ``taskmaster``:
``0x01 | name``  -> TaskStatus (protobuf)
``0x02 | ...``   -> the due-block index (abci_app.scheduler) of block-scheduled tasks
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from taskmaster.taskmaster.v1 import taskmaster_pb2

from abci_app.context import Context
from abci_app.modules.taskmaster.task import BuiltinTask, Outcome, Schedule
from abci_app.scheduler import DueIndex

log = logging.getLogger("abci_app.modules.taskmaster")

STORE = "taskmaster"
STATUS_PREFIX = b"\x01"
DUE = DueIndex(b"\x02")
NS = 1_000_000_000


def status(ctx: Context, name: str) -> taskmaster_pb2.TaskStatus | None:
    """A task's status record."""
    raw = ctx.store(STORE).get(STATUS_PREFIX + name.encode())
    return taskmaster_pb2.TaskStatus.FromString(raw) if raw is not None else None


def statuses(ctx: Context) -> list[taskmaster_pb2.TaskStatus]:
    """Every task's status, by name."""
    return [
        taskmaster_pb2.TaskStatus.FromString(v) for _, v in ctx.store(STORE).iterate_prefix(STATUS_PREFIX)
    ]


def _save(ctx: Context, record: taskmaster_pb2.TaskStatus) -> None:
    ctx.store(STORE).set(STATUS_PREFIX + record.name.encode(), record.SerializeToString(deterministic=True))


def _reschedule(
    ctx: Context, record: taskmaster_pb2.TaskStatus, schedule: Schedule, block_time_ns: int
) -> None:
    """Move a task's next due point one interval on, without drift."""
    store = ctx.store(STORE)
    if schedule.every_blocks:
        if record.next_due_height:
            DUE.remove(store, record.next_due_height, 0, record.name.encode())
        previous = record.next_due_height or ctx.height
        nxt = previous + schedule.every_blocks
        if nxt <= ctx.height:  # fell behind (e.g. the interval shrank): next multiple after now
            nxt = ctx.height + schedule.every_blocks - (ctx.height - previous) % schedule.every_blocks
        record.next_due_height = nxt
        record.next_due_time_ns = 0
        DUE.add(store, nxt, 0, record.name.encode())
    else:
        step = schedule.every_seconds * NS
        previous = record.next_due_time_ns or block_time_ns
        nxt = previous + step
        if nxt <= block_time_ns:
            nxt = block_time_ns + step - (block_time_ns - previous) % step
        record.next_due_time_ns = nxt
        record.next_due_height = 0


def init_task(ctx: Context, task: BuiltinTask, version: int) -> None:
    """Create a task's status at genesis with its first due point and layout version."""
    schedule = task.schedule(ctx)
    record = taskmaster_pb2.TaskStatus(name=task.name, consensus_version=version)
    if schedule.every_blocks:
        record.next_due_height = max(schedule.start_height, ctx.height, 1)
        DUE.add(ctx.store(STORE), record.next_due_height, 0, task.name.encode())
    _save(ctx, record)


def is_due(ctx: Context, task: BuiltinTask, block_time_ns: int) -> bool:
    """Whether ``task`` opens a round at ``ctx.height`` (a block with time ``block_time_ns``).

    Depends only on the state before the block and the block's height and time, so ExtendVote (before
    FinalizeBlock) and FinalizeBlock agree on it.
    """
    record = status(ctx, task.name)
    schedule = task.schedule(ctx)
    if record is None or ctx.height < schedule.start_height:
        return False
    if schedule.every_blocks:
        due = DUE.due(ctx.store(STORE), ctx.height)
        return any(entry.id == task.name.encode() for entry in due)
    return block_time_ns >= record.next_due_time_ns


def pending_round(ctx: Context, task: BuiltinTask) -> int:
    """The height whose round awaits its run in the next block (0: none)."""
    record = status(ctx, task.name)
    return record.pending_round if record is not None else 0


def open_rounds(ctx: Context, tasks: Sequence[BuiltinTask], block_time_ns: int) -> None:
    """End of block: mark the round of every due task as pending and schedule its next one."""
    for task in tasks:
        if not is_due(ctx, task, block_time_ns):
            continue
        record = status(ctx, task.name)
        assert record is not None
        record.pending_round = ctx.height
        _reschedule(ctx, record, task.schedule(ctx), block_time_ns)
        _save(ctx, record)


def run_round(ctx: Context, task: BuiltinTask, inputs: Any) -> None:
    """Start of block: run a pending round and call the hooks; the run's own failure is an ``on_fail``."""
    record = status(ctx, task.name)
    if record is None or not record.pending_round:
        return
    round_height = record.pending_round
    record.pending_round = 0
    run_ctx = ctx.child()
    try:
        outcomes = task.run(run_ctx, round_height, inputs)
        run_ctx.branch.write()
        ctx.events.extend(run_ctx.events)
    except Exception as exc:  # a task bug fails the round, never the node
        run_ctx.branch.discard()
        # the type name only: an exception's text may hold memory addresses or parser messages, and
        # this string goes into state and events, which every node must write byte for byte alike
        log.exception("built-in task %s raised in round %d", task.name, round_height)
        outcomes = [Outcome(False, task.name, f"run raised {type(exc).__name__}")]
    record.last_run_height = ctx.height
    for outcome in outcomes:
        if outcome.ok:
            record.success_count += 1
            record.last_result = f"{outcome.subject}: {outcome.detail}"
            task.on_finish(ctx, outcome)
        else:
            record.failure_count += 1
            record.last_error = f"{outcome.subject}: {outcome.detail}"
            task.on_fail(ctx, outcome)
    _save(ctx, record)


def run_migrations(ctx: Context, tasks: Sequence[BuiltinTask]) -> None:
    """At a task's upgrade height, run its migrations above the recorded version, in order."""
    for task in tasks:
        if task.upgrade_height(ctx) != ctx.height:
            continue
        record = status(ctx, task.name)
        if record is None:
            continue
        for version in range(record.consensus_version + 1, task.consensus_version + 1):
            task.migrations[version](ctx)
            record.consensus_version = version
            ctx.emit("TaskMigrated", task=task.name, version=str(version), height=str(ctx.height))
        _save(ctx, record)


def restore_status(ctx: Context, record: taskmaster_pb2.TaskStatus) -> None:
    """Write a status record exactly as given (genesis import), with its due-index entry."""
    if record.next_due_height:
        DUE.add(ctx.store(STORE), record.next_due_height, 0, record.name.encode())
    _save(ctx, record)
