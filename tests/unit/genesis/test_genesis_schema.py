"""The genesis templates and the app_state schema: templates validate, violations name the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from abci_app.node.genesis import (
    DEFAULT_TEMPLATE,
    LOCALNET_TEMPLATE,
    SCHEMA_PATH,
    GenesisError,
    load_genesis,
    load_template,
    validate_app_state,
)
from abci_app.node.home import NodePorts, init_network
from abci_app.router import default_modules

ADDRESS = "task1w4g6vgh3nkwsn75kf0hq506gp4ytx0hq0d0kt5"
KEY = "6OptNlC5QZSwzqj829Vx/EjY6gy7n/YH0ttd0X9g9Mg="


def _state() -> dict[str, Any]:
    return {
        "auth": {"accounts": [{"address": ADDRESS}]},
        "bank": {"balances": [{"address": ADDRESS, "coins": [{"denom": "utask", "amount": "5"}]}]},
        "staking": {"validators": [{"operator_address": ADDRESS, "consensus_pubkey": KEY, "tokens": "100"}]},
    }


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text()))


def test_the_schema_has_a_documented_section_for_every_module_with_a_genesis() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    sections = set(schema["properties"])
    assert {m.name for m in default_modules() if m.init_genesis is not None} <= sections
    for name in sections:
        assert schema["$defs"][name]["description"], name


@pytest.mark.parametrize("path", [DEFAULT_TEMPLATE, LOCALNET_TEMPLATE], ids=["default", "localnet"])
def test_each_template_loads_and_its_app_state_validates(path: Path) -> None:
    template = load_template(path)
    validate_app_state(template.app_state)
    assert template.consensus_params["abci"]["vote_extensions_enable_height"] == "1"
    assert template.funding.validator_tokens >= 1_000_000  # at least one unit of power


def test_a_hand_written_app_state_validates() -> None:
    validate_app_state(_state())


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (
            lambda s: s["bank"]["balances"][0].update(address="task1nope"),
            r"app_state\.bank\.balances\[0\]\.address",
        ),
        (lambda s: s["bank"]["balances"][0]["coins"][0].update(amount="1.5"), r"coins\[0\]\.amount"),
        (lambda s: s["staking"]["validators"][0].update(tokens=100), r"validators\[0\]\.tokens"),
        (lambda s: s["staking"]["validators"][0].update(consensus_pubkey="AAAA"), r"consensus_pubkey"),
        (lambda s: s["auth"]["accounts"][0].update(sequence="-1"), r"accounts\[0\]\.sequence"),
        (lambda s: s.update(bnak={}), r"app_state: .*'bnak'"),
        (lambda s: s["staking"].update(validator=[]), r"app_state\.staking: .*'validator'"),
        (lambda s: s.update(oracle={"params": {"window": "ten"}}), r"app_state\.oracle\.params\.window"),
        (
            lambda s: s.update(taskmaster={"statuses": [{"name": "oracle"}]}),
            r"statuses\[0\]: 'consensus_version'",
        ),
    ],
)
def test_a_schema_violation_names_the_field(edit: Any, field: str) -> None:
    state = copy.deepcopy(_state())
    edit(state)
    with pytest.raises(GenesisError, match=field):
        validate_app_state(state)


def test_a_genesis_file_that_is_not_json_or_not_an_object_is_refused_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "genesis.json"
    bad.write_text("{not json")
    with pytest.raises(GenesisError, match=r"genesis\.json is not valid JSON"):
        load_genesis(bad)
    bad.write_text("[]")
    with pytest.raises(GenesisError, match="must hold a JSON object"):
        load_genesis(bad)
    bad.write_text(json.dumps({"chain_id": "c", "initial_height": 5, "app_state": {}}))
    with pytest.raises(GenesisError, match="initial_height must be a decimal string"):
        load_genesis(bad)


def test_a_template_with_a_bad_funding_amount_is_refused_naming_it(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_TEMPLATE.read_text())
    data["funding"]["faucet_balance"] = 10
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    with pytest.raises(GenesisError, match=r"funding\.faucet_balance"):
        load_template(path)


def test_init_writes_the_default_template_with_the_generated_keys(tmp_path: Path) -> None:
    home = tmp_path / "node"
    genesis = init_network([home], [NodePorts()], "tmpl-1")
    template = load_template(DEFAULT_TEMPLATE)
    on_disk = load_genesis(home / "config" / "genesis.json")
    assert on_disk == genesis
    assert genesis["consensus_params"]["abci"]["vote_extensions_enable_height"] == "1"
    (validator,) = genesis["app_state"]["staking"]["validators"]
    assert validator["tokens"] == str(template.funding.validator_tokens)
    assert len(genesis["app_state"]["auth"]["accounts"]) == 2  # faucet and the validator's operator
    balances = sorted(int(b["coins"][0]["amount"]) for b in genesis["app_state"]["bank"]["balances"])
    assert balances == sorted([template.funding.faucet_balance, template.funding.validator_balance])


def test_init_of_several_homes_uses_the_localnet_template(tmp_path: Path) -> None:
    data = json.loads(LOCALNET_TEMPLATE.read_text())
    data["funding"]["validator_tokens"] = "7000000"
    custom = tmp_path / "custom.json"
    custom.write_text(json.dumps(data))
    homes = [tmp_path / "n0", tmp_path / "n1"]
    genesis = init_network(homes, [NodePorts(), NodePorts(rpc=1)], "tmpl-2", template=custom)
    assert [v["tokens"] for v in genesis["app_state"]["staking"]["validators"]] == ["7000000"] * 2
    assert [v["power"] for v in genesis["validators"]] == ["7", "7"]
