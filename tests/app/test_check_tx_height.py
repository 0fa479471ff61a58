"""CheckTx judges a new tx as the earliest block it can still land in will."""

from __future__ import annotations

from pathlib import Path

from taskmaster.bank.v1 import bank_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.errors import TX_TIMEOUT
from abci_app.tx.codec import build_tx
from tests.app.driver import CHAIN_ID, Chain, address_of, seeded_key


def _send_timing_out_at(chain: Chain, height: int) -> bytes:
    key = chain.accounts["user0"]
    msg = bank_pb2.MsgSend(
        from_address=address_of(key),
        to_address=address_of(seeded_key("r")),
        amount=[bank_pb2.Coin(denom="utask", amount="1")],
    )
    return build_tx(
        key,
        [msg],
        chain_id=CHAIN_ID,
        account_number=chain.account_number(address_of(key)),
        sequence=0,
        fee=500,
        gas_limit=200_000,
        timeout_height=height,
    )


def test_a_tx_for_the_next_block_is_accepted_while_no_block_is_under_way(chain: Chain) -> None:
    answer = chain.app.check_tx(abci.RequestCheckTx(tx=_send_timing_out_at(chain, chain.height + 1)))
    assert answer.code == 0


def test_a_tx_arriving_while_the_next_block_is_proposed_is_judged_one_block_later(chain: Chain) -> None:
    tx = _send_timing_out_at(chain, chain.height + 1)
    chain.app.prepare_proposal(abci.RequestPrepareProposal(height=chain.height + 1, max_tx_bytes=1 << 20))
    answer = chain.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.NEW))
    assert (answer.codespace, answer.code) == (TX_TIMEOUT.codespace, TX_TIMEOUT.code)
    assert f"the block is {chain.height + 2}" in answer.log
    # a recheck after Commit judges the next block again
    chain.block([])
    later = _send_timing_out_at(chain, chain.height + 1)
    assert chain.app.check_tx(abci.RequestCheckTx(tx=later, type=abci.RECHECK)).code == 0


def test_a_simulated_tx_changes_nothing_in_the_mempool_state(chain: Chain) -> None:
    from abci_app.client import SIMULATE_PATH

    tx = chain.send_tx("user0", address_of(seeded_key("r")), "1", sequence=0)
    for _ in range(2):
        answer = chain.app.query(abci.RequestQuery(path=SIMULATE_PATH, data=tx))
        assert answer.code == 0, answer.log
        assert abci.ExecTxResult.FromString(answer.value).gas_used > 0
    assert chain.app.check_tx(abci.RequestCheckTx(tx=tx)).code == 0  # sequence 0 still expected
    again = chain.app.query(abci.RequestQuery(path=SIMULATE_PATH, data=tx))
    assert (again.codespace, again.code) == ("sdk", 32)  # now the check state has moved on


def test_before_the_first_block_check_tx_judges_at_the_initial_height(tmp_path: Path) -> None:
    import json

    from google.protobuf.timestamp_pb2 import Timestamp

    from abci_app.app import AppConfig, Application

    app = Application(AppConfig(db_path=str(tmp_path / "db")))
    app.init_chain(
        abci.RequestInitChain(
            chain_id=CHAIN_ID, initial_height=100, app_state_bytes=json.dumps({}).encode(), time=Timestamp()
        )
    )
    assert app._check_height(abci.RequestCheckTx(type=abci.NEW)) == 100
    app.close()
