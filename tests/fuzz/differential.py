"""Two in-process apps fed the same steps: every answer must be byte-identical.

``warm`` is an ordinary app (default SignatureCache, accepts its own proposals without re-checking,
runs with Python's default ``int_max_str_digits``) and also serves the generator's state reads.
``cold`` has a SignatureCache that keeps nothing, re-verifies its own proposals in full, runs with
``int_max_str_digits`` set to 0 (unlimited), and answers every read-only request twice (the second
answer must equal the first); now and then after a block it is closed and reopened from its store,
as a restarted node is. A caught exception inside the app (the last-line guards of
``app.py``, a failed block step, a panicking handler) is recorded as a *contained crash*.
"""

from __future__ import annotations

import contextlib
import logging
import random
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from abci_app.app import Application
from tests.fuzz.world import Block, CheckTx, ExtendVote, Generator, Step, World, drive
from tests.interpreter import int_max_str_digits

CONTAINED_CRASH = re.compile(
    r"raised; answering with a safe default|block step .* raised|message handler raised|ante checks raised"
    r"|decoding a tx of \d+ bytes raised|ABCI application \w+\(\) raised|task \w+ target raised"
)
"""The log lines of the app's last-line guards: an exception was caught (a real node's log)."""

COLD_INT_DIGITS = 0  # unlimited
WARM_INT_DIGITS = 4300  # CPython's default


class ContainedCrashes(logging.Handler):
    """Collects log records that carry an exception from the application's loggers."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("abci_app"):
            return
        if record.exc_info:
            exc = record.exc_info[1]
            self.records.append(f"{record.getMessage()}: {type(exc).__name__}: {exc}")
        elif "target raised" in record.getMessage():  # a task target's handler bug, caught by the task
            self.records.append(record.getMessage())


@contextlib.contextmanager
def contained_crashes() -> Iterator[ContainedCrashes]:
    """Record exceptions the app logs; the app's own log lines are silenced meanwhile."""
    handler = ContainedCrashes()
    root = logging.getLogger("abci_app")
    level, propagate = root.level, root.propagate
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    root.propagate = False
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        root.propagate = propagate


@dataclass
class Divergence(AssertionError):
    """The apps answered one step differently (or one answered a repeat differently)."""

    index: int
    step: Step
    detail: str

    def __str__(self) -> str:
        return f"step {self.index} ({type(self.step).__name__}) {self.detail}: {self.step!r:.2000}"


@dataclass
class Pair:
    """The two apps and the generator that reads the warm one."""

    warm: Application
    cold: Application
    generator: Generator
    world: World
    cold_path: str
    steps: list[Step] = field(default_factory=list)
    restarts: int = 0

    def run_step(self) -> Step:
        """Generate one step, run it on both apps, compare; raises Divergence or AssertionError."""
        step = self.generator.step()
        self.steps.append(step)
        index = len(self.steps) - 1
        # a hostile last commit (not one CometBFT makes) may be accepted by its own proposer's shortcut
        # and refused on a full check; only CometBFT-made commits must pass both ways
        realistic = isinstance(step, Block) and step.realistic
        with int_max_str_digits(WARM_INT_DIGITS):
            warm = drive(self.warm, self.world, step)
        with int_max_str_digits(COLD_INT_DIGITS):
            cold = drive(self.cold, self.world, step, forget_own_proposal=realistic)
            if not isinstance(step, CheckTx | Block | ExtendVote):
                again = drive(self.cold, self.world, step)
                if again != cold:
                    raise Divergence(index, step, "answered differently the second time")
        if warm != cold:
            raise Divergence(
                index,
                step,
                f"answers differ: {[a.hex()[:400] for a in warm]} vs {[a.hex()[:400] for a in cold]}",
            )
        self.generator.after(step)
        if isinstance(step, Block) and self.generator.rnd.random() < 0.1:
            self.restart_cold()
        return step

    def restart_cold(self) -> None:
        """Close the cold app and open its store again: a restarted node must answer the same."""
        self.cold.close()
        self.cold = self.world.reopen_app(self.cold_path, cache_capacity=0)
        self.restarts += 1


@contextlib.contextmanager
def pair(seed: int | random.Random) -> Iterator[Pair]:
    """A fresh warm/cold pair at genesis, both closed afterwards."""
    world = World()
    rnd = seed if isinstance(seed, random.Random) else random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        warm = world.open_app(f"{tmp}/warm")
        apps = Pair(warm, world.open_app(f"{tmp}/cold", 0), Generator(rnd, warm, world), world, f"{tmp}/cold")
        try:
            yield apps
        finally:
            warm.close()
            apps.cold.close()


def hunt(seed: int, steps: int) -> tuple[list[str], Exception | None]:
    """Run ``steps`` steps of ``seed``; the contained crashes seen and the first failure (or None)."""
    with contained_crashes() as crashes, pair(seed) as apps:
        try:
            for _ in range(steps):
                apps.run_step()
        except Exception as exc:
            return crashes.records, exc
    return crashes.records, None


def main() -> None:
    """``python -m tests.fuzz.differential FIRST_SEED SEEDS STEPS``: hunt over many seeds, print findings."""
    first, seeds, steps = (int(a) for a in sys.argv[1:4])
    for seed in range(first, first + seeds):
        records, failure = hunt(seed, steps)
        for record in sorted(set(records)):
            print(f"seed {seed}: contained crash: {record[:500]}", flush=True)
        if failure is not None:
            print(f"seed {seed}: FAILURE {type(failure).__name__}: {str(failure)[:3000]}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
