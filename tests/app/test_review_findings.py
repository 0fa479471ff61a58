"""Findings of the attack review of the hardening change, each held by a test (docs/security.md)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from taskmaster.bank.v1 import bank_pb2
from taskmaster.tasks.v1 import tx_pb2, types_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.modules.oracle.injection import last_commit_of
from abci_app.modules.oracle.task import OracleTask
from abci_app.modules.taskmaster.task import Outcome
from abci_app.modules.tasks.errors import TASK_FIELDS_CHANGED
from tests.app.oracle_driver import OracleChain
from tests.unit.tasks.task_chain import definition, put, schedule_msg, start, task_hash_of


@pytest.mark.parametrize(("environment", "target"), [("x" * 256, ""), ("basic", "/" + "a" * 70_000)])
def test_an_update_with_oversized_task_fields_is_refused_as_changed_fields(
    tmp_path: Path, environment: str, target: str
) -> None:
    tc = start(str(tmp_path / "db"))
    tc.block()
    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"v"), tc.nonce("user0"), tc.height + 20)
    task_hash = task_hash_of(tc.run("user0", schedule_msg(d)))
    changed = types_pb2.TaskDefinition()
    changed.CopyFrom(d)
    changed.task.environment = environment
    changed.task.target = target or d.task.target
    msg = tx_pb2.MsgUpdateTaskSchedule(sender=owner, task_hash=task_hash, definition=changed)
    result = tc.run("user0", msg, gas=5_000_000)
    assert (result.codespace, result.code) == ("tasks", TASK_FIELDS_CHANGED.code), result.log
    assert len(result.log) < 1000


def test_a_failed_tx_log_never_echoes_its_input_unbounded(tmp_path: Path) -> None:
    tc = start(str(tmp_path / "db"))
    tc.block()
    owner = tc.addr("user0")
    for coin in (
        bank_pb2.Coin(denom="u" * 60_000, amount="1"),
        bank_pb2.Coin(denom="utask", amount="x" * 60_000),
    ):
        msg = bank_pb2.MsgSend(from_address=owner, to_address=tc.addr("user1"), amount=[coin])
        # refused by MsgSend's ante check (CheckTx, proposals and blocks alike), before its fee
        result = tc.app.check_tx(abci.RequestCheckTx(tx=tc.tx("user0", [msg], gas=5_000_000)))
        assert (result.codespace, result.code) == ("bank", 2)
        assert len(result.log) < 500


def test_a_built_in_task_that_raises_writes_the_same_state_on_every_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def buggy(self: OracleTask, ctx: object, round_height: int, inputs: object) -> list[Outcome]:
        raise TypeError(f"unsupported operand for {object()!r}")  # the text differs per process

    monkeypatch.setattr(OracleTask, "run", buggy)
    hashes, errors = [], []
    for _ in range(2):
        with tempfile.TemporaryDirectory() as tmp:
            chain = OracleChain.start(tmp + "/db", [10, 10, 10, 10])
            chain.block()
            response = chain.block(reports=[{"bitcoin/usd": 1, "ethereum/usd": 2}] * 4)
            hashes.append(response.app_hash)
            errors += [
                a.value
                for r in response.tx_results
                for e in r.events
                if e.type == "OracleRoundFailed"
                for a in e.attributes
                if a.key == "error"
            ]
            chain.app.close()
    assert hashes[0] == hashes[1]
    assert errors == ["run raised TypeError"] * 2


def test_the_own_proposal_shortcut_never_accepts_what_the_full_check_rejects(tmp_path: Path) -> None:
    """A last commit CometBFT should never hand over (signed power <= 2/3): both paths reject."""
    from tendermint.abci import types_pb2 as abci

    chain = OracleChain.start(str(tmp_path / "db"), [10, 20, 30, 40])
    chain.block()
    commit = chain.votes([{"bitcoin/usd": 1, "ethereum/usd": 1}] * 3 + [None])  # 60 of 100 signed
    prepared = chain.app.prepare_proposal(
        abci.RequestPrepareProposal(height=2, max_tx_bytes=1 << 20, local_last_commit=commit)
    )
    request = abci.RequestProcessProposal(
        txs=prepared.txs, height=2, proposed_last_commit=last_commit_of(commit)
    )
    own = chain.app.process_proposal(request)
    chain.app._own_proposal = None
    full = chain.app.process_proposal(request)
    assert own.status == full.status == abci.ResponseProcessProposal.REJECT
