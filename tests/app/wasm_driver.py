"""A four-validator in-process chain for wasm tasks: code upload, wasm task messages, oracle prices.

Also runnable as ``python -m tests.app.wasm_driver DB [--cold] [--cache DIR]``: a fixed block of many
wasm tasks (counters, limit orders that fill, an infinite loop, a trap, a send beyond its allowance),
printing one line per height (height, app hash, SHA-256 of the whole FinalizeBlock answer). ``--cold``
empties the in-memory compiled-module cache before every block; ``--cache DIR`` keeps compiled
modules on disk there (so a cold block loads them from disk). The determinism test runs it in
separate processes with
different ``PYTHONHASHSEED`` values, cold and warm, and compares the output byte for byte.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from cosmos.base.abci.v1beta1 import abci_pb2 as txv1
from google.protobuf.message import Message
from taskmaster.tasks.v1 import tx_pb2, types_pb2
from taskmaster.wasm.v1 import wasm_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.modules.auth import keeper as auth
from abci_app.modules.bank import invariants as bank_invariants
from abci_app.modules.tasks import invariants as task_invariants
from abci_app.modules.tasks import keeper as tasks
from abci_app.modules.wasm import runtime
from abci_app.tx.address import from_bech32
from abci_app.tx.codec import build_tx
from tests.app.driver import address_of
from tests.app.oracle_driver import CHAIN_ID, OracleChain
from tests.unit.tasks.task_chain import TEST_PARAMS
from tests.unit.wasm.wasm_sandbox import example, wat

E18 = 10**18
BTC = "bitcoin/usd"


def prices(btc: int, eth: int = 3_000) -> dict[str, int]:
    """One validator's report: whole-dollar prices at 18 decimals."""
    return {BTC: btc * E18, "ethereum/usd": eth * E18}


def order_data(limit: int, amount: int, recipient: str, pair: str = BTC) -> bytes:
    """Task data of limit_order.wat / recurring_buy.wat (limit in whole dollars)."""
    return (
        (limit * 10**6).to_bytes(8, "little")
        + amount.to_bytes(8, "little")
        + len(pair).to_bytes(4, "little")
        + pair.encode()
        + recipient.encode()
    )


@dataclass
class WasmChain:
    """An OracleChain whose validators' operators (``owner(i)``) sign txs; every block checks invariants."""

    chain: OracleChain
    results: dict[int, abci.ResponseFinalizeBlock] = field(default_factory=dict)
    report: dict[str, int] = field(default_factory=lambda: prices(60_000))

    @classmethod
    def start(cls, db: str, tasks_params: dict[str, str] | None = None) -> WasmChain:
        params = {**TEST_PARAMS, **(tasks_params or {})}
        return cls(OracleChain.start(db, [10, 10, 10, 10], extra_state={"tasks": {"params": params}}))

    @property
    def height(self) -> int:
        return self.chain.height

    def owner(self, i: int) -> str:
        return address_of(self.chain.operators[i])

    def ctx(self) -> Context:
        return self.chain.app._context(self.chain.app.store.branch(), self.chain.height)

    def tx(
        self, signer: int, messages: Sequence[Message], gas: int = 50_000_000, fee: int = 200_000
    ) -> bytes:
        key = self.chain.operators[signer]
        account = auth.get_account(self.ctx(), from_bech32(address_of(key)))
        assert account is not None
        return build_tx(
            key,
            messages,
            chain_id=CHAIN_ID,
            account_number=account.account_number,
            sequence=account.sequence,
            fee=fee,
            gas_limit=gas,
        )

    def block(self, txs: list[bytes] | None = None) -> abci.ResponseFinalizeBlock:
        """One block; every validator reports ``self.report`` (the prices the *next* round writes)."""
        response = self.chain.block(txs or [], reports=[self.report] * 4)
        self.results[self.chain.height] = response
        ctx = self.ctx()
        bank_invariants.supply_matches_balances(ctx)
        for check in task_invariants.ALL:
            check(ctx)
        return response

    def run(self, signer: int, messages: Sequence[Message], gas: int = 50_000_000) -> abci.ExecTxResult:
        """A block holding one tx; returns its result (the last one: the oracle's injection is first)."""
        return self.block([self.tx(signer, messages, gas)]).tx_results[-1]

    def store_code(self, signer: int, wasm: bytes) -> str:
        result = self.run(signer, [wasm_pb2.MsgStoreCode(sender=self.owner(signer), wasm=wasm)])
        assert result.code == 0, result.log
        return response_of(result, wasm_pb2.MsgStoreCodeResponse()).code_id

    def wasm_task(
        self,
        signer: int,
        code_id: str,
        start: int,
        *,
        data: bytes = b"",
        gas: int = 100_000,
        interval: int = 0,
        executions: int = 1,
        nonce: int | None = None,
    ) -> types_pb2.TaskDefinition:
        owner = self.owner(signer)
        return types_pb2.TaskDefinition(
            task=types_pb2.Task(
                from_address=owner,
                gas=gas,
                data=data,
                nonce=self.nonce(signer) if nonce is None else nonce,
                environment=f"wasm:{code_id}",
            ),
            schedule=types_pb2.TaskSchedule(
                start_block=start, interval=interval, executions=executions, active=True
            ),
        )

    def schedule(self, signer: int, definition: types_pb2.TaskDefinition, allowance: str = "") -> str:
        msg = tx_pb2.MsgScheduleTask(sender=self.owner(signer), definition=definition, allowance=allowance)
        result = self.run(signer, [msg])
        assert result.code == 0, result.log
        return response_of(result, tx_pb2.MsgScheduleTaskResponse()).task_hash

    def nonce(self, signer: int) -> int:
        return tasks.get_nonce(self.ctx(), from_bech32(self.owner(signer)))

    def info(self, task_hash: str) -> types_pb2.TaskInfo:
        found = tasks.get_task(self.ctx(), bytes.fromhex(task_hash))
        assert found is not None
        return found

    def events(self, height: int, kind: str) -> list[dict[str, str]]:
        return [{a.key: a.value for a in e.attributes} for e in self.results[height].events if e.type == kind]

    def balance(self, address: str) -> int:
        from abci_app.modules.bank import keeper as bank

        return bank.balance(self.ctx(), from_bech32(address), "utask")

    def query(self, path: str, request: Message, response_type: type[Message]) -> tuple[int, str, bytes]:
        answer = self.chain.app.query(abci.RequestQuery(path=path, data=request.SerializeToString()))
        return answer.code, answer.log, answer.value


M = TypeVar("M", bound=Message)


def response_of(result: abci.ExecTxResult, into: M) -> M:
    """The first message response of a tx result, unpacked into ``into``."""
    data = txv1.TxMsgData.FromString(result.data)
    assert data.msg_responses[0].Unpack(into)
    return into


LOOP = example("infinite_loop")
TRAP = wat('(module (func (export "execute") (result i32) (unreachable)))')


def scenario(db: str, cold: bool) -> tuple[list[str], list[str]]:
    """The determinism scenario (see the module docstring); returns its lines and the outcomes of its
    executions (``ok`` or the error's name)."""
    wc = WasmChain.start(db, {"maxBlockTaskGas": "100000000"})
    lines: list[str] = []
    outcomes: list[str] = []

    def block(txs: list[bytes] | None = None) -> None:
        if cold:
            runtime.clear_cache()
        response = wc.block(txs)
        for e in wc.events(wc.height, "TaskExecuted"):
            outcomes.append("ok" if e["success"] == "true" else e["error"].split(":")[0])
        digest = hashlib.sha256(response.SerializeToString(deterministic=True)).hexdigest()
        lines.append(f"{wc.height} {response.app_hash.hex()} {digest}")

    block()
    codes = [
        wc.store_code(i % 4, wasm)
        for i, wasm in enumerate(
            [example("counter"), example("limit_order"), example("recurring_buy"), LOOP, TRAP]
        )
    ]
    counter, order, buy, loop, trap = codes
    due = wc.height + 3
    txs = []
    for signer in range(4):
        nonce = wc.nonce(signer)
        msgs: list[Message] = []
        for k in range(12):
            code = [counter, order, buy, loop, trap, counter][k % 6]
            recipient = wc.owner((signer + 1) % 4)
            data = order_data(59_000 + 500 * k, 1_000 + k, recipient) if code in (order, buy) else b""
            d = wc.wasm_task(signer, code, due, data=data, nonce=nonce + k, interval=2, executions=2)
            allowance = str(1_000 + 3 * k) if code in (order, buy) else ""  # some sends exceed it
            msgs.append(tx_pb2.MsgScheduleTask(sender=wc.owner(signer), definition=d, allowance=allowance))
        txs.append(wc.tx(signer, msgs))
    block(txs)
    for h in range(6):
        wc.report = prices(60_000 - 400 * h, 3_000 - h)
        block()
    wc.chain.app.close()
    return lines, outcomes


def main() -> None:
    args = sys.argv[2:]
    if "--cache" in args:
        runtime.use_artifact_dir(Path(args[args.index("--cache") + 1]))
    print("\n".join(scenario(sys.argv[1], "--cold" in args)[0]), flush=True)


if __name__ == "__main__":
    main()
