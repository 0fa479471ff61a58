"""An in-process chain with the tasks and kv modules, plus builders for task messages (tests only)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import tx_pb2, types_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.app import Application
from abci_app.context import Context
from abci_app.modules.bank import invariants as bank_invariants
from abci_app.modules.tasks import invariants as task_invariants
from abci_app.modules.tasks import keeper
from abci_app.tx.codec import build_tx
from tests.app.driver import CHAIN_ID, Chain, address_of, seeded_key

TEST_PARAMS = {
    "minInterval": "2",
    "maxBlockTaskGas": "10000000",
    "blockTaskGasReserve": "0",
    "gasPrice": "1",
    "protocolFeeBps": "1000",
}


def start(
    db_path: str,
    tasks_genesis: dict[str, Any] | None = None,
    accounts: int = 4,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> TaskChain:
    """A fresh chain at genesis like ``Chain.start`` but with a tasks genesis (small min_interval).

    ``edit``, when given, changes the whole ``app_state`` last (e.g. to add balances).
    """
    original = Application.init_chain
    extra = {"tasks": tasks_genesis if tasks_genesis is not None else {"params": TEST_PARAMS}}

    def init_chain(self: Application, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        state = json.loads(req.app_state_bytes)
        state.update(extra)
        if edit is not None:
            edit(state)
        req.app_state_bytes = json.dumps(state).encode()
        return original(self, req)

    Application.init_chain = init_chain  # type: ignore[method-assign]
    try:
        chain = Chain.start(db_path, accounts=accounts, balance=10**12)
    finally:
        Application.init_chain = original  # type: ignore[method-assign]
    return TaskChain(chain)


@dataclass
class TaskChain:
    """Chain plus message helpers; ``results`` keeps every FinalizeBlock response by height."""

    chain: Chain
    results: dict[int, abci.ResponseFinalizeBlock] = field(default_factory=dict)

    @property
    def app(self) -> Application:
        return self.chain.app

    @property
    def height(self) -> int:
        return self.chain.height

    def addr(self, name: str) -> str:
        return (
            address_of(self.chain.accounts[name])
            if name in self.chain.accounts
            else address_of(seeded_key(name))
        )

    def tx(self, name: str, msgs: Sequence[Message], gas: int = 2_000_000, fee: int = 5000) -> bytes:
        key = self.chain.accounts[name]
        seq = self.chain.sequences.get(name, 0)
        self.chain.sequences[name] = seq + 1
        return build_tx(
            key,
            msgs,
            chain_id=CHAIN_ID,
            account_number=self.chain.account_number(address_of(key)),
            sequence=seq,
            fee=fee,
            gas_limit=gas,
        )

    def block(self, txs: list[bytes] | None = None) -> abci.ResponseFinalizeBlock:
        response = self.chain.block(txs or [])
        self.results[self.chain.height] = response
        self.check_invariants()
        return response

    def run(self, name: str, msg: Message, gas: int = 2_000_000) -> abci.ExecTxResult:
        """One block holding one tx with ``msg``; returns its result."""
        return self.block([self.tx(name, [msg], gas=gas)]).tx_results[0]

    def advance_to(self, height: int) -> None:
        while self.chain.height < height:
            self.block()

    def ctx(self) -> Context:
        return self.app._context(self.app.store.branch(), self.chain.height)

    def check_invariants(self) -> None:
        ctx = self.ctx()
        bank_invariants.supply_matches_balances(ctx)
        for check in task_invariants.ALL:
            check(ctx)

    def nonce(self, name: str) -> int:
        from abci_app.tx.address import from_bech32

        return keeper.get_nonce(self.ctx(), from_bech32(self.addr(name)))

    def info(self, task_hash: str) -> types_pb2.TaskInfo:
        found = keeper.get_task(self.ctx(), bytes.fromhex(task_hash))
        assert found is not None, task_hash
        return found

    def query(self, method: str, request: Message, response_type: type[Message]) -> tuple[int, Any]:
        """An abci_query of the tasks service: (code, decoded response or log)."""
        resp = self.app.query(
            abci.RequestQuery(path=f"/taskmaster.tasks.v1.Query/{method}", data=request.SerializeToString())
        )
        if resp.code:
            return resp.code, resp.log
        return 0, response_type.FromString(resp.value)

    def kv(self, owner: str, key: bytes) -> bytes | None:
        from abci_app.modules.kv import keeper as kv
        from abci_app.tx.address import from_bech32

        return kv.get(self.ctx(), from_bech32(self.addr(owner)), key)

    def events(self, height: int, kind: str) -> list[dict[str, str]]:
        """Block-level events of one kind at ``height``."""
        return [{a.key: a.value for a in e.attributes} for e in self.results[height].events if e.type == kind]


def put(owner: str, key: bytes, value: bytes) -> tuple[str, bytes]:
    """(target, data) of a kv put."""
    return "/taskmaster.kv.v1.MsgPut", kv_pb2.MsgPut(owner=owner, key=key, value=value).SerializeToString()


def delete(owner: str, key: bytes) -> tuple[str, bytes]:
    """(target, data) of a kv delete (fails when the key is absent)."""
    return "/taskmaster.kv.v1.MsgDelete", kv_pb2.MsgDelete(owner=owner, key=key).SerializeToString()


def definition(
    owner: str,
    call: tuple[str, bytes],
    nonce: int,
    start: int,
    *,
    gas: int = 50_000,
    interval: int = 0,
    executions: int = 1,
    environment: str = "basic",
) -> types_pb2.TaskDefinition:
    """A task definition with its schedule."""
    return types_pb2.TaskDefinition(
        task=types_pb2.Task(
            from_address=owner, gas=gas, target=call[0], data=call[1], nonce=nonce, environment=environment
        ),
        schedule=types_pb2.TaskSchedule(
            start_block=start, interval=interval, executions=executions, active=True
        ),
    )


def schedule_msg(d: types_pb2.TaskDefinition, gas_price: str = "") -> tx_pb2.MsgScheduleTask:
    return tx_pb2.MsgScheduleTask(sender=d.task.from_address, definition=d, gas_price=gas_price)


def task_hash_of(result: abci.ExecTxResult) -> str:
    """The task hash from a MsgScheduleTask / MsgExecuteAndSchedule tx result."""
    from cosmos.base.abci.v1beta1 import abci_pb2 as txv1

    data = txv1.TxMsgData.FromString(result.data)
    response: Any = tx_pb2.MsgScheduleTaskResponse()
    if not data.msg_responses[0].Unpack(response):
        response = tx_pb2.MsgExecuteAndScheduleResponse()
        data.msg_responses[0].Unpack(response)
    return str(response.task_hash)


Check = Callable[[TaskChain], None]
