"""Consensus scenarios printed height by height, for the PYTHONHASHSEED determinism test.

``python -m tests.app.scenarios DB <tasks|oracle>`` prints ``height app_hash codes`` per block.
"""

from __future__ import annotations

import hashlib
import sys

from tendermint.abci import types_pb2 as abci

from tests.app.oracle_driver import OracleChain


def _digest(response: abci.ResponseFinalizeBlock) -> str:
    """SHA-256 of the whole FinalizeBlock answer: results, events and their attributes, updates."""
    return hashlib.sha256(response.SerializeToString(deterministic=True)).hexdigest()


def oracle_scenario(db: str) -> None:
    """Four validators with uneven power; one report skewed, one validator missing until jailed.

    The missing one holds 30 of 100: more than 2/3 of the power still signs each commit, as CometBFT
    requires of every commit it hands over.
    """
    chain = OracleChain.start(db, [30, 30, 10, 30])
    e18 = 10**18
    print(chain.block().app_hash.hex(), flush=True)
    for h in range(8):
        reports: list[dict[str, int] | None] = [
            {"bitcoin/usd": (67000 + h) * e18, "ethereum/usd": 3000 * e18 + h},
            {"bitcoin/usd": (67010 + h) * e18, "ethereum/usd": 3001 * e18},
            {"bitcoin/usd": (67000 + h) * e18 * 1000, "ethereum/usd": 2999 * e18},
            {} if h < 6 else None,
        ]
        response = chain.block(reports=reports)
        print(chain.height, response.app_hash.hex(), _digest(response), flush=True)
    chain.app.close()


def tasks_scenario(db: str) -> None:
    """Recurring kv puts and bank sends from several owners, one failing task, over 14 blocks."""
    from tests.unit.tasks.task_chain import definition, delete, put, schedule_msg, start

    chain = start(db)
    owners = ["user0", "user1", "user2"]
    txs = []
    for n, owner in enumerate(owners):
        address = chain.addr(owner)
        recurring = definition(
            address, put(address, f"k{n}".encode(), b"v" * (n + 1)), 0, 3, interval=2, executions=4
        )
        failing = definition(address, delete(address, b"absent"), 1, 4, environment="rescheduling")
        txs.append(chain.tx(owner, [schedule_msg(recurring), schedule_msg(failing)]))
    response = chain.block(txs)
    print(chain.height, response.app_hash.hex(), _digest(response), flush=True)
    for _ in range(13):
        response = chain.block([])
        print(chain.height, response.app_hash.hex(), _digest(response), flush=True)
    chain.app.close()


if __name__ == "__main__":
    {"oracle": oracle_scenario, "tasks": tasks_scenario}[sys.argv[2]](sys.argv[1])
