"""The tasks module, block by block on a real store: scheduling, execution, recurrence, bonds, cancels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from taskmaster.tasks.v1 import query_pb2 as q
from taskmaster.tasks.v1 import tx_pb2

from abci_app.modules.bank import keeper as bank
from abci_app.modules.tasks import keeper
from abci_app.tx.address import from_bech32, to_bech32
from tests.unit.tasks.task_chain import (
    TaskChain,
    definition,
    delete,
    put,
    schedule_msg,
    start,
    task_hash_of,
)

SMALL_COST = 100_000  # small tier cap x gas price 1


@pytest.fixture
def tc(tmp_path: Path) -> TaskChain:
    return start(str(tmp_path / "db"))


def _schedule(tc: TaskChain, name: str, call: tuple[str, bytes], start_at: int, **kw: object) -> str:
    owner = tc.addr(name)
    result = tc.run(name, schedule_msg(definition(owner, call, tc.nonce(name), start_at, **kw)))  # type: ignore[arg-type]
    assert result.code == 0, result.log
    return task_hash_of(result)


def test_task_executes_at_start_block_and_pays_executor_and_fee_pool(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    h = _schedule(tc, "user0", put(owner, b"k", b"v"), 4)
    assert tc.info(h).metrics.bond_remaining == str(SMALL_COST)
    tc.advance_to(3)
    assert tc.kv("user0", b"k") is None
    operator = tc.addr("operator")
    before = tc.chain.balance(operator)
    tc.block()
    assert tc.kv("user0", b"k") == b"v"
    info = tc.info(h)
    assert info.status == keeper.COMPLETED and info.metrics.success_count == 1
    assert info.metrics.last_executed_block == 4 and info.metrics.bond_remaining == "0"
    assert tc.chain.balance(operator) == before + SMALL_COST * 9 // 10
    assert tc.chain.balance(to_bech32(keeper.FEE_POOL)) == SMALL_COST // 10
    executed = tc.events(4, "TaskExecuted")
    assert executed == [
        {
            "task_id": h,
            "executor": operator,
            "success": "true",
            "return_data": "",
            "error": "",
            "gas_used": executed[0]["gas_used"],
        }
    ]
    assert tc.events(4, "TasksExecuted")[0]["executed"] == "1"


def test_recurring_task_runs_at_exact_heights_without_drift(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    h = _schedule(tc, "user0", put(owner, b"k", b"v"), 3, interval=3, executions=4)
    ran = []
    for _ in range(14):
        tc.block()
        if tc.events(tc.height, "TaskExecuted"):
            ran.append(tc.height)
    assert ran == [3, 6, 9, 12]
    info = tc.info(h)
    assert info.status == keeper.COMPLETED and info.metrics.success_count == 4


def test_late_execution_keeps_the_schedule_anchor(tmp_path: Path) -> None:
    params = {"minInterval": "2", "maxBlockTaskGas": "750000", "blockTaskGasReserve": "0"}
    tc = start(str(tmp_path / "db"), {"params": params})
    owner = tc.addr("user0")
    msgs = [
        schedule_msg(definition(owner, put(owner, b"k%d" % i, b"v"), i, 3, interval=4, executions=2))
        for i in range(8)
    ]
    tc.block([tc.tx("user0", msgs)])
    tc.advance_to(4)  # 7 small tasks fit block 3's budget; the 8th runs one block late
    late = [h for h in (e["task_id"] for e in tc.events(4, "TaskExecuted"))]
    assert len(late) == 1
    info = tc.info(late[0])
    assert info.metrics.last_lateness == 1 and info.next_block == 7  # 3 + 4, not 4 + 4


def test_failing_task_leaves_no_writes_and_records_failure(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    # a put of an oversized value fails inside the target handler after nothing was written (the
    # medium tier: a small cap cannot pay for 5,000 bytes of task data)
    h = _schedule(tc, "user0", put(owner, b"k", b"x" * 5000), 3, gas=250_000)
    tc.advance_to(3)
    assert tc.kv("user0", b"k") is None
    info = tc.info(h)
    assert info.metrics.failure_count == 1 and "invalid value" in info.metrics.last_error
    assert tc.events(3, "TaskExecuted")[0]["success"] == "false"
    assert tc.events(3, "TasksExecuted")[0]["failed"] == "1"


def test_out_of_gas_task_discards_its_branch(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    h = _schedule(tc, "user0", put(owner, b"k", b"x" * 500), 3, gas=1000)  # the 100k small cap covers it
    tc.advance_to(3)
    assert tc.info(h).metrics.success_count == 1
    # the task's ~4,200 bytes at 36 gas/byte, then 4096 bytes written at 30 gas/byte > 250k: out of gas
    h2 = _schedule(tc, "user0", put(owner, b"big", b"x" * 4096), tc.height + 2, gas=250_000)
    tc.advance_to(tc.height + 2)
    info = tc.info(h2)
    assert info.metrics.failure_count == 1 and "out of gas" in info.metrics.last_error
    assert tc.kv("user0", b"big") is None


def test_python_exception_in_target_is_a_task_failure(tc: TaskChain, monkeypatch: pytest.MonkeyPatch) -> None:
    from abci_app.modules.kv import keeper as kv

    owner = tc.addr("user0")
    h = _schedule(tc, "user0", put(owner, b"k", b"v"), 3)

    def boom(*args: object) -> None:
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(kv, "put", boom)
    tc.advance_to(3)
    info = tc.info(h)
    assert info.metrics.failure_count == 1 and info.metrics.last_error == "internal: ZeroDivisionError"


def test_rescheduling_environment_retries_three_times_five_blocks_apart(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    h = _schedule(tc, "user0", delete(owner, b"missing"), 3, environment="rescheduling")
    tc.run("user0", tx_pb2.MsgBondTask(sender=owner, task_hash=h, amount=str(3 * SMALL_COST)))
    ran = []
    for _ in range(25):
        tc.block()
        if tc.events(tc.height, "TaskExecuted"):
            ran.append(tc.height)
    assert ran == [3, 8, 13, 18]
    info = tc.info(h)
    assert info.metrics.failure_count == 4 and info.status == keeper.COMPLETED


def test_rescheduling_environment_goes_inactive_without_bond_for_retries(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    h = _schedule(tc, "user0", delete(owner, b"missing"), 3, environment="rescheduling")
    tc.advance_to(3)
    info = tc.info(h)
    assert info.status == keeper.INACTIVE
    assert tc.events(3, "TaskInactiveDueToInsufficientBonds")[0]["task_id"] == h


def test_environment_canceller_cancels_and_refunds_owner(tc: TaskChain) -> None:
    owner, canceller = tc.addr("user0"), tc.addr("user1")
    h = _schedule(tc, "user0", put(owner, b"k", b"v"), 20, environment="minimal")
    assert (
        tc.run(
            "user0",
            tx_pb2.MsgAddEnvironmentCanceller(sender=owner, environment="minimal", canceller=canceller),
        ).code
        == 0
    )
    balance = tc.chain.balance(owner)
    result = tc.run("user1", tx_pb2.MsgCancelTask(sender=canceller, task_hash=h))
    assert result.code == 0, result.log
    assert tc.info(h).status == keeper.CANCELLED
    assert tc.chain.balance(owner) == balance + SMALL_COST
    tc.advance_to(21)
    assert tc.kv("user0", b"k") is None


def test_unauthorized_cancel_is_rejected_with_its_code(tc: TaskChain) -> None:
    owner, other = tc.addr("user0"), tc.addr("user1")
    h = _schedule(tc, "user0", put(owner, b"k", b"v"), 20)
    result = tc.run("user1", tx_pb2.MsgCancelTask(sender=other, task_hash=h))
    assert (result.codespace, result.code) == ("tasks", 12)
    assert other in result.log and h in result.log
    # an environment canceller for another environment does not help; a task canceller does
    tc.run("user0", tx_pb2.MsgAddEnvironmentCanceller(sender=owner, environment="minimal", canceller=other))
    assert tc.run("user1", tx_pb2.MsgCancelTask(sender=other, task_hash=h)).code == 12
    tc.run("user0", tx_pb2.MsgAddTaskCanceller(sender=owner, task_hash=h, canceller=other))
    assert tc.run("user1", tx_pb2.MsgCancelTask(sender=other, task_hash=h)).code == 0


def test_bond_runs_out_task_goes_inactive_then_top_up_and_update_resume(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    h = _schedule(tc, "user0", delete(owner, b"missing"), 3, environment="rescheduling")
    tc.advance_to(4)
    assert tc.info(h).status == keeper.INACTIVE
    assert tc.run("user0", tx_pb2.MsgBondTask(sender=owner, task_hash=h, amount=str(SMALL_COST))).code == 0
    info = tc.info(h)
    d = info.definition
    d.schedule.start_block = tc.height + 2
    d.schedule.active = True
    d.task.data = d.task.data  # unchanged task
    result = tc.run("user0", tx_pb2.MsgUpdateTaskSchedule(sender=owner, task_hash=h, definition=d))
    assert result.code == 0, result.log
    assert tc.info(h).status == keeper.ACTIVE
    tc.advance_to(d.schedule.start_block)
    assert tc.info(h).metrics.failure_count == 2


def test_update_that_changes_task_fields_is_rejected(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    h = _schedule(tc, "user0", put(owner, b"k", b"v"), 20)
    d = tc.info(h).definition
    d.task.gas = 200_000
    result = tc.run("user0", tx_pb2.MsgUpdateTaskSchedule(sender=owner, task_hash=h, definition=d))
    assert (result.codespace, result.code) == ("tasks", 11) and "gas" in result.log


def test_execute_and_schedule_runs_first_execution_in_the_tx(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"v"), 0, 6, interval=2, executions=3)
    result = tc.run("user0", tx_pb2.MsgExecuteAndSchedule(sender=owner, definition=d))
    assert result.code == 0, result.log
    h = task_hash_of(result)
    assert tc.kv("user0", b"k") == b"v"
    info = tc.info(h)
    assert info.metrics.success_count == 1 and info.next_block == 6 and info.executions_left == 2
    tc.advance_to(8)
    assert tc.info(h).status == keeper.COMPLETED


def test_reschedule_task_from_running_task_and_rejected_in_a_tx(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    msg = tx_pb2.MsgRescheduleTask(owner=owner, target_block=7, max_payment=str(SMALL_COST))
    call = ("/taskmaster.tasks.v1.MsgRescheduleTask", msg.SerializeToString())
    h = _schedule(tc, "user0", call, 4)
    tc.run("user0", tx_pb2.MsgBondTask(sender=owner, task_hash=h, amount=str(SMALL_COST)))
    tc.advance_to(4)
    assert tc.info(h).next_block == 7
    tc.advance_to(7)  # at 7 the reschedule target is in the past: the execution fails, which ends the task
    info = tc.info(h)
    assert info.metrics.success_count == 1 and info.metrics.failure_count == 1
    result = tc.run("user0", msg)
    assert (result.codespace, result.code) == ("tasks", 19)


def test_block_order_and_budget(tmp_path: Path) -> None:
    params = {"minInterval": "2", "maxBlockTaskGas": "1100000", "blockTaskGasReserve": "0"}
    tc = start(str(tmp_path / "db"), {"params": params})
    owner = tc.addr("user0")
    msgs = []
    for i, gas in enumerate([50_000, 700_000, 200_000, 60_000, 90_000]):
        d = definition(owner, put(owner, b"k%d" % i, b"v"), i, 3, gas=gas)
        msgs.append(schedule_msg(d))
    assert [r.code for r in tc.block([tc.tx("user0", msgs)]).tx_results] == [0]
    tc.advance_to(3)
    order = [e["task_id"] for e in tc.events(3, "TaskExecuted")]
    gases = [tc.info(h).definition.task.gas for h in order]
    # large (750k cap) + medium (250k) + one small (100k) = 1.1M; the other smalls wait for block 4
    assert gases[:2] == [700_000, 200_000] and len(order) == 3
    tc.block()
    later = [e["task_id"] for e in tc.events(4, "TaskExecuted")]
    assert len(later) == 2
    smalls = sorted([order[2], *later])
    assert [order[2], *later] == smalls  # smalls by hash across the two blocks
    assert int(tc.info(later[0]).metrics.last_lateness) == 1


def test_execute_task_and_execute_queued_pay_the_signer(tmp_path: Path) -> None:
    params = {"minInterval": "2", "maxBlockTaskGas": "750000", "blockTaskGasReserve": "0"}
    tc = start(str(tmp_path / "db"), {"params": params})
    owner, executor = tc.addr("user0"), tc.addr("user1")
    msgs = [schedule_msg(definition(owner, put(owner, b"k%d" % i, b"v"), i, 4)) for i in range(9)]
    tc.block([tc.tx("user0", msgs)])
    hashes = [h.hex() for h in keeper.owner_tasks(tc.ctx(), from_bech32(owner))]
    tc.advance_to(4)  # 7 of 9 ran (budget), 2 remain due
    remaining = [h for h in hashes if tc.info(h).status == keeper.ACTIVE]
    assert len(remaining) == 2
    before = tc.chain.balance(executor)
    result = tc.run("user1", tx_pb2.MsgExecuteTask(executor=executor, task_hash=remaining[0]))
    assert result.code == 0, result.log
    assert tc.chain.balance(executor) == before - 5000 + SMALL_COST * 9 // 10
    result = tc.run(
        "user1", tx_pb2.MsgExecuteQueuedTasks(executor=executor, target_gas_reserve=100_000), gas=600_000
    )
    assert result.code == 0, result.log
    assert all(tc.info(h).status == keeper.COMPLETED for h in hashes)
    not_due = _schedule(tc, "user0", put(owner, b"z", b"v"), tc.height + 5)
    result = tc.run("user1", tx_pb2.MsgExecuteTask(executor=executor, task_hash=not_due))
    assert (result.codespace, result.code) == ("tasks", 17)


@pytest.mark.parametrize(
    ("change", "code", "needle"),
    [
        ({"task": {"gas": 0}}, 2, "gas 0"),
        ({"task": {"gas": 750_001}}, 2, "750001"),
        ({"schedule": {"start_block": 1}}, 3, "start_block 1"),
        ({"schedule": {"executions": 3, "interval": 1}}, 4, "interval 1"),
        ({"schedule": {"executions": 0}}, 5, "executions 0"),
        ({"task": {"nonce": 7}}, 6, "nonce 7"),
        ({"task": {"target": "/nope.Msg"}}, 8, "/nope.Msg"),
        ({"task": {"environment": "turbo"}}, 9, "turbo"),
        ({"task": {"data": b"\xff\xff"}}, 10, "2 bytes"),
    ],
)
def test_bad_schedule_input_fails_with_its_code(
    tc: TaskChain, change: dict[str, dict[str, Any]], code: int, needle: str
) -> None:
    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"v"), 0, 10)
    for part, fields in change.items():
        for field_name, value in fields.items():
            setattr(getattr(d, part), field_name, value)
    balance = tc.chain.balance(owner)
    result = tc.run("user0", schedule_msg(d))
    assert (result.codespace, result.code) == ("tasks", code), result.log
    assert needle in result.log
    assert tc.chain.balance(owner) == balance - 5000  # only the fee: no partial state
    assert tc.nonce("user0") == 0


def test_from_not_signer_and_target_for_another_owner_are_rejected(tc: TaskChain) -> None:
    owner, other = tc.addr("user0"), tc.addr("user1")
    d = definition(owner, put(owner, b"k", b"v"), 0, 10)
    msg = tx_pb2.MsgScheduleTask(sender=other, definition=d)
    assert tc.run("user1", msg).code == 7
    d = definition(owner, put(other, b"k", b"v"), 0, 10)
    result = tc.run("user0", schedule_msg(d))
    assert (result.code, other in result.log) == (15, True)


def test_insufficient_balance_for_bond(tmp_path: Path) -> None:
    tc = start(str(tmp_path / "db"))
    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"v"), 0, 10, gas=700_000, interval=2, executions=2_000_000)
    result = tc.run("user0", schedule_msg(d))
    assert (result.code, "bond needs" in result.log) == (14, True)


def test_unknown_task_hash_in_messages_and_queries(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    missing = "ab" * 32
    result = tc.run("user0", tx_pb2.MsgCancelTask(sender=owner, task_hash=missing))
    assert (result.code, missing in result.log) == (13, True)
    code, log = tc.query(
        "GetTaskInfo", q.QueryGetTaskInfoRequest(task_hash=missing), q.QueryGetTaskInfoResponse
    )
    assert code == 1 and missing in log


def test_queries_over_the_due_index(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    a = _schedule(tc, "user0", put(owner, b"a", b"v"), 10, interval=5, executions=2)
    b = _schedule(tc, "user0", put(owner, b"b", b"v"), 12)
    code, resp = tc.query(
        "GetTasksInRange", q.QueryGetTasksInRangeRequest(start=10, end=12), q.QueryGetTasksInRangeResponse
    )
    assert code == 0 and [(t.block, t.task_hash) for t in resp.tasks] == [(10, a), (12, b)]
    _, nxt = tc.query(
        "GetNextExecutionBlockInRange",
        q.QueryGetNextExecutionBlockInRangeRequest(start=11, end=30),
        q.QueryGetNextExecutionBlockInRangeResponse,
    )
    assert nxt.block == 12
    _, none = tc.query(
        "GetNextExecutionBlockInRange",
        q.QueryGetNextExecutionBlockInRangeRequest(start=13, end=30),
        q.QueryGetNextExecutionBlockInRangeResponse,
    )
    assert none.block == 0
    _, nonce = tc.query(
        "GetAccountNonce", q.QueryGetAccountNonceRequest(account=owner), q.QueryGetAccountNonceResponse
    )
    assert nonce.nonce == 2
    _, bond = tc.query(
        "EstimateRequiredBond",
        q.QueryEstimateRequiredBondRequest(definition=tc.info(a).definition, gas_price="3"),
        q.QueryEstimateRequiredBondResponse,
    )
    assert bond.bond == str(2 * 100_000 * 3)
    _, cost = tc.query(
        "EstimateCost",
        q.QueryEstimateCostRequest(target_block=50, gas_limit=200_000),
        q.QueryEstimateCostResponse,
    )
    assert (cost.cost, cost.tier) == ("250000", "medium")
    _, withb = tc.query(
        "GetAccountTasksWithBlocks",
        q.QueryGetAccountTasksWithBlocksRequest(account=owner),
        q.QueryGetAccountTasksWithBlocksResponse,
    )
    assert dict(zip(withb.task_hashes, withb.blocks, strict=True)) == {a: 10, b: 12}
    tc.run("user0", tx_pb2.MsgCancelTask(sender=owner, task_hash=b))
    _, blocks = tc.query(
        "GetNextBlocksForTasks",
        q.QueryGetNextBlocksForTasksRequest(task_hashes=[a, b]),
        q.QueryGetNextBlocksForTasksResponse,
    )
    assert list(blocks.blocks) == [10, 0]


def test_task_hash_is_sha256_of_the_documented_encoding(tc: TaskChain) -> None:
    import hashlib

    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"v"), 3, 10)
    t = d.task
    raw = (
        b"taskmaster.tasks.v1.Task\x00"
        + from_bech32(owner)
        + t.gas.to_bytes(8, "big")
        + len(t.target).to_bytes(2, "big")
        + t.target.encode()
        + len(t.data).to_bytes(4, "big")
        + t.data
        + (3).to_bytes(8, "big")
        + b"\x05basic"
    )
    assert keeper.task_hash(t) == hashlib.sha256(raw).digest()


def test_module_account_holds_bonds(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    _schedule(tc, "user0", put(owner, b"k", b"v"), 10, interval=2, executions=3)
    assert bank.balance(tc.ctx(), keeper.MODULE_ACCOUNT, "utask") == 3 * SMALL_COST


def test_genesis_export_imports_into_an_identical_tasks_store(tc: TaskChain, tmp_path: Path) -> None:
    from abci_app.modules.tasks import genesis
    from abci_app.modules.tasks.keys import STORE

    owner, other = tc.addr("user0"), tc.addr("user1")
    recurring = _schedule(tc, "user0", put(owner, b"r", b"1"), 5, interval=3, executions=4)
    guarded = _schedule(tc, "user0", put(owner, b"g", b"1"), 40, environment="minimal")
    cancelled = _schedule(tc, "user1", put(other, b"c", b"1"), 50)
    add = tx_pb2.MsgAddTaskCanceller(sender=owner, task_hash=guarded, canceller=other)
    assert tc.run("user0", add).code == 0
    assert (
        tc.run(
            "user0", tx_pb2.MsgAddEnvironmentCanceller(sender=owner, environment="minimal", canceller=other)
        ).code
        == 0
    )
    assert tc.run("user1", tx_pb2.MsgCancelTask(sender=other, task_hash=cancelled)).code == 0
    tc.advance_to(9)  # the recurring task has run twice
    assert tc.info(recurring).metrics.success_count == 2
    exported = genesis.export_genesis(tc.ctx())

    bonds = tc.chain.balance(to_bech32(keeper.MODULE_ACCOUNT))
    assert bonds > 0
    with pytest.raises(ValueError, match="tasks invariant: sum of task bonds"):
        start(str(tmp_path / "unbacked"), tasks_genesis=exported)

    def fund_module(state: dict[str, Any]) -> None:
        coins = [{"denom": "utask", "amount": str(bonds)}]
        state["bank"]["balances"].append({"address": to_bech32(keeper.MODULE_ACCOUNT), "coins": coins})

    imported = start(str(tmp_path / "imported"), tasks_genesis=exported, edit=fund_module)
    imported.block()  # genesis is committed with the first block (nothing is due at height 1)
    assert list(imported.ctx().store(STORE).iterate()) == list(tc.ctx().store(STORE).iterate())
    for h in (recurring, guarded, cancelled):
        assert imported.info(h) == tc.info(h)
    request = q.QueryGetTasksInRangeRequest(start=0, end=100)
    assert imported.query("GetTasksInRange", request, q.QueryGetTasksInRangeResponse) == tc.query(
        "GetTasksInRange", request, q.QueryGetTasksInRangeResponse
    )
    assert imported.nonce("user0") == tc.nonce("user0") == 2
