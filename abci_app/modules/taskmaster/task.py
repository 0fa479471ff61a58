"""The abstract built-in task and its schedule."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from abci_app.context import Context


@dataclass(frozen=True)
class Schedule:
    """Every ``every_blocks`` blocks, or (when that is 0) every ``every_seconds`` of block time."""

    every_blocks: int
    every_seconds: int
    start_height: int


@dataclass(frozen=True)
class Outcome:
    """One result of a run: ``ok`` results go to ``on_finish``, the others to ``on_fail``."""

    ok: bool
    subject: str
    detail: str


Migration = Callable[[Context], None]


class BuiltinTask(ABC):
    """A recurring task shipped with the chain.

    A run has two phases: at the end of a block where the task is due, ``open_round`` (the round's
    inputs are then gathered, e.g. in vote extensions); at the start of the next block ``run`` turns
    the inputs into outcomes, and the framework calls the hooks and updates the task's status.
    """

    name: ClassVar[str]
    store: ClassVar[str]
    consensus_version: ClassVar[int]
    migrations: ClassVar[Mapping[int, Migration]]  # version v: migrates the layout from v-1 to v

    @abstractmethod
    def schedule(self, ctx: Context) -> Schedule:
        """The schedule, from chain params."""

    @abstractmethod
    def upgrade_height(self, ctx: Context) -> int:
        """Height at which pending migrations run (0: never)."""

    @abstractmethod
    def run(self, ctx: Context, round_height: int, inputs: Any) -> list[Outcome]:
        """Turn the round's inputs into outcomes (writing to the task's store as it goes)."""

    def on_finish(self, ctx: Context, outcome: Outcome) -> None:
        """Called for each successful outcome; emits an event by default."""
        ctx.emit(f"{self.name}_finished", task=self.name, subject=outcome.subject, result=outcome.detail)

    def on_fail(self, ctx: Context, outcome: Outcome) -> None:
        """Called for each failed outcome; emits an event by default."""
        ctx.emit(f"{self.name}_failed", task=self.name, subject=outcome.subject, error=outcome.detail)
