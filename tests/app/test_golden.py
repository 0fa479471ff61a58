"""The golden scenario answers block for block exactly as recorded (tests/app/golden.py says what it runs).

A refactoring must leave consensus output unchanged: if this fails, the change altered an app hash or
a FinalizeBlock answer. Re-record ``golden.txt`` only for a deliberate consensus change, and say so in
the commit.
"""

from __future__ import annotations

from pathlib import Path

from tests.app.golden import run

GOLDEN = Path(__file__).with_name("golden.txt")


def test_the_golden_scenario_gives_the_recorded_app_hash_and_answer_at_every_height(tmp_path: Path) -> None:
    lines, _ = run(str(tmp_path / "db"))
    recorded = GOLDEN.read_text().splitlines()
    for got, want in zip(lines, recorded, strict=True):
        assert got == want, f"height {want.split()[0]}: got {got.split()[1:]}, recorded {want.split()[1:]}"


def test_the_golden_scenario_covers_bank_tasks_oracle_jailing_and_a_migration(tmp_path: Path) -> None:
    _, happened = run(str(tmp_path / "db"))
    for kind in (
        "transfer",
        "TaskScheduled",
        "TaskExecuted",
        "TaskCompleted",
        "TaskInactiveDueToInsufficientBonds",
        "OraclePriceUpdated",
        "ValidatorJailed",
        "validator update 0",
        "tx oracle/3",  # an unjail before the jail period ends
        "ValidatorUnjailed",
        "validator update 9",  # back with its slashed power
        "TaskMigrated",
    ):
        assert kind in happened, kind
