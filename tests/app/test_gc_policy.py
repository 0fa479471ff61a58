"""The commit-time GC policy: objects the app keeps are frozen, dropped ones are still freed."""

from __future__ import annotations

import gc
from pathlib import Path

from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig
from tests.app.driver import Chain, address_of, seeded_key


def test_frozen_objects_stay_bounded_and_almost_no_garbage_is_frozen(tmp_path: Path) -> None:
    gc.unfreeze()  # start clean: earlier tests' commits froze their own leftovers
    gc.collect()
    chain = Chain.start(str(tmp_path / "db"), accounts=10)
    chain.app.config = AppConfig(db_path=chain.app.config.db_path, keep_recent=2)  # prune as a node would
    recipient = address_of(seeded_key("recipient"))
    frozen = []
    try:
        for _ in range(90):
            # the same accounts' balances and sequences are rewritten every block, plus a failing tx
            txs = [chain.send_tx(f"user{i}", recipient, "1") for i in range(10)] + [b"not a tx"]
            for tx in txs:  # through the mempool first, as on a node (CheckTx uses the check state)
                chain.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.NEW))
            chain.block(txs)
            frozen.append(gc.get_freeze_count())
        # replaced and pruned nodes are freed by reference counting although they were frozen:
        # the frozen population levels off instead of growing with every block
        assert frozen[29] > 0, "commits freeze what survives"
        assert frozen[89] - frozen[59] <= (frozen[59] - frozen[29]) // 2 + 2_000, frozen[29::30]
    finally:
        gc.unfreeze()
    leaked = gc.collect()  # cyclic garbage that got frozen before it could be collected
    assert leaked < 200, leaked


def test_commit_freezes_what_survives_and_makes_full_collections_rare(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"))
    gc.unfreeze()
    try:
        chain.block([])
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[2] == 1000
    finally:
        gc.unfreeze()
        gc.collect()
