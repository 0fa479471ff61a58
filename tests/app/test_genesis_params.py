"""Genesis params: absent fields keep their defaults, given ones (0 included) are kept, bad ones refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.context import Context
from abci_app.modules.auth import keeper as auth
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.staking import keeper as staking
from abci_app.modules.tasks import keeper as tasks
from tests.app.driver import address_of, seeded_key


def _genesis(tmp_path: Path, params: dict[str, dict[str, Any]]) -> Context:
    operator = seeded_key("operator")
    app_state: dict[str, Any] = {
        "auth": {"accounts": [{"address": address_of(operator)}]},
        "bank": {
            "balances": [{"address": address_of(operator), "coins": [{"denom": "utask", "amount": "1000"}]}]
        },
        "staking": {
            "validators": [
                {
                    "operator_address": address_of(operator),
                    "consensus_pubkey": base64.b64encode(bytes(seeded_key("cons").verify_key)).decode(),
                    "tokens": "100000000",
                    "moniker": "v0",
                }
            ]
        },
    }
    for module, given in params.items():
        app_state.setdefault(module, {})["params"] = given
    app = Application(AppConfig(db_path=str(tmp_path / "db")))
    app.init_chain(
        abci.RequestInitChain(
            chain_id="genesis-test",
            initial_height=1,
            app_state_bytes=json.dumps(app_state).encode(),
            time=Timestamp(seconds=1_700_000_000),
        )
    )
    return app._context(app._block_branch(), 1)


def test_absent_fields_keep_defaults_and_given_zeros_stay_zero(tmp_path: Path) -> None:
    ctx = _genesis(
        tmp_path,
        {
            "auth": {"gas_per_msg": "0", "minGasPrice": "0"},  # proto and JSON names both accepted
            "oracle": {"slash_bps": 0, "grace_rounds": "0", "window": "7"},
            "tasks": {"protocolFeeBps": "0"},
            "staking": {"power_reduction": "10"},
        },
    )
    a = auth.get_params(ctx)
    assert (a.gas_per_msg, a.min_gas_price) == (0, "0")
    assert (a.max_tx_bytes, a.gas_sig_verify) == (
        auth.DEFAULT_PARAMS.max_tx_bytes,
        auth.DEFAULT_PARAMS.gas_sig_verify,
    )
    o = oracle.get_params(ctx)
    assert (o.slash_bps, o.grace_rounds, o.window) == (0, 0, 7)
    assert list(o.pairs) == list(oracle.DEFAULT_PARAMS.pairs)
    t = tasks.get_params(ctx)
    assert t.protocol_fee_bps == 0 and t.min_interval == tasks.DEFAULT_PARAMS.min_interval
    s = staking.get_params(ctx)
    assert (s.power_reduction, s.bond_denom) == ("10", "utask")
    assert staking.power_from_tokens(ctx, 100_000_000) == 10_000_000


@pytest.mark.parametrize(
    ("module", "params", "message"),
    [
        ("staking", {"power_reduction": "0"}, "power_reduction"),
        ("staking", {"power_reduction": "-5"}, "power_reduction"),
        ("staking", {"min_self_delegation": "1.5"}, "min_self_delegation"),
        ("staking", {"minSelfDelegation": "-1"}, "min_self_delegation"),
        ("auth", {"max_tx_bytes": "0"}, "max_tx_bytes"),
        ("auth", {"min_gas_price": "0.5"}, "min_gas_price"),
        ("oracle", {"window": "0"}, "window"),
        ("oracle", {"history_size": "0"}, "history_size is 0; give at least 2"),
        ("oracle", {"historySize": "1"}, "history_size is 1; give at least 2"),
        ("tasks", {"min_interval": "0"}, "min_interval"),
    ],
)
def test_invalid_params_are_refused_with_the_field_named(
    tmp_path: Path, module: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception, match=message):
        _genesis(tmp_path, {module: params})
