"""The trigger index finds exactly the triggers a price move crosses, and after every end-block holds
exactly the waiting tasks whose arm block has come (both against brute-force models)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taskmaster.tasks.v1 import types_pb2

from abci_app.context import Context
from abci_app.modules.tasks import keeper, triggers
from abci_app.modules.tasks.keys import STORE, TRIGGER_PREFIX, WAITING_PREFIX, trigger_key
from tests.unit.wasm.wasm_sandbox import sandbox

PAIRS = ["bitcoin/usd", "bitcoin/usdt", "ethereum/usd"]
PRICES = st.one_of(st.integers(min_value=0, max_value=40), st.just(2**256 - 1))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    with sandbox(Path(tmp_path_factory.mktemp("triggers"))) as box:
        yield box.ctx


def fires(direction: int, threshold: int, price: int, previous: int | None) -> bool:
    """The documented rule: the condition holds now and did not hold for the previous price."""
    if direction == keeper.BELOW:
        return price < threshold and (previous is None or previous >= threshold)
    return price > threshold and (previous is None or previous <= threshold)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(PAIRS), st.sampled_from([keeper.ABOVE, keeper.BELOW]), PRICES),
        max_size=30,
    ),
    PRICES,
    st.one_of(st.none(), PRICES),
)
def test_crossed_finds_exactly_the_triggers_the_move_fires(
    ctx: Context, entries: list[tuple[str, int, int]], price: int, previous: int | None
) -> None:
    child = ctx.child()
    model = []
    for i, (pair, direction, threshold) in enumerate(entries):
        hash_ = hashlib.sha256(i.to_bytes(4, "big")).digest()
        child.store(STORE).set(trigger_key(pair, direction, threshold, hash_), b"")
        if pair == "bitcoin/usd" and fires(direction, threshold, price, previous):
            model.append((0 if direction == keeper.BELOW else 1, threshold, hash_))
    found = triggers.crossed(child, "bitcoin/usd", price, previous)
    assert found == [h for _, _, h in sorted(model)]
    child.branch.discard()


def waiting_task(serial: int, start: int, last: int, cooldown: int) -> types_pb2.TaskInfo:
    """An active BELOW trigger of bitcoin/usd waiting for a crossing (no due entry)."""
    return types_pb2.TaskInfo(
        task_hash=hashlib.sha256(b"task %d" % serial).hexdigest(),
        status=keeper.ACTIVE,
        definition=types_pb2.TaskDefinition(
            schedule=types_pb2.TaskSchedule(start_block=start, executions=1, active=True),
            trigger=types_pb2.PriceTrigger(
                pair="bitcoin/usd", direction=keeper.BELOW, threshold=str(serial), cooldown_blocks=cooldown
            ),
        ),
        metrics=types_pb2.TaskMetrics(last_executed_block=last),
    )


# one block: tasks parked by its txs (start block from 1 to 15 blocks ahead of or behind the height,
# last execution 0 = never or up to 10 blocks ago, cooldown), tasks unparked by its txs, tasks
# unparked by its end-block after the release (drawn as positions in the live tasks)
BLOCKS = st.lists(
    st.tuples(
        st.lists(st.tuples(st.integers(-15, 15), st.integers(-1, 10), st.integers(0, 10)), max_size=4),
        st.lists(st.integers(0, 50), max_size=2),
        st.lists(st.integers(0, 50), max_size=2),
    ),
    min_size=1,
    max_size=25,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=100)
@given(BLOCKS)
def test_after_each_end_block_exactly_the_armed_waiting_tasks_are_in_the_trigger_index(
    ctx: Context, blocks: list[tuple[list[tuple[int, int, int]], list[int], list[int]]]
) -> None:
    work = ctx.child()
    live: dict[str, types_pb2.TaskInfo] = {}
    serial = 0

    def unpark(positions: list[int]) -> None:
        for position in positions:
            if live:
                info = live.pop(sorted(live)[position % len(live)])
                keeper.unpark_trigger(work, info)

    for height, (parked, in_txs, in_end_block) in enumerate(blocks, start=100):
        work.height = height
        for start, ago, cooldown in parked:
            serial += 1
            info = waiting_task(serial, height + start, 0 if ago < 0 else height - ago, cooldown)
            keeper.park_trigger(work, info)
            live[info.task_hash] = info
        unpark(in_txs)
        triggers.release(work)
        unpark(in_end_block)
        store = work.store(STORE)
        index = {key[-32:].hex() for key, _ in store.iterate_prefix(TRIGGER_PREFIX)}
        waiting = {
            (int.from_bytes(k[1:9], "big"), k[-32:].hex(), v) for k, v in store.iterate_prefix(WAITING_PREFIX)
        }
        armed = {h for h, info in live.items() if keeper.arm_block(info) <= height}
        assert index == armed
        assert waiting == {
            (
                keeper.arm_block(info),
                h,
                trigger_key(
                    "bitcoin/usd", keeper.BELOW, int(info.definition.trigger.threshold), bytes.fromhex(h)
                ),
            )
            for h, info in live.items()
            if h not in armed
        }
        below = triggers.crossed(work, "bitcoin/usd", 0, None)  # a first price of 0: every BELOW trigger
        assert {h.hex() for h in below} == armed
    work.branch.discard()
