"""The taskmaster module record: status of built-in tasks; genesis sets each task's layout version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from abci_app.context import Context, run_isolated
from abci_app.modules import Module
from abci_app.modules.taskmaster import keeper, queries
from abci_app.modules.taskmaster.registry import BUILTIN_TASKS


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Create every task's status; ``versions: {name: n}`` starts a task at layout version n.

    The default is the latest version.

    Runs after the modules whose params the schedules read (module order in the router).
    """
    versions = state.get("versions", {})
    for task in BUILTIN_TASKS:
        version = int(versions.get(task.name, task.consensus_version))
        if not 1 <= version <= task.consensus_version:
            raise ValueError(
                f"taskmaster genesis: {task.name} version {version} outside 1..{task.consensus_version}"
            )
        keeper.init_task(ctx, task, version)


def end_block(ctx: Context) -> None:
    """Run the migrations due at this height, then open the round of every task due in this block.

    Each is isolated on its own: a failing migration does not keep the rounds from opening.
    """
    run_isolated(ctx, "built-in task migrations", lambda c: keeper.run_migrations(c, BUILTIN_TASKS))
    run_isolated(ctx, "built-in task rounds", lambda c: keeper.open_rounds(c, BUILTIN_TASKS, c.time_ns))


MODULE = Module(
    name="taskmaster",
    store=keeper.STORE,
    queries=queries.ROUTES,
    init_genesis=init_genesis,
    end_block=end_block,
)
