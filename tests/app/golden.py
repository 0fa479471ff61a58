"""The golden scenario: one fixed, rich run of the chain whose per-block answers must never change.

Bank sends, tasks of every execution environment (recurring, failing and rescheduled), oracle rounds
over four validators, a validator jailed for missing its window and unjailed, and the built-in oracle
task's v1 -> v2 store migration at its upgrade height. ``python -m tests.app.golden DB`` prints one line
per block: height, app hash, SHA-256 of the whole FinalizeBlock answer. ``tests/app/golden.txt`` holds
the lines recorded when the tx format became the Cosmos SDK's and tasks gained their run history,
recorded once after both (issue 22: ``cosmos.tx.v1beta1`` TxRaw, SDK result codes and log wording, SDK
events with ``msg_index``, ``cosmos.base.abci.v1beta1.TxMsgData``; issue 23: ``run_history_size`` 20 by
default; before them, the lines recorded when staking gained the ``min_self_delegation`` param);
``test_golden.py`` compares.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence

from google.protobuf.message import Message
from taskmaster.bank.v1 import bank_pb2
from taskmaster.oracle.v1 import oracle_pb2

from abci_app.modules.auth import keeper as auth
from abci_app.tx.address import from_bech32
from abci_app.tx.codec import build_tx
from tests.app.driver import address_of
from tests.app.oracle_driver import CHAIN_ID, OracleChain
from tests.unit.tasks.task_chain import TEST_PARAMS, definition, delete, put, schedule_msg

E18 = 10**18


def _tx(chain: OracleChain, signer: int, messages: Sequence[Message]) -> bytes:
    key = chain.operators[signer]
    ctx = chain.app._context(chain.app._block_branch(), chain.height)
    account = auth.get_account(ctx, from_bech32(address_of(key)))
    assert account is not None
    return build_tx(
        key,
        messages,
        chain_id=CHAIN_ID,
        account_number=account.account_number,
        sequence=account.sequence,
        fee=20_000,
        gas_limit=5_000_000,
    )


def run(db: str) -> tuple[list[str], list[str]]:
    """Run the scenario on a fresh store at ``db``: the lines it prints, and what happened, in order.

    What happened is ``<event type>`` per FinalizeBlock and tx event and ``tx <codespace>/<code>`` per
    tx result: the test checks from it that the scenario still covers what it claims.
    """
    chain = OracleChain.start(
        db,
        [10, 10, 10, 10],
        {"upgradeHeight": "6"},
        {"oracle": 1},
        extra_state={"tasks": {"params": TEST_PARAMS}},
    )
    lines: list[str] = []
    happened: list[str] = []

    def block(txs: list[bytes], reports: list[dict[str, int] | None]) -> None:
        response = chain.block(txs, reports=reports)
        happened.extend(e.type for e in response.events)
        for result in response.tx_results:
            happened.append(f"tx {result.codespace}/{result.code}")
            happened.extend(e.type for e in result.events)
        happened.extend(f"validator update {u.power}" for u in response.validator_updates)
        digest = hashlib.sha256(response.SerializeToString(deterministic=True)).hexdigest()
        lines.append(f"{chain.height} {response.app_hash.hex()} {digest}")

    owners = [address_of(k) for k in chain.operators]
    chain.block()
    lines.append(f"{chain.height} {chain.app.store.last_app_hash.hex()} genesis+1")
    tasks = [
        schedule_msg(definition(owners[0], put(owners[0], b"k", b"v"), 0, 4, interval=2, executions=4)),
        schedule_msg(definition(owners[0], delete(owners[0], b"absent"), 1, 5, environment="rescheduling")),
        schedule_msg(definition(owners[0], put(owners[0], b"m", b"w"), 2, 6, environment="minimal")),
    ]
    send = bank_pb2.MsgSend(
        from_address=owners[1], to_address=owners[2], amount=[bank_pb2.Coin(denom="utask", amount="777")]
    )
    unjail = oracle_pb2.MsgUnjail(operator_address=owners[3])
    for h in range(16):
        prices = {"bitcoin/usd": (67_000 + h) * E18, "ethereum/usd": 3_500 * E18 + h}
        skewed = {"bitcoin/usd": (67_000 + h) * E18 * 1000, "ethereum/usd": 3_499 * E18}
        # validator 3 signs "no report" until it is jailed, then is absent; its operator asks to unjail
        fourth: dict[str, int] | None = {} if h < 5 else None
        txs = []
        if h == 0:
            txs = [_tx(chain, 0, tasks), _tx(chain, 1, [send])]
        elif h in (3, 9, 12):
            txs = [_tx(chain, 3, [unjail]), _tx(chain, 1, [send])]
        block(txs, [prices, prices, skewed, fourth])
    chain.app.close()
    return lines, happened


if __name__ == "__main__":
    print("\n".join(run(sys.argv[1])[0]))
