"""The built-in tasks this chain ships, in the order they run."""

from __future__ import annotations

from abci_app.modules.oracle.task import TASK as ORACLE
from abci_app.modules.taskmaster.task import BuiltinTask

BUILTIN_TASKS: tuple[BuiltinTask, ...] = (ORACLE,)


def task_by_name(name: str) -> BuiltinTask | None:
    """The built-in task called ``name``."""
    return next((t for t in BUILTIN_TASKS if t.name == name), None)
