"""Property: any valid bank, staking, auth and kv genesis exports to a state that re-imports identically."""

from __future__ import annotations

import base64
import json
import tempfile
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.context import Context
from abci_app.node.export import module_states
from abci_app.node.genesis import validate_app_state
from abci_app.tx.address import to_bech32

addresses = st.binary(min_size=20, max_size=20).map(to_bech32)
amounts = st.integers(1, 2**200).map(str)
denoms = st.sampled_from(["utask", "uatom", "ibc/abc"])


@st.composite
def app_states(draw: st.DrawFn) -> dict[str, Any]:
    holders = draw(st.lists(addresses, min_size=1, max_size=6, unique=True))
    balances = [
        {
            "address": a,
            "coins": [{"denom": d, "amount": draw(amounts)} for d in draw(st.sets(denoms, min_size=1))],
        }
        for a in holders
    ]
    operators = draw(st.lists(addresses, min_size=1, max_size=3, unique=True))
    keys = draw(
        st.lists(
            st.binary(min_size=32, max_size=32), min_size=len(operators), max_size=len(operators), unique=True
        )
    )
    validators = [
        {
            "operator_address": op,
            "consensus_pubkey": base64.b64encode(key).decode(),
            "tokens": str(draw(st.integers(1_000_000, 10**15))),
            "jailed": draw(st.booleans()),
            "moniker": draw(st.text(max_size=8)),
        }
        for op, key in zip(operators, keys, strict=True)
    ]
    entries = draw(
        st.lists(
            st.tuples(st.sampled_from(holders), st.binary(min_size=1, max_size=128), st.binary(max_size=64)),
            max_size=8,
            unique_by=lambda e: (e[0], e[1]),
        )
    )
    return {
        "auth": {"accounts": [{"address": a} for a in draw(st.permutations(holders))]},
        "bank": {"balances": balances},
        "staking": {"validators": validators},
        "kv": {
            "entries": [
                {"owner": o, "key": base64.b64encode(k).decode(), "value": base64.b64encode(v).decode()}
                for o, k, v in entries
            ]
        },
    }


def _genesis_state(db: str, app_state: dict[str, Any]) -> dict[str, Any]:
    app = Application(AppConfig(db_path=db))
    try:
        app.init_chain(
            abci.RequestInitChain(
                chain_id="prop-1", initial_height=40, app_state_bytes=json.dumps(app_state).encode()
            )
        )
        ctx = Context(branch=app._block_branch(), chain_id="prop-1", height=39)
        return module_states(ctx, app.router.modules)
    finally:
        app.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(app_states())
def test_an_export_of_any_hand_written_genesis_reimports_to_the_same_export(
    app_state: dict[str, Any],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        exported = _genesis_state(f"{tmp}/a", app_state)
        validate_app_state(exported)
        assert _genesis_state(f"{tmp}/b", exported) == exported
