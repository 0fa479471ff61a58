"""Triggered task records in a genesis: refused at InitChain when the end-block could not handle them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf import json_format
from taskmaster.tasks.v1 import types_pb2

from tests.app.driver import address_of, seeded_key
from tests.app.oracle_driver import OracleChain
from tests.app.wasm_driver import BTC, E18
from tests.unit.tasks.task_chain import TEST_PARAMS

OWNER = address_of(seeded_key("operator-0"))


def waiting_record(**trigger: object) -> types_pb2.TaskInfo:
    """An active BELOW trigger at $59,000 waiting for its crossing, with no bond."""
    fields: dict[str, object] = {
        "pair": BTC,
        "direction": types_pb2.TRIGGER_DIRECTION_BELOW,
        "threshold": str(59_000 * E18),
        **trigger,
    }
    return types_pb2.TaskInfo(
        definition=types_pb2.TaskDefinition(
            task=types_pb2.Task(from_address=OWNER, gas=100_000, nonce=0, environment="basic"),
            schedule=types_pb2.TaskSchedule(start_block=2, executions=1, active=True),
            trigger=types_pb2.PriceTrigger(**fields),  # type: ignore[arg-type]
        ),
        status=types_pb2.TASK_STATUS_ACTIVE,
        executions_left=1,
        gas_price="1",
        metrics=types_pb2.TaskMetrics(bond_remaining="0", fees_paid="0"),
    )


def start_with(tmp_path: Path, record: types_pb2.TaskInfo) -> OracleChain:
    tasks_state = {
        "params": TEST_PARAMS,
        "tasks": [json_format.MessageToDict(record)],
        "nonces": [{"account": OWNER, "nonce": "1"}],
    }
    return OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10], extra_state={"tasks": tasks_state})


def _gas(info: types_pb2.TaskInfo) -> None:
    info.definition.task.gas = 0


def _inactive_gas(info: types_pb2.TaskInfo) -> None:
    info.definition.task.gas = 0
    info.status = types_pb2.TASK_STATUS_INACTIVE


def _direction(info: types_pb2.TaskInfo) -> None:
    info.definition.trigger.direction = types_pb2.TRIGGER_DIRECTION_UNSPECIFIED


def _pair(info: types_pb2.TaskInfo) -> None:
    info.definition.trigger.pair = "x" * 300


def _threshold(info: types_pb2.TaskInfo) -> None:
    info.definition.trigger.threshold = str(2**256)  # 78 digits: passes the digit count, not to_bytes(32)


def _expiry(info: types_pb2.TaskInfo) -> None:
    info.definition.trigger.expiry_block = 1  # before start_block 2


def _cooldown(info: types_pb2.TaskInfo) -> None:
    info.definition.trigger.cooldown_blocks = 2**62


def _start(info: types_pb2.TaskInfo) -> None:
    info.definition.schedule.start_block = 2**63


def _allowance(info: types_pb2.TaskInfo) -> None:
    info.allowance_remaining = "-1"


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(_gas, r"tasks\[0\]\.definition\.task\.gas 0 must be between 1 and 750000", id="gas"),
        pytest.param(
            _inactive_gas,
            r"tasks\[0\]\.definition\.task\.gas 0 must be between 1 and 750000",
            id="inactive_gas",
        ),
        pytest.param(_direction, r"tasks\[0\]\.definition\.trigger direction must be", id="direction"),
        pytest.param(_pair, r"tasks\[0\]\.definition\.trigger pair '?x+.*is not an oracle pair", id="pair"),
        pytest.param(
            _threshold,
            r"tasks\[0\]\.definition\.trigger\.threshold \d+ must be between 0 and",
            id="threshold",
        ),
        pytest.param(
            _expiry,
            r"tasks\[0\]\.definition\.trigger\.expiry_block 1 must be 0 \(never\) or from start_block",
            id="expiry",
        ),
        pytest.param(
            _cooldown,
            r"tasks\[0\]\.definition\.trigger\.cooldown_blocks \d+ must be below 2\^62",
            id="cooldown",
        ),
        pytest.param(
            _start, r"tasks\[0\]\.definition\.schedule\.start_block \d+ must be below 2\^63", id="start"
        ),
        pytest.param(_allowance, r"tasks\[0\]\.allowance_remaining", id="allowance"),
    ],
)
def test_an_open_triggered_record_the_end_block_could_not_handle_is_refused_naming_its_field(
    tmp_path: Path, spoil: Callable[[types_pb2.TaskInfo], None], message: str
) -> None:
    record = waiting_record()
    spoil(record)
    with pytest.raises(ValueError, match=message):
        start_with(tmp_path, record)


def test_a_valid_waiting_triggered_record_is_accepted(tmp_path: Path) -> None:
    chain = start_with(tmp_path, waiting_record(expiry_block=3, cooldown_blocks=5))
    chain.app.close()
