"""Genesis of the taskmaster module: each built-in task's status record and layout version.

A hand-written genesis gives at most ``versions: {name: n}`` (start a task at layout version n; the
default is the latest). An export gives ``statuses``: every record as it was (next due point,
counts, last results, version), restored exactly, with the due-index entry of a block-scheduled task
re-derived from its ``next_due_height``.

One thing does not survive an export: a round opened at the exported height (``pending_round``) waits
for the votes that the old chain's next block would carry, and a new chain's first block carries no
commit, so no proposal could ever serve that round (every validator would reject them all and the chain
would halt). An export drops it (``pending_round`` 0, the round neither succeeded nor failed) and an
import refuses any other value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from taskmaster.taskmaster.v1 import taskmaster_pb2

from abci_app.context import Context
from abci_app.modules.genesis_json import genesis_json
from abci_app.modules.taskmaster import keeper
from abci_app.modules.taskmaster.registry import BUILTIN_TASKS, task_by_name

MAX_HEIGHT = 2**63 - 1


class TaskmasterGenesisError(ValueError):
    """A taskmaster genesis section that names an unknown task or an impossible status."""


def _check_version(name: str, version: int, where: str) -> None:
    task = task_by_name(name)
    if task is None:
        known = sorted(t.name for t in BUILTIN_TASKS)
        raise TaskmasterGenesisError(f"{where}: no built-in task {name!r}; the tasks are {known}")
    if not 1 <= version <= task.consensus_version:
        raise TaskmasterGenesisError(f"{where}: {name} version {version} outside 1..{task.consensus_version}")


def _restore(ctx: Context, record: taskmaster_pb2.TaskStatus, where: str) -> None:
    _check_version(record.name, record.consensus_version, f"{where}.consensus_version")
    for field in ("last_run_height", "next_due_height", "next_due_time_ns", "pending_round"):
        if not 0 <= getattr(record, field) <= MAX_HEIGHT:
            raise TaskmasterGenesisError(f"{where}.{field} must be between 0 and 2^63-1")
    if record.pending_round:
        raise TaskmasterGenesisError(
            f"{where}.pending_round must be 0: a new chain's first block carries no votes to run the "
            "round with (an export drops it)"
        )
    if record.next_due_height and record.next_due_time_ns:
        raise TaskmasterGenesisError(f"{where}: give next_due_height or next_due_time_ns, not both")
    keeper.restore_status(ctx, record)


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Restore every listed status; create the others fresh at their given (or latest) version.

    Runs after the modules whose params the schedules read (module order in the router). Raises
    TaskmasterGenesisError naming the task and field that is wrong.
    """
    genesis = json_format.ParseDict(dict(state), taskmaster_pb2.GenesisState())
    for name, version in sorted(genesis.versions.items()):
        _check_version(name, version, f"taskmaster genesis versions.{name}")
    restored: set[str] = set()
    for i, record in enumerate(genesis.statuses):
        if record.name in restored:
            raise TaskmasterGenesisError(f"taskmaster genesis statuses[{i}]: {record.name!r} is listed twice")
        if record.name in genesis.versions:
            raise TaskmasterGenesisError(
                f"taskmaster genesis statuses[{i}]: {record.name!r} is also in versions; give one of them"
            )
        _restore(ctx, record, f"taskmaster genesis statuses[{i}]")
        restored.add(record.name)
    for task in BUILTIN_TASKS:
        if task.name not in restored:
            keeper.init_task(ctx, task, genesis.versions.get(task.name, task.consensus_version))


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Every task's status record, by name, without its pending round (see the module docstring)."""
    statuses = keeper.statuses(ctx)
    for record in statuses:
        record.pending_round = 0
    return genesis_json(taskmaster_pb2.GenesisState(statuses=statuses))
