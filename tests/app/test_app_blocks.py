"""App-level behaviour, driven in process block by block on a real RocksDB store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application, _proto_size
from abci_app.modules.bank import invariants as bank_invariants
from abci_app.modules.staking import invariants as staking_invariants
from abci_app.tx.address import to_bech32
from abci_app.tx.ante import FEE_COLLECTOR
from tests.app.driver import Chain, address_of, seeded_key

ROOT = Path(__file__).resolve().parents[2]


def _invariants(chain: Chain) -> None:
    ctx = chain.app._context(chain.app.store.branch(), chain.height)
    bank_invariants.supply_matches_balances(ctx)
    staking_invariants.bonded_pool_matches_tokens(ctx)


def test_send_moves_funds_and_pays_fee_to_proposer(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"))
    sender, recipient = address_of(chain.accounts["user0"]), address_of(seeded_key("fresh"))
    operator = address_of(chain.accounts["operator"])
    before_sender, before_operator = chain.balance(sender), chain.balance(operator)
    response = chain.block([chain.send_tx("user0", recipient, "1234", fee=700)])
    assert [r.code for r in response.tx_results] == [0]
    assert chain.balance(recipient) == 1234
    assert chain.balance(sender) == before_sender - 1234 - 700
    assert chain.balance(operator) == before_operator + 700
    assert chain.balance(to_bech32(FEE_COLLECTOR)) == 0
    _invariants(chain)


def test_failed_message_keeps_only_fee_and_sequence(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"), balance=10_000)
    sender = address_of(chain.accounts["user0"])
    response = chain.block([chain.send_tx("user0", address_of(seeded_key("x")), "9999", fee=500)])
    result = response.tx_results[0]
    assert (result.codespace, result.code) == ("bank", 3)
    assert "insufficient funds" in result.log
    assert chain.balance(sender) == 10_000 - 500
    # the sequence advanced: the next tx with sequence 1 is accepted
    response = chain.block([chain.send_tx("user0", address_of(seeded_key("x")), "10", fee=500)])
    assert response.tx_results[0].code == 0
    _invariants(chain)


def test_out_of_gas_fails_tx_and_keeps_fee(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"))
    sender = address_of(chain.accounts["user0"])
    chain.block([chain.send_tx("user0", address_of(seeded_key("v")), "5")])
    ok = chain.block([chain.send_tx("user0", address_of(seeded_key("w")), "5")]).tx_results[0]
    assert ok.code == 0
    before = chain.balance(sender)
    # the same kind of tx with a bit less gas than it used: ante passes, the message runs out
    tight = ok.gas_used - 1500
    response = chain.block([chain.send_tx("user0", address_of(seeded_key("y")), "5", gas=tight, fee=500)])
    result = response.tx_results[0]
    assert (result.codespace, result.code) == ("sdk", 11)
    assert result.gas_used <= result.gas_wanted == tight
    assert chain.balance(sender) == before - 500
    assert chain.balance(address_of(seeded_key("y"))) == 0


def test_every_tx_gets_exactly_one_result_even_garbage(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"))
    good = chain.send_tx("user1", address_of(seeded_key("z")), "5")
    response = chain.block([b"\x00garbage", good, b""])
    assert [(r.codespace, r.code) for r in response.tx_results] == [("sdk", 2), ("", 0), ("sdk", 2)]


def test_process_proposal_rejects_invalid_txs(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"))
    good = chain.send_tx("user0", address_of(seeded_key("z")), "5")
    ok = chain.app.process_proposal(abci.RequestProcessProposal(txs=[good], height=1))
    assert ok.status == abci.ResponseProcessProposal.ACCEPT
    bad = chain.app.process_proposal(abci.RequestProcessProposal(txs=[good, b"junk"], height=1))
    assert bad.status == abci.ResponseProcessProposal.REJECT
    replay = chain.app.process_proposal(abci.RequestProcessProposal(txs=[good, good], height=1))
    assert replay.status == abci.ResponseProcessProposal.REJECT


def test_prepare_proposal_respects_max_tx_bytes_and_drops_invalid(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"))
    txs = [chain.send_tx("user0", address_of(seeded_key(f"r{i}")), "5") for i in range(5)]
    limit = sum(_proto_size(t) for t in txs[:3])
    response = chain.app.prepare_proposal(
        abci.RequestPrepareProposal(txs=[b"junk", *txs], height=1, max_tx_bytes=limit)
    )
    assert list(response.txs) == txs[:3]


def test_app_hash_survives_reopen(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"))
    for i in range(3):
        chain.block([chain.send_tx("user0", address_of(seeded_key(f"q{i}")), "5")])
    info = chain.app.info(abci.RequestInfo())
    chain.app.close()
    again = Application(AppConfig(db_path=str(tmp_path / "db")))
    info2 = again.info(abci.RequestInfo())
    assert (info2.last_block_height, info2.last_block_app_hash) == (3, info.last_block_app_hash)
    assert again.chain_id == "test-chain"
    again.close()


def _outputs_under_seeds(tmp_path: Path, module: str, *args: str) -> list[str]:
    """Run ``python -m <module> <fresh db> <args>`` under two PYTHONHASHSEED values; both outputs."""
    outputs = []
    for seed in ("1", "4242"):
        result = subprocess.run(
            [sys.executable, "-m", module, str(tmp_path / f"db{seed}"), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        outputs.append(result.stdout)
    return outputs


@pytest.mark.parametrize("scenario", ["tasks", "oracle"])
def test_task_and_oracle_blocks_do_not_depend_on_hash_seed(tmp_path: Path, scenario: str) -> None:
    first, second = _outputs_under_seeds(tmp_path, "tests.app.scenarios", scenario)
    assert first == second
    assert len(first.splitlines()) >= 9


def test_app_hashes_do_not_depend_on_hash_seed(tmp_path: Path) -> None:
    first, second = _outputs_under_seeds(tmp_path, "tests.app.driver", "6")
    assert first == second
    assert len(first.splitlines()) == 6


def test_recheck_drops_a_tx_whose_sequence_a_block_used(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"))
    chain.block([])
    tx = chain.send_tx("user0", address_of(seeded_key("m")), "5")
    assert chain.app.check_tx(abci.RequestCheckTx(tx=tx)).code == 0
    chain.block([tx])
    recheck = chain.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.RECHECK))
    assert (recheck.codespace, recheck.code) == ("sdk", 32)
    follow_up = chain.send_tx("user0", address_of(seeded_key("m")), "5")
    assert chain.app.check_tx(abci.RequestCheckTx(tx=follow_up, type=abci.RECHECK)).code == 0


def test_queued_txs_that_depend_on_each_other_survive_recheck(tmp_path: Path) -> None:
    from tests.unit.tasks.task_chain import definition, put, schedule_msg, start

    chain = start(str(tmp_path / "db"))
    chain.block()
    owner = chain.addr("user0")

    def scheduling(nonce: int) -> bytes:
        d = definition(owner, put(owner, f"k{nonce}".encode(), b"v"), nonce, chain.height + 10)
        return chain.tx("user0", [schedule_msg(d)])

    first, second = scheduling(0), scheduling(1)
    assert [chain.app.check_tx(abci.RequestCheckTx(tx=t)).code for t in (first, second)] == [0, 0]
    chain.block([first])  # the block takes only the first; the second waits in the mempool
    recheck = chain.app.check_tx(abci.RequestCheckTx(tx=second, type=abci.RECHECK))
    assert recheck.code == 0, recheck.log
    third = chain.app.check_tx(abci.RequestCheckTx(tx=scheduling(2)))
    assert third.code == 0, third.log  # task nonce 2 follows the rechecked nonce 1
