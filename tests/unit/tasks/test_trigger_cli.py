"""``--trigger PAIR,above|below,PRICE`` builds the PriceTrigger in integers (18 decimals, no float)."""

from __future__ import annotations

import argparse

import pytest
from taskmaster.tasks.v1 import types_pb2

from abci_app.cli_support import CliError
from abci_app.modules.tasks.cli import _trigger, _updated_definition


def args(text: str | None, cooldown: int = 0, expiry: int = 0) -> argparse.Namespace:
    return argparse.Namespace(trigger=text, cooldown=cooldown, expiry=expiry)


def test_a_trigger_flag_becomes_a_price_trigger_with_18_decimals() -> None:
    trigger = _trigger(args("bitcoin/usd,below,59000.5", cooldown=10, expiry=900))
    assert trigger == types_pb2.PriceTrigger(
        pair="bitcoin/usd",
        direction=types_pb2.TRIGGER_DIRECTION_BELOW,
        threshold=str(59_000_500_000_000_000_000_000),
        cooldown_blocks=10,
        expiry_block=900,
    )
    above = _trigger(args("ethereum/usd,above,3000"))
    assert above is not None and above.threshold == str(3000 * 10**18)


def test_no_trigger_flag_is_no_trigger() -> None:
    assert _trigger(args(None)) is None


@pytest.mark.parametrize(
    "text", ["bitcoin/usd,down,1", "bitcoin/usd,below", "x,above,1e5", "x,above,1.0000000000000000001"]
)
def test_a_malformed_trigger_flag_says_how_to_write_it(text: str) -> None:
    with pytest.raises(CliError, match=r"bitcoin/usd,below,59000\.5"):
        _trigger(args(text))


def update_args(**flags: object) -> argparse.Namespace:
    given: dict[str, object] = {
        "start": None,
        "start_in": None,
        "interval": None,
        "executions": None,
        "deadline": None,
        "active": None,
    }
    return argparse.Namespace(**{**given, **flags})


def stored(trigger: bool) -> types_pb2.TaskInfo:
    d = types_pb2.TaskDefinition(
        schedule=types_pb2.TaskSchedule(start_block=40, executions=3, interval=5, active=False)
    )
    parsed = _trigger(args("bitcoin/usd,below,59000"))
    if trigger and parsed is not None:
        d.trigger.CopyFrom(parsed)
    return types_pb2.TaskInfo(definition=d, status=types_pb2.TASK_STATUS_INACTIVE, executions_left=2)


def height() -> int:
    return 30


def test_update_of_a_triggered_task_without_schedule_flags_resumes_it_with_its_schedule() -> None:
    expected = stored(trigger=True).definition
    expected.schedule.active = True
    assert _updated_definition(update_args(), stored(trigger=True), height) == expected


def test_a_triggered_task_takes_no_schedule_change_and_no_pause() -> None:
    for flags in ({"start": "90"}, {"executions": 2}, {"active": "false"}):
        with pytest.raises(CliError, match="cancel it and schedule it again"):
            _updated_definition(update_args(**flags), stored(trigger=True), height)


def test_update_flags_replace_only_the_named_schedule_fields() -> None:
    d = _updated_definition(
        update_args(start="90", executions=2, active="false"), stored(trigger=False), height
    )
    assert d.schedule == types_pb2.TaskSchedule(start_block=90, executions=2, interval=5, active=False)
    resumed = _updated_definition(update_args(active="true"), stored(trigger=False), height)
    assert resumed.schedule == types_pb2.TaskSchedule(start_block=40, executions=2, interval=5, active=True)
