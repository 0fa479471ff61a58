"""A four-validator in-process chain that holds every kind of state a genesis export must carry.

Tasks of every environment (basic, rescheduling, minimal, wasm), wasm codes and wasm tasks with
allowances, price triggers waiting for their start, armed, fired (in their cooldown) and expired,
a cancelled task, task and environment cancellers, delegations and an unbonding entry, a validator
jailed for missing its oracle window, oracle history and miss counters, kv entries, accounts with
public keys and sequences, the built-in oracle task's status. ``build(db)`` runs it and closes the
application, as a stopped node leaves its database.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import Message
from taskmaster.staking.v1 import staking_pb2
from taskmaster.tasks.v1 import tx_pb2, types_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.modules.staking import keeper as staking
from abci_app.modules.tasks import keeper as tasks
from abci_app.tx.address import from_bech32
from tests.app.wasm_driver import BTC, E18, WasmChain, order_data, prices
from tests.unit.tasks.task_chain import definition, delete, put
from tests.unit.wasm.wasm_sandbox import example

JAILED = 3
"""The validator that never votes: jailed once its miss window fills, it stays jailed."""


class AbsentFourth(WasmChain):
    """A WasmChain whose validator 3 is absent from every commit (the others report ``self.report``)."""

    def block(self, txs: list[bytes] | None = None) -> abci.ResponseFinalizeBlock:
        response = self.chain.block(txs or [], reports=[self.report] * JAILED + [None])
        self.results[self.chain.height] = response
        return response


@dataclass(frozen=True)
class EveryState:
    """What :func:`build` made: the height it stopped at and the hashes of the tasks in each state."""

    height: int
    codes: dict[str, str]  # example name -> code id
    hashes: dict[str, str]  # what the task is -> its hash


def _trigger(
    wc: WasmChain,
    d: types_pb2.TaskDefinition,
    direction: int,
    dollars: int,
    *,
    cooldown: int = 0,
    expiry: int = 0,
) -> types_pb2.TaskDefinition:
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


def _ok(result: abci.ExecTxResult) -> None:
    assert result.code == 0, result.log


def build(db: str) -> EveryState:
    """Run the scenario on a fresh store at ``db`` and close it."""
    wc = AbsentFourth.start(db)
    wc.block()
    wc.block()
    owner = [wc.owner(i) for i in range(4)]
    codes = {name: wc.store_code(i % 3, example(name)) for i, name in enumerate(["counter", "limit_order"])}
    hashes: dict[str, str] = {}
    below, above = types_pb2.TRIGGER_DIRECTION_BELOW, types_pb2.TRIGGER_DIRECTION_ABOVE

    # owner 0: every environment, recurring so that each is still open at the export
    nonce = wc.nonce(0)
    start = wc.height + 2
    kv = {
        "basic": definition(owner[0], put(owner[0], b"k", b"v"), nonce, start, interval=2, executions=50),
        "rescheduling": definition(
            owner[0],
            delete(owner[0], b"absent"),
            nonce + 1,
            start,
            environment="rescheduling",
            interval=2,
            executions=50,
        ),
        "minimal": definition(
            owner[0],
            put(owner[0], b"m", b"w"),
            nonce + 2,
            start,
            interval=3,
            executions=50,
            environment="minimal",
        ),
        "cancelled": definition(owner[0], put(owner[0], b"c", b"x"), nonce + 3, start + 40),
    }
    wasm = {
        "wasm counter": wc.wasm_task(0, codes["counter"], start, nonce=nonce + 4, interval=2, executions=50),
        "wasm order with allowance": wc.wasm_task(
            0,
            codes["limit_order"],
            start,
            nonce=nonce + 5,
            data=order_data(70_000, 1_000, owner[1]),  # fills every run: spends its allowance
            interval=2,
            executions=50,
        ),
    }
    allowances = {"wasm order with allowance": "1000000"}
    msgs: list[Message] = [
        tx_pb2.MsgScheduleTask(sender=owner[0], definition=d, allowance=allowances.get(name, ""))
        for name, d in [*kv.items(), *wasm.items()]
    ]
    _ok(wc.run(0, msgs))
    hashes |= {name: tasks.task_hash(d.task).hex() for name, d in [*kv.items(), *wasm.items()]}

    # owner 1: price triggers (wasm and kv) that end in each state
    nonce = wc.nonce(1)
    triggers = {
        "trigger waiting for its start": _trigger(
            wc, wc.wasm_task(1, codes["counter"], wc.height + 500, nonce=nonce), below, 59_000
        ),
        "trigger armed": _trigger(
            wc,
            wc.wasm_task(1, codes["counter"], wc.height + 2, nonce=nonce + 1, executions=3),
            below,
            10_000,
            expiry=wc.height + 10_000,
        ),
        "trigger fired, in its cooldown": _trigger(
            wc,
            wc.wasm_task(1, codes["counter"], wc.height + 2, nonce=nonce + 2, executions=3),
            below,
            59_000,
            cooldown=1_000,
        ),
        "trigger fired, armed again": _trigger(
            wc,
            definition(owner[1], put(owner[1], b"t", b"1"), nonce + 3, wc.height + 2, executions=5),
            below,
            59_500,
        ),
        "trigger expired": _trigger(
            wc,
            wc.wasm_task(1, codes["counter"], wc.height + 2, nonce=nonce + 4),
            above,
            90_000,
            expiry=wc.height + 4,
        ),
    }
    _ok(wc.run(1, [tx_pb2.MsgScheduleTask(sender=owner[1], definition=d) for d in triggers.values()]))
    hashes |= {name: tasks.task_hash(d.task).hex() for name, d in triggers.items()}

    # cancellers, a cancellation, delegations and an unbonding entry
    _ok(
        wc.run(
            0,
            [
                tx_pb2.MsgAddTaskCanceller(sender=owner[0], task_hash=hashes["basic"], canceller=owner[2]),
                tx_pb2.MsgAddEnvironmentCanceller(
                    sender=owner[0], environment=f"wasm:{codes['counter']}", canceller=owner[1]
                ),
                tx_pb2.MsgCancelTask(sender=owner[0], task_hash=hashes["cancelled"]),
            ],
        )
    )
    _ok(
        wc.run(
            1,
            [
                staking_pb2.MsgDelegate(
                    delegator_address=owner[1], validator_address=owner[0], amount="5000000"
                )
            ],
        )
    )
    _ok(
        wc.run(
            2,
            [
                staking_pb2.MsgDelegate(
                    delegator_address=owner[2], validator_address=owner[1], amount="3000000"
                )
            ],
        )
    )
    _ok(
        wc.run(
            1,
            [
                staking_pb2.MsgUndelegate(
                    delegator_address=owner[1], validator_address=owner[0], amount="2000000"
                )
            ],
        )
    )

    # the price crosses $59,500 and $59,000 (fires two triggers), rises back, crosses $59,500 again
    for dollars in (58_000, 58_000, 58_000, 60_000, 60_000, 60_000, 59_200, 59_200, 59_200):
        wc.report = prices(dollars)
        wc.block()
    ctx = wc.ctx()
    jailed = staking.require_validator(ctx, from_bech32(owner[JAILED]))
    assert jailed.jailed, "validator 3 must be jailed by the end"
    height = wc.height
    wc.chain.app.close()
    return EveryState(height=height, codes=codes, hashes=hashes)
