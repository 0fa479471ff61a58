"""``tx tasks update`` changes only the schedule fields it is given (issue 20, finding 5).

``MsgUpdateTaskSchedule`` replaces the whole schedule and counts ``executions`` from ``start_block``
on; the CLI builds it from the stored task with only the named flags changed. Each test builds the
message with the CLI's own function from the chain's TaskInfo and runs it through the message handler
on an in-process chain. The old CLI moved the start to the current height + 3 on any flag: a task due
at a far block then ran at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from taskmaster.tasks.v1 import tx_pb2, types_pb2

from abci_app.cli_support import CliError
from abci_app.modules.tasks import keeper
from abci_app.modules.tasks.cli import _updated_definition
from tests.unit.tasks.task_chain import TaskChain, definition, put, schedule_msg, start, task_hash_of

SMALL_COST = 100_000  # small tier cap x gas price 1


@pytest.fixture
def tc(tmp_path: Path) -> TaskChain:
    return start(str(tmp_path / "db"))


def flags(**given: object) -> argparse.Namespace:
    named: dict[str, object] = {
        "start": None,
        "start_in": None,
        "interval": None,
        "executions": None,
        "deadline": None,
        "active": None,
        "node": "",
    }
    return argparse.Namespace(**{**named, **given})


def schedule(tc: TaskChain, start_at: int, interval: int = 0, executions: int = 1) -> str:
    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"v"), tc.nonce("user0"), start_at, interval=interval,
                   executions=executions)  # fmt: skip
    result = tc.run("user0", schedule_msg(d))
    assert result.code == 0, result.log
    return task_hash_of(result)


def update(tc: TaskChain, hash_: str, **given: object) -> None:
    """What ``taskmaster tx tasks update user0 HASH <flags>`` sends, run in the next block."""
    d = _updated_definition(flags(**given), tc.info(hash_), lambda: tc.height)
    msg = tx_pb2.MsgUpdateTaskSchedule(sender=tc.addr("user0"), task_hash=hash_, definition=d)
    result = tc.run("user0", msg)
    assert result.code == 0, result.log


def executions_until(tc: TaskChain, height: int) -> list[int]:
    ran = []
    while tc.height < height:
        tc.block()
        if tc.events(tc.height, "TaskExecuted"):
            ran.append(tc.height)
    return ran


def test_updating_executions_and_interval_of_a_far_task_keeps_its_start(tc: TaskChain) -> None:
    h = schedule(tc, 60)
    update(tc, h, executions=3, interval=5)
    info = tc.info(h)
    assert info.next_block == 60 and info.executions_left == 3 and info.definition.schedule.interval == 5
    assert info.metrics.bond_remaining == str(3 * SMALL_COST)
    assert executions_until(tc, 70) == [60, 65, 70]


def test_updating_the_interval_of_a_running_task_keeps_its_next_block_and_executions_left(
    tc: TaskChain,
) -> None:
    h = schedule(tc, 4, interval=4, executions=5)
    assert executions_until(tc, 5) == [4]
    update(tc, h, interval=6)
    info = tc.info(h)
    assert info.next_block == 8 and info.executions_left == 4 and info.status == keeper.ACTIVE
    assert executions_until(tc, 26) == [8, 14, 20, 26]
    assert tc.info(h).status == keeper.COMPLETED


def test_updating_executions_of_a_running_task_counts_them_from_its_next_block(tc: TaskChain) -> None:
    h = schedule(tc, 4, interval=3, executions=5)
    assert executions_until(tc, 5) == [4]
    update(tc, h, executions=2)
    assert tc.info(h).next_block == 7 and tc.info(h).executions_left == 2
    assert executions_until(tc, 16) == [7, 10]


def test_naming_the_start_moves_the_next_execution(tc: TaskChain) -> None:
    h = schedule(tc, 60, interval=5, executions=2)
    update(tc, h, start="20")
    info = tc.info(h)
    assert info.next_block == 20 and info.executions_left == 2 and info.definition.schedule.interval == 5


def test_a_pause_and_a_resume_keep_the_task_where_it_was(tc: TaskChain) -> None:
    h = schedule(tc, 40, interval=5, executions=2)
    update(tc, h, active="false")
    assert tc.info(h).status == keeper.INACTIVE and tc.info(h).next_block == 0
    update(tc, h, active="true")
    info = tc.info(h)
    assert info.status == keeper.ACTIVE and info.next_block == 40 and info.executions_left == 2


def test_a_resume_after_the_start_passed_starts_three_blocks_from_now(tc: TaskChain) -> None:
    h = schedule(tc, 6)
    update(tc, h, active="false")
    tc.advance_to(10)
    update(tc, h, active="true")
    assert tc.info(h).next_block == 13  # read at height 10, sent in block 11


def test_a_task_due_before_the_update_can_land_must_be_moved_by_name(tc: TaskChain) -> None:
    h = schedule(tc, 3)  # scheduled in block 1, due in block 3: the update lands in 3 at the earliest
    info = tc.info(h)
    with pytest.raises(CliError, match="give --start or --start-in"):
        _updated_definition(flags(interval=5), info, lambda: 2)


def test_an_update_that_names_nothing_is_refused_before_it_costs_a_fee(tc: TaskChain) -> None:
    h = schedule(tc, 60)
    with pytest.raises(CliError, match="nothing to change"):
        _updated_definition(flags(), tc.info(h), lambda: tc.height)
    with pytest.raises(CliError, match="nothing to change"):
        _updated_definition(flags(active="true"), tc.info(h), lambda: tc.height)


def test_the_message_keeps_the_task_fields_so_the_handler_accepts_it(tc: TaskChain) -> None:
    h = schedule(tc, 60)
    d = _updated_definition(flags(deadline=99), tc.info(h), lambda: tc.height)
    assert d.task == tc.info(h).definition.task
    assert d.schedule == types_pb2.TaskSchedule(start_block=60, executions=1, active=True, deadline=99)


def test_a_schedule_change_of_an_inactive_task_must_say_whether_it_resumes(tc: TaskChain) -> None:
    h = schedule(tc, 40, interval=5, executions=2)
    update(tc, h, active="false")
    with pytest.raises(CliError, match="add --active true to resume"):
        _updated_definition(flags(start_in=5), tc.info(h), lambda: tc.height)
    update(tc, h, start="30", active="false")
    assert tc.info(h).status == keeper.INACTIVE and tc.info(h).definition.schedule.start_block == 30
