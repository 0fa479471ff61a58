"""Random schedules, cancels, updates, bonds, executions and blocks keep the task-manager invariants.

After every block: bonds sum to the module account (and bank supply holds); each active task has exactly
one due entry; no task executes twice in a height; completed or cancelled tasks never execute; the
block's task gas (sum of tier caps) never exceeds the budget.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from taskmaster.tasks.v1 import tx_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.modules.tasks import keeper
from tests.unit.tasks.task_chain import definition, delete, put, schedule_msg, start

BUDGET = 1_000_000
PARAMS = {"minInterval": "2", "maxBlockTaskGas": str(BUDGET), "blockTaskGasReserve": "0"}
USERS = ["user0", "user1", "user2"]
GASES = [30_000, 100_000, 150_000, 500_000]
ENVS = ["basic", "rescheduling", "minimal"]


def _executed(events: list[abci.Event]) -> list[str]:
    return [a.value for e in events if e.type == "TaskExecuted" for a in e.attributes if a.key == "task_id"]


class TaskMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="tasks-prop-")
        self.tc = start(self.dir + "/db", {"params": PARAMS})
        self.hashes: list[str] = []

    def teardown(self) -> None:
        self.tc.app.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _block(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        finished = {h for h in self.hashes if self.tc.info(h).status in (keeper.COMPLETED, keeper.CANCELLED)}
        response = self.tc.block(txs)
        ran = _executed(list(response.events))
        for result in response.tx_results:
            ran += _executed(list(result.events))
            if result.code == 0 and result.data:
                from tests.unit.tasks.task_chain import task_hash_of

                try:
                    h = task_hash_of(result)
                except Exception:
                    h = ""
                if h and h not in self.hashes:
                    self.hashes.append(h)
        assert not [h for h, n in Counter(ran).items() if n > 1], f"a task ran twice at {self.tc.height}"
        assert not finished & set(_executed(list(response.events))), "a finished task executed"
        block_ran = _executed(list(response.events))
        used = sum(keeper.tier_of(self.tc.info(h).definition.task.gas).cap for h in block_ran)
        assert used <= BUDGET, f"block task gas {used} > budget {BUDGET}"
        return response

    @rule(
        user=st.sampled_from(USERS),
        gas=st.sampled_from(GASES),
        offset=st.integers(1, 5),
        executions=st.integers(1, 3),
        interval=st.integers(2, 4),
        env=st.sampled_from(ENVS),
        fails=st.booleans(),
        execute_now=st.booleans(),
    )
    def schedule(
        self,
        user: str,
        gas: int,
        offset: int,
        executions: int,
        interval: int,
        env: str,
        fails: bool,
        execute_now: bool,
    ) -> None:
        owner = self.tc.addr(user)
        call = delete(owner, b"absent") if fails else put(owner, b"k%d" % len(self.hashes), b"v")
        d = definition(
            owner,
            call,
            self.tc.nonce(user),
            self.tc.height + 1 + offset,
            gas=gas,
            interval=interval,
            executions=executions,
            environment=env,
        )
        msg = tx_pb2.MsgExecuteAndSchedule(sender=owner, definition=d) if execute_now else schedule_msg(d)
        self._block([self.tc.tx(user, [msg])])

    @rule(data=st.data(), user=st.sampled_from(USERS))
    def cancel(self, data: st.DataObject, user: str) -> None:
        if self.hashes:
            h = data.draw(st.sampled_from(self.hashes))
            self._block([self.tc.tx(user, [tx_pb2.MsgCancelTask(sender=self.tc.addr(user), task_hash=h)])])

    @rule(data=st.data(), offset=st.integers(1, 4), executions=st.integers(1, 3), active=st.booleans())
    def update(self, data: st.DataObject, offset: int, executions: int, active: bool) -> None:
        if self.hashes:
            h = data.draw(st.sampled_from(self.hashes))
            info = self.tc.info(h)
            d = info.definition
            d.schedule.start_block = self.tc.height + 1 + offset
            d.schedule.executions = executions
            d.schedule.interval = 2
            d.schedule.active = active
            owner = d.task.from_address
            user = next(u for u in USERS if self.tc.addr(u) == owner)
            msg = tx_pb2.MsgUpdateTaskSchedule(sender=owner, task_hash=h, definition=d)
            self._block([self.tc.tx(user, [msg])])

    @rule(data=st.data(), amount=st.integers(1, 300_000))
    def bond(self, data: st.DataObject, amount: int) -> None:
        if self.hashes:
            h = data.draw(st.sampled_from(self.hashes))
            msg = tx_pb2.MsgBondTask(sender=self.tc.addr("user2"), task_hash=h, amount=str(amount))
            self._block([self.tc.tx("user2", [msg])])

    @rule(data=st.data())
    def execute(self, data: st.DataObject) -> None:
        if self.hashes:
            h = data.draw(st.sampled_from(self.hashes))
            msg = tx_pb2.MsgExecuteTask(executor=self.tc.addr("user1"), task_hash=h)
            self._block([self.tc.tx("user1", [msg])])

    @rule(n=st.integers(1, 4))
    def blocks(self, n: int) -> None:
        for _ in range(n):
            self._block([])

    @invariant()
    def finished_tasks_have_no_bond(self) -> None:
        for h in self.hashes:
            info = self.tc.info(h)
            if info.status in (keeper.COMPLETED, keeper.CANCELLED):
                assert info.metrics.bond_remaining == "0" and info.next_block == 0


TaskMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
test_task_machine = TaskMachine.TestCase
