"""Price triggers block by block: crossings, cooldown, expiry, arming, the block's budget, refusals,
and which index holds a trigger in each state (only the ones that can fire are read at a crossing)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import tx_pb2, types_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.context import Context
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.tasks import genesis as tasks_genesis
from abci_app.modules.tasks import invariants, triggers
from abci_app.modules.tasks import keeper as tasks
from abci_app.modules.tasks.keys import EXPIRY_PREFIX, STORE, TRIGGER_PREFIX, WAITING_PREFIX
from abci_app.node.export import export_app_state
from tests.app.driver import address_of, seeded_key
from tests.app.oracle_driver import CHAIN_ID, OracleChain
from tests.app.wasm_driver import BTC, E18, WasmChain, prices
from tests.unit.tasks.task_chain import TEST_PARAMS
from tests.unit.wasm.wasm_sandbox import example

BELOW = types_pb2.TRIGGER_DIRECTION_BELOW
ABOVE = types_pb2.TRIGGER_DIRECTION_ABOVE


@pytest.fixture
def wc(tmp_path: Path) -> Iterator[WasmChain]:
    chain = WasmChain.start(str(tmp_path / "db"))
    chain.block()
    chain.block()
    yield chain
    chain.chain.app.close()


def triggered(
    wc: WasmChain,
    code_id: str,
    direction: int,
    dollars: int,
    *,
    executions: int = 1,
    cooldown: int = 0,
    expiry: int = 0,
    start_in: int = 2,
    signer: int = 0,
    nonce: int | None = None,
) -> types_pb2.TaskDefinition:
    d = wc.wasm_task(signer, code_id, wc.height + start_in, executions=executions, nonce=nonce)
    d.trigger.CopyFrom(
        types_pb2.PriceTrigger(
            pair=BTC,
            direction=direction,  # type: ignore[arg-type]
            threshold=str(dollars * E18),
            cooldown_blocks=cooldown,
            expiry_block=expiry,
        )
    )
    return d


def price_now(wc: WasmChain) -> int:
    record = oracle.latest_price(wc.ctx(), BTC)
    assert record is not None
    return int(record.price) // E18


def until_price(wc: WasmChain, dollars: int, limit: int = 6) -> int:
    """Report ``dollars`` and run blocks until a round has written it; returns that height."""
    wc.report = prices(dollars)
    for _ in range(limit):
        wc.block()
        if price_now(wc) == dollars:
            return wc.height
    raise AssertionError(f"price {dollars} never written")


def executed(wc: WasmChain, height: int, task_hash: str) -> list[dict[str, str]]:
    return [e for e in wc.events(height, "TaskExecuted") if e["task_id"] == task_hash]


def test_a_below_trigger_runs_in_the_block_whose_round_crossed_it_and_only_on_crossings(
    wc: WasmChain,
) -> None:
    counter = wc.store_code(0, example("counter"))
    h = wc.schedule(0, triggered(wc, counter, BELOW, 59_000, executions=2))
    assert wc.info(h).next_block == 0
    for _ in range(3):
        wc.block()
        assert executed(wc, wc.height, h) == []  # 60,000 is not below
    crossing = until_price(wc, 58_000)
    assert wc.events(crossing, "TaskTriggered") == [
        {
            "task_id": h,
            "pair": BTC,
            "price": str(58_000 * E18),
            "threshold": str(59_000 * E18),
            "direction": "TRIGGER_DIRECTION_BELOW",
        }
    ]
    assert executed(wc, crossing, h)[0]["success"] == "true"
    for _ in range(3):  # still below: no new crossing
        wc.block()
        assert executed(wc, wc.height, h) == []
    until_price(wc, 60_000)
    again = until_price(wc, 57_000)
    assert executed(wc, again, h)[0]["return_data"] == (2).to_bytes(8, "little").hex()
    assert wc.info(h).status == tasks.COMPLETED


def test_an_above_trigger_fires_when_the_price_rises_past_it(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    h = wc.schedule(0, triggered(wc, counter, ABOVE, 61_000))
    until_price(wc, 60_900)
    assert wc.info(h).metrics.success_count == 0
    crossing = until_price(wc, 61_001)
    assert executed(wc, crossing, h) and wc.info(h).status == tasks.COMPLETED


def test_a_crossing_within_the_cooldown_is_skipped(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    h = wc.schedule(0, triggered(wc, counter, BELOW, 59_000, executions=3, cooldown=50))
    first = until_price(wc, 58_000)
    assert executed(wc, first, h)
    until_price(wc, 60_000)
    second = until_price(wc, 58_000)
    assert executed(wc, second, h) == [] and wc.info(h).metrics.success_count == 1


def test_a_crossing_before_the_start_block_is_ignored(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    h = wc.schedule(0, triggered(wc, counter, BELOW, 59_000, start_in=30))
    crossing = until_price(wc, 58_000)
    assert wc.events(crossing, "TaskTriggered") == [] and wc.info(h).metrics.success_count == 0


def test_an_expired_trigger_completes_its_task_and_refunds_it(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    expiry = wc.height + 4
    h = wc.schedule(0, triggered(wc, counter, BELOW, 10_000, expiry=expiry), allowance="")
    while wc.height <= expiry:
        wc.block()
    assert wc.events(expiry + 1, "TaskTriggerExpired") == [{"task_id": h, "refund": "100000"}]
    info = wc.info(h)
    assert info.status == tasks.COMPLETED and info.metrics.bond_remaining == "0"


def test_triggered_tasks_that_do_not_fit_the_budget_run_first_next_block(tmp_path: Path) -> None:
    wc = WasmChain.start(str(tmp_path / "db"), {"maxBlockTaskGas": "750000"})  # 7 small tasks a block
    wc.block()
    counter = wc.store_code(0, example("counter"))
    nonce = wc.nonce(0)
    definitions = [triggered(wc, counter, BELOW, 59_000, nonce=nonce + i) for i in range(10)]
    msgs = [tx_pb2.MsgScheduleTask(sender=wc.owner(0), definition=d) for d in definitions]
    result = wc.block([wc.tx(0, msgs)]).tx_results[-1]
    assert result.code == 0, result.log
    hashes = sorted(tasks.task_hash(d.task).hex() for d in definitions)
    crossing = until_price(wc, 58_000)
    first = [e["task_id"] for e in wc.events(crossing, "TaskExecuted")]
    assert len(wc.events(crossing, "TaskTriggered")) == 10
    assert first == hashes[:7]  # the due index's order: tier, then task hash
    wc.block()
    assert [e["task_id"] for e in wc.events(wc.height, "TaskExecuted")] == hashes[7:]
    wc.chain.app.close()


def test_cancelling_a_triggered_task_removes_its_trigger(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    h = wc.schedule(0, triggered(wc, counter, BELOW, 59_000, expiry=wc.height + 100))
    assert wc.run(0, [tx_pb2.MsgCancelTask(sender=wc.owner(0), task_hash=h)]).code == 0  # invariants checked
    crossing = until_price(wc, 58_000)
    assert wc.events(crossing, "TaskTriggered") == []


def test_a_waiting_triggered_task_is_not_due_for_msg_execute_task(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    h = wc.schedule(0, triggered(wc, counter, BELOW, 59_000))
    wc.block()
    wc.block()
    result = wc.run(1, [tx_pb2.MsgExecuteTask(executor=wc.owner(1), task_hash=h)])
    assert (result.codespace, result.code) == ("tasks", 17)


def test_invalid_triggers_are_refused(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))

    def code(d: types_pb2.TaskDefinition, msg_type: type = tx_pb2.MsgScheduleTask) -> tuple[str, int]:
        result = wc.run(0, [msg_type(sender=wc.owner(0), definition=d)])
        return result.codespace, result.code

    unknown_pair = triggered(wc, counter, BELOW, 1)
    unknown_pair.trigger.pair = "doge/usd"
    assert code(unknown_pair) == ("tasks", 30)
    no_direction = triggered(wc, counter, BELOW, 1)
    no_direction.trigger.direction = types_pb2.TRIGGER_DIRECTION_UNSPECIFIED
    assert code(no_direction) == ("tasks", 30)
    bad_threshold = triggered(wc, counter, BELOW, 1)
    bad_threshold.trigger.threshold = "1e18"
    assert code(bad_threshold) == ("tasks", 30)
    assert code(triggered(wc, counter, BELOW, 1, expiry=wc.height)) == ("tasks", 30)
    assert code(triggered(wc, counter, BELOW, 1), tx_pb2.MsgExecuteAndSchedule) == ("tasks", 30)
    assert wc.nonce(0) == 0


def test_an_update_of_a_triggered_task_only_resumes_it(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    d = triggered(wc, counter, BELOW, 59_000, cooldown=4)
    h = wc.schedule(0, d)

    def code(definition: types_pb2.TaskDefinition, task_hash: str = h) -> tuple[str, int]:
        update = tx_pb2.MsgUpdateTaskSchedule(sender=wc.owner(0), task_hash=task_hash, definition=definition)
        result = wc.run(0, [update])
        return result.codespace, result.code

    assert code(d) == ("tasks", 30)  # active: nothing to resume
    for change in ("start", "threshold", "cooldown", "pause"):
        changed = types_pb2.TaskDefinition()
        changed.CopyFrom(d)
        if change == "start":
            changed.schedule.start_block += 1
        elif change == "threshold":
            changed.trigger.threshold = str(58_000 * E18)
        elif change == "cooldown":
            changed.trigger.cooldown_blocks = 0
        else:
            changed.schedule.active = False
        assert code(changed) == ("tasks", 30), change
    plain = wc.wasm_task(0, counter, wc.height + 5)
    plain_hash = wc.schedule(0, plain)
    plain.trigger.CopyFrom(d.trigger)
    plain.schedule.start_block = wc.height + 5
    assert code(plain, plain_hash) == ("tasks", 30)  # a trigger cannot be added
    assert wc.info(h).status == tasks.ACTIVE and trigger_entries(wc)[0] == {h}


# -- which index holds a trigger -----------------------------------------------------------------------


def trigger_entries(wc: WasmChain) -> tuple[set[str], dict[int, set[str]]]:
    """(tasks in the trigger index a crossing reads, {arm block: tasks} of the waiting index)."""
    store = wc.ctx().store(STORE)
    index = {key[-32:].hex() for key, _ in store.iterate_prefix(TRIGGER_PREFIX)}
    waiting: dict[int, set[str]] = {}
    for key, _ in store.iterate_prefix(WAITING_PREFIX):
        waiting.setdefault(int.from_bytes(key[1:9], "big"), set()).add(key[-32:].hex())
    return index, waiting


def read_at_crossing(wc: WasmChain, before: int, after: int) -> list[str]:
    """The tasks whose records a move of the BTC price from ``before`` to ``after`` dollars reads."""
    return [h.hex() for h in triggers.crossed(wc.ctx(), BTC, after * E18, before * E18)]


def test_a_trigger_before_its_start_block_waits_outside_the_index_a_crossing_reads(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    start = wc.height + 12
    h = wc.schedule(0, triggered(wc, counter, BELOW, 59_000, start_in=12))
    assert trigger_entries(wc) == (set(), {start: {h}})
    assert read_at_crossing(wc, 60_000, 58_000) == []  # not read, not decoded: it cannot fire yet
    while wc.height < start:
        wc.block()
    assert trigger_entries(wc) == ({h}, {})  # the end-block of its start block moved it
    crossing = until_price(wc, 58_000)
    assert executed(wc, crossing, h)


def test_after_an_execution_a_trigger_waits_out_its_cooldown_outside_the_index(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    h = wc.schedule(0, triggered(wc, counter, BELOW, 59_000, executions=2, cooldown=8))
    first = until_price(wc, 58_000)
    assert executed(wc, first, h)
    assert trigger_entries(wc) == (set(), {first + 8: {h}})
    until_price(wc, 60_000)
    assert read_at_crossing(wc, 60_000, 58_000) == []
    while wc.height < first + 8:
        wc.block()
    assert trigger_entries(wc) == ({h}, {})
    assert executed(wc, until_price(wc, 58_000), h)


def test_a_trigger_without_cooldown_can_fire_again_from_the_next_block(wc: WasmChain) -> None:
    counter = wc.store_code(0, example("counter"))
    h = wc.schedule(0, triggered(wc, counter, BELOW, 59_000, executions=2))
    first = until_price(wc, 58_000)
    assert executed(wc, first, h) and trigger_entries(wc) == ({h}, {})
    until_price(wc, 60_000)
    assert executed(wc, until_price(wc, 58_000), h)


def failing_kv_task(
    wc: WasmChain, signer: int, executions: int, expiry: int = 0, cooldown: int = 0
) -> types_pb2.TaskDefinition:
    """A rescheduling-environment BELOW $59,000 trigger whose target (a kv delete of key ``gone``) fails
    until the key exists; each of its runs and retries costs one execution."""
    owner = wc.owner(signer)
    return types_pb2.TaskDefinition(
        task=types_pb2.Task(
            from_address=owner,
            gas=100_000,
            target="/taskmaster.kv.v1.MsgDelete",
            data=kv_pb2.MsgDelete(owner=owner, key=b"gone").SerializeToString(deterministic=True),
            nonce=wc.nonce(signer),
            environment="rescheduling",
        ),
        schedule=types_pb2.TaskSchedule(start_block=wc.height + 2, executions=executions, active=True),
        trigger=types_pb2.PriceTrigger(
            pair=BTC,
            direction=BELOW,
            threshold=str(59_000 * E18),
            expiry_block=expiry,
            cooldown_blocks=cooldown,
        ),
    )


def put_gone(wc: WasmChain, signer: int) -> None:
    owner = wc.owner(signer)
    assert wc.run(signer, [kv_pb2.MsgPut(owner=owner, key=b"gone", value=b"1")]).code == 0


def inactive_after_waiting(wc: WasmChain, expiry: int = 0, cooldown: int = 0) -> str:
    """A triggered task made INACTIVE while waiting for its next crossing: its first run fails, the
    retry (after ``gone`` is put) succeeds and leaves a bond below one execution's cost."""
    h = wc.schedule(1, failing_kv_task(wc, 1, executions=2, expiry=expiry, cooldown=cooldown))
    crossing = until_price(wc, 58_000)
    assert executed(wc, crossing, h)[0]["success"] == "false"
    put_gone(wc, 1)
    while wc.info(h).status == tasks.ACTIVE:
        wc.block()
    info = wc.info(h)
    assert info.metrics.success_count == 1 and info.next_block == 0, info
    return h


def test_an_inactive_triggered_task_is_in_neither_trigger_index_and_keeps_its_expiry(wc: WasmChain) -> None:
    expiry = wc.height + 200
    h = inactive_after_waiting(wc, expiry)
    assert wc.info(h).status == tasks.INACTIVE
    assert trigger_entries(wc) == (set(), {})
    assert [key[-32:].hex() for key, _ in wc.ctx().store(STORE).iterate_prefix(EXPIRY_PREFIX)] == [h]
    until_price(wc, 60_000)
    assert read_at_crossing(wc, 60_000, 58_000) == []


def _import_at(path: Path, wc: WasmChain) -> Context:
    """A new chain started from the export of ``wc``'s last height; its genesis state."""
    app = wc.chain.app
    height = app.store.last_version
    state = export_app_state(app.store, app.router.modules, app.chain_id, height)
    new = Application(AppConfig(db_path=str(path)))
    new.init_chain(
        abci.RequestInitChain(
            chain_id=CHAIN_ID,
            initial_height=height + 1,
            app_state_bytes=json.dumps(state).encode(),
            time=Timestamp(seconds=1_700_000_100),
        )
    )
    return Context(branch=new._block_branch(), chain_id=CHAIN_ID, height=height + 1)


def test_an_export_at_any_height_reimports_every_trigger_entry_as_it_was(
    wc: WasmChain, tmp_path: Path
) -> None:
    counter = wc.store_code(0, example("counter"))
    nonce = wc.nonce(0)
    definitions = [
        triggered(wc, counter, BELOW, 59_000, executions=3, nonce=nonce),  # fires, waits, fires again
        triggered(wc, counter, BELOW, 59_000, executions=3, cooldown=3, nonce=nonce + 1),
        triggered(wc, counter, ABOVE, 59_500, executions=3, expiry=wc.height + 14, nonce=nonce + 2),
        triggered(wc, counter, BELOW, 59_000, start_in=9, nonce=nonce + 3),
    ]
    msgs = [tx_pb2.MsgScheduleTask(sender=wc.owner(0), definition=d) for d in definitions]
    assert wc.block([wc.tx(0, msgs)]).tx_results[-1].code == 0
    failing = wc.schedule(1, failing_kv_task(wc, 1, executions=2))
    states: set[tuple[int, int]] = set()
    for dollars in [60_000, 58_000, 58_000, 60_000, 58_000, 60_000, 60_000, 58_000, 60_000, 58_000, 58_000]:
        wc.report = prices(dollars)
        wc.block()
        if wc.height == 12:
            put_gone(wc, 1)
        ctx = _import_at(tmp_path / f"h{wc.height}", wc)
        old = wc.chain.app._context(wc.chain.app.store.branch(), wc.height)
        assert list(ctx.store(STORE).iterate()) == list(old.store(STORE).iterate()), wc.height
        for check in invariants.ALL:
            check(ctx)
        for h in [tasks.task_hash(d.task).hex() for d in definitions] + [failing]:
            info = wc.info(h)
            states.add((info.status, int(info.next_block != 0)))
    assert {(tasks.ACTIVE, 0), (tasks.ACTIVE, 1), (tasks.INACTIVE, 0), (tasks.COMPLETED, 0)} <= states


# -- one task's failure stays its own --------------------------------------------------------------------


def _raising_for(
    task_hash: str, real: Callable[..., object], when: Callable[..., bool]
) -> Callable[..., object]:
    def patched(ctx: Context, info: types_pb2.TaskInfo, *args: object) -> object:
        if info.task_hash == task_hash and when(*args):
            raise RuntimeError("a bug in this task's bookkeeping")
        return real(ctx, info, *args)

    return patched


def test_a_task_whose_firing_raises_is_quarantined_and_the_others_still_fire(
    wc: WasmChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = wc.store_code(0, example("counter"))
    nonce = wc.nonce(0)
    definitions = [triggered(wc, counter, BELOW, 59_000 + i, nonce=nonce + i) for i in range(3)]
    msgs = [tx_pb2.MsgScheduleTask(sender=wc.owner(0), definition=d) for d in definitions]
    assert wc.block([wc.tx(0, msgs)]).tx_results[-1].code == 0
    good_low, bad, good_high = (tasks.task_hash(d.task).hex() for d in definitions)
    monkeypatch.setattr(tasks, "set_due", _raising_for(bad, tasks.set_due, lambda block: block != 0))
    crossing = until_price(wc, 58_000)
    assert [e["task_id"] for e in wc.events(crossing, "TaskTriggered")] == [good_low, good_high]
    assert executed(wc, crossing, good_low) and executed(wc, crossing, good_high)
    assert wc.events(crossing, "TaskTriggerAborted") == [
        {"task_id": bad, "block": str(crossing), "step": "fire", "error": "internal: RuntimeError"}
    ]
    info = wc.info(bad)
    assert (info.status, info.inactive_reason) == (tasks.INACTIVE, "internal: RuntimeError")
    assert bad not in trigger_entries(wc)[0]  # not read again at every crossing


def test_a_task_whose_expiry_raises_is_quarantined_and_the_others_still_expire(
    wc: WasmChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = wc.store_code(0, example("counter"))
    expiry = wc.height + 4
    nonce = wc.nonce(0)
    definitions = [triggered(wc, counter, BELOW, 10_000, expiry=expiry, nonce=nonce + i) for i in range(2)]
    msgs = [tx_pb2.MsgScheduleTask(sender=wc.owner(0), definition=d) for d in definitions]
    assert wc.block([wc.tx(0, msgs)]).tx_results[-1].code == 0
    bad, good = sorted(tasks.task_hash(d.task).hex() for d in definitions)
    monkeypatch.setattr(tasks, "refund", _raising_for(bad, tasks.refund, lambda: True))
    while wc.height <= expiry:
        wc.block()
    assert wc.events(expiry + 1, "TaskTriggerExpired") == [{"task_id": good, "refund": "100000"}]
    assert wc.events(expiry + 1, "TaskTriggerAborted") == [
        {"task_id": bad, "block": str(expiry + 1), "step": "expire", "error": "internal: RuntimeError"}
    ]
    assert (wc.info(good).status, wc.info(bad).status) == (tasks.COMPLETED, tasks.INACTIVE)
    wc.block()
    assert wc.events(wc.height, "TaskTriggerAborted") == []  # its expiry entry is gone: not retried


def poisoned_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, expiry: int) -> tuple[WasmChain, str]:
    """A chain whose genesis holds a BELOW $59,000 triggered record with gas 0 (no tier): a record no
    genesis now accepts, as a bug could still write one. Returns the chain and the record's hash."""
    monkeypatch.setattr(tasks_genesis, "_check_open_trigger", lambda *_: None, raising=False)
    owner = address_of(seeded_key("operator-0"))
    poison = types_pb2.TaskInfo(
        definition=types_pb2.TaskDefinition(
            task=types_pb2.Task(from_address=owner, gas=0, nonce=0, environment="basic"),
            schedule=types_pb2.TaskSchedule(start_block=2, executions=1, active=True),
            trigger=types_pb2.PriceTrigger(
                pair=BTC, direction=BELOW, threshold=str(59_000 * E18), expiry_block=expiry
            ),
        ),
        status=tasks.ACTIVE,
        executions_left=1,
        gas_price="1",
        metrics=types_pb2.TaskMetrics(bond_remaining="0", fees_paid="0"),
    )
    state = {
        "params": TEST_PARAMS,
        "tasks": [json_format.MessageToDict(poison)],
        "nonces": [{"account": owner, "nonce": "1"}],
    }
    chain = WasmChain(OracleChain.start(str(tmp_path / "db"), [10] * 4, extra_state={"tasks": state}))
    return chain, tasks.task_hash(poison.definition.task).hex()


def test_a_malformed_record_past_its_expiry_does_not_stop_the_other_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wc, poison = poisoned_chain(tmp_path, monkeypatch, expiry=3)  # the end-block used to fail from 4 on
    wc.block()
    d = types_pb2.TaskDefinition(
        task=types_pb2.Task(
            from_address=wc.owner(1),
            gas=100_000,
            target="/taskmaster.kv.v1.MsgPut",
            data=kv_pb2.MsgPut(owner=wc.owner(1), key=b"k", value=b"v").SerializeToString(deterministic=True),
            nonce=0,
        ),
        schedule=types_pb2.TaskSchedule(start_block=wc.height + 2, executions=2, interval=2, active=True),
    )
    timed = wc.schedule(1, d)
    for _ in range(5):
        wc.block()
    assert wc.info(timed).status == tasks.COMPLETED
    assert wc.info(poison).status == tasks.COMPLETED  # expired: nothing in it needed a tier
    wc.chain.app.close()


def test_a_malformed_record_that_a_crossing_fires_is_quarantined_and_the_others_fire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wc, poison = poisoned_chain(tmp_path, monkeypatch, expiry=0)
    wc.block()
    wc.block()
    counter = wc.store_code(0, example("counter"))
    good = wc.schedule(0, triggered(wc, counter, BELOW, 59_000))
    crossing = until_price(wc, 58_000)
    assert executed(wc, crossing, good)  # the end-block used to fail at this crossing, and only then
    assert wc.events(crossing, "TaskTriggerAborted") == [
        {"task_id": poison, "block": str(crossing), "step": "fire", "error": "internal: AppError"}
    ]
    info = wc.info(poison)
    assert (info.status, info.inactive_reason) == (tasks.INACTIVE, "internal: AppError")
    wc.chain.app.close()


def test_an_inactive_triggered_task_resumes_after_a_bond_and_an_update_with_active_true(
    wc: WasmChain,
) -> None:
    h = inactive_after_waiting(wc)
    info = wc.info(h)
    assert (info.executions_left, info.metrics.bond_remaining) == (1, "0")
    owner = wc.owner(1)
    definition = types_pb2.TaskDefinition()
    definition.CopyFrom(info.definition)
    definition.schedule.active = True
    bond = tx_pb2.MsgBondTask(sender=owner, task_hash=h, amount="100000")
    resume = tx_pb2.MsgUpdateTaskSchedule(sender=owner, task_hash=h, definition=definition)
    result = wc.run(1, [bond, resume])
    assert result.code == 0, result.log
    info = wc.info(h)
    assert (info.status, info.inactive_reason, info.executions_left) == (tasks.ACTIVE, "", 1)
    assert trigger_entries(wc) == ({h}, {})  # armed: its start block and cooldown are behind it
    put_gone(wc, 1)
    until_price(wc, 60_000)
    crossing = until_price(wc, 58_000)
    assert executed(wc, crossing, h)[0]["success"] == "true"
    assert wc.info(h).status == tasks.COMPLETED


def test_a_triggered_task_resumed_in_its_cooldown_waits_for_its_end(wc: WasmChain) -> None:
    h = inactive_after_waiting(wc, cooldown=40)
    info = wc.info(h)
    arm = info.metrics.last_executed_block + 40
    assert trigger_entries(wc) == (set(), {})
    definition = types_pb2.TaskDefinition()
    definition.CopyFrom(info.definition)
    definition.schedule.active = True
    resume = tx_pb2.MsgUpdateTaskSchedule(sender=wc.owner(1), task_hash=h, definition=definition)
    result = wc.run(1, [resume])  # the update escrows the bond the execution left needs
    assert result.code == 0, result.log
    assert wc.info(h).metrics.bond_remaining == "100000"
    assert trigger_entries(wc) == (set(), {arm: {h}})
