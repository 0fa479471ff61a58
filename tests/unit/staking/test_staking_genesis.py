"""Staking genesis import of pending unbondings: linear in their number, ids unique."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abci_app.app import AppConfig, Application
from abci_app.errors import AppError
from abci_app.modules.staking import genesis
from abci_app.tx.address import to_bech32
from abci_app.tx.gas import GasMeter
from tests.app.driver import address_of, seeded_key

OPERATOR = address_of(seeded_key("op"))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Application]:
    application = Application(AppConfig(db_path=str(tmp_path / "db")))
    application.chain_id = "staking-genesis"
    yield application
    application.close()


def _state(ids: list[int]) -> dict[str, Any]:
    return {
        "validators": [
            {"operator_address": OPERATOR, "consensus_pubkey": "A" * 43 + "=", "tokens": "100000000"}
        ],
        "unbonding_entries": [
            {
                "delegator_address": to_bech32(hashlib.sha256(b"%d" % i).digest()[:20]),
                "validator_address": OPERATOR,
                "creation_height": "1",
                "completion_height": "100",
                "balance": "1",
                "id": str(i),
            }
            for i in ids
        ],
    }


def _store_gas(app: Application, entries: int) -> int:
    """The store gas (reads, writes, iterated items) an import of ``entries`` unbondings costs."""
    meter = GasMeter(None)
    ctx = app._context(app.store.branch(), 1).child(gas=meter)
    genesis.init_genesis(ctx, _state(list(range(1, entries + 1))))
    return meter.consumed


def test_importing_twice_the_unbondings_costs_about_twice_the_store_work(app: Application) -> None:
    # the old import re-read every earlier entry to check the new one's id: 4,000 entries took 20 s
    small, large = _store_gas(app, 100), _store_gas(app, 200)
    assert large < 2.2 * small, (small, large)


def test_an_unbonding_id_used_twice_is_refused_naming_the_entry(app: Application) -> None:
    ctx = app._context(app.store.branch(), 1)
    with pytest.raises(AppError, match=r"unbonding_entries\[2\]: id 1 is used twice"):
        genesis.init_genesis(ctx, _state([1, 2, 1]))
