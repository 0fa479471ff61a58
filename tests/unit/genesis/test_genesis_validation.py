"""The genesis templates and app_state validation: templates validate, violations name the field.

app_state is checked against the modules' GenesisState protos (no hand-kept schema), then by InitChain.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.node.genesis import (
    DEFAULT_TEMPLATE,
    GENESIS_DIR,
    LOCALNET_TEMPLATE,
    GenesisError,
    check_genesis,
    genesis_types,
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
        "staking": {
            "validators": [{"operator_address": ADDRESS, "consensus_pubkey": KEY, "tokens": "1000000"}]
        },
    }


def test_no_json_schema_is_kept_beside_the_protos() -> None:
    assert sorted(p.name for p in GENESIS_DIR.glob("*schema*")) == []


def test_every_module_with_a_genesis_has_its_genesis_state_message() -> None:
    sections = {m.name for m in default_modules() if m.init_genesis is not None}
    types = genesis_types()
    assert set(types) == sections
    for name, message in types.items():
        assert message.DESCRIPTOR.full_name == f"taskmaster.{name}.v1.GenesisState"


@pytest.mark.parametrize("section", sorted(m.name for m in default_modules() if m.init_genesis is not None))
def test_a_field_no_proto_has_is_refused_by_validation_as_by_initchain(section: str, tmp_path: Path) -> None:
    """The validator checks the message each module's InitChain parses: both refuse the same field."""
    state = {section: {"no_such_field": 1}}
    with pytest.raises(GenesisError, match=rf"app_state\.{section}: unknown field 'no_such_field'"):
        validate_app_state(state)
    app = Application(AppConfig(db_path=str(tmp_path / "db")))
    try:
        with pytest.raises(Exception, match="no_such_field"):
            app.init_chain(abci.RequestInitChain(chain_id="c", app_state_bytes=json.dumps(state).encode()))
    finally:
        app.close()


@pytest.mark.parametrize("path", [DEFAULT_TEMPLATE, LOCALNET_TEMPLATE], ids=["default", "localnet"])
def test_each_template_loads_and_its_app_state_validates(path: Path) -> None:
    template = load_template(path)
    validate_app_state(template.app_state)
    assert template.consensus_params["abci"]["vote_extensions_enable_height"] == "1"
    assert template.funding.validator_tokens >= 1_000_000  # at least one unit of power


def test_a_hand_written_app_state_validates_and_starts_a_chain() -> None:
    validate_app_state(_state())
    check_genesis({"chain_id": "c", "app_state": _state()})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["staking"]["validators"][0].update(tokens=100),
            r"app_state\.staking\.validators\[0\]\.tokens: must be a string, not a number 100",
        ),
        (
            lambda s: s["auth"]["accounts"][0].update(sequence="-1"),
            r"app_state\.auth\.accounts\[0\]\.sequence: -1 is outside the range of a uint64",
        ),
        (
            lambda s: s.update(bnak={}),
            r"app_state: unknown section 'bnak'; did you mean 'bank'\? the sections are: auth, bank",
        ),
        (
            lambda s: s["staking"].update(validator=[]),
            r"app_state\.staking: unknown field 'validator'; did you mean 'validators'\?",
        ),
        (
            lambda s: s.update(oracle={"params": {"window": "ten"}}),
            r"app_state\.oracle\.params\.window: must be a uint64: a JSON number or a decimal string",
        ),
        (
            lambda s: s.update(kv={"entries": [{"owner": ADDRESS, "key": "not base64!"}]}),
            r"app_state\.kv\.entries\[0\]\.key: must be bytes in base64",
        ),
        (
            lambda s: s.update(tasks={"tasks": [{"status": "RUNNING"}]}),
            r"app_state\.tasks\.tasks\[0\]\.status: 'RUNNING' is not a TaskStatus; give one of "
            r"TASK_STATUS_UNSPECIFIED, TASK_STATUS_ACTIVE",
        ),
        (
            lambda s: s.update(taskmaster={"versions": {"oracle": "two"}}),
            r"app_state\.taskmaster\.versions\['oracle'\]: must be a uint64",
        ),
        (
            lambda s: s["staking"].update(params={"maxValidators": 3, "max_validators": 4}),
            r"app_state\.staking\.params\.max_validators: is given twice, as 'maxValidators' and "
            r"'max_validators'; keep one",
        ),
        (lambda s: s["bank"].update(balances={}), r"app_state\.bank\.balances: must be a JSON list"),
        (lambda s: s["bank"]["balances"].append(None), r"app_state\.bank\.balances\[1\]: must not be null"),
    ],
)
def test_a_field_that_is_not_its_proto_type_is_refused_naming_it(edit: Any, message: str) -> None:
    state = copy.deepcopy(_state())
    edit(state)
    with pytest.raises(GenesisError, match=rf"^g\.json: {message}"):
        validate_app_state(state, "g.json")


def test_every_problem_is_listed_one_per_line_and_the_rest_counted() -> None:
    state = {"kv": {"entries": [{"owner": i} for i in range(8)]}}
    with pytest.raises(GenesisError) as refused:
        validate_app_state(state, "g.json")
    lines = str(refused.value).splitlines()
    assert lines[0] == "g.json: app_state.kv.entries[0].owner: must be a string, not a number 0"
    assert lines[1:5] == [
        f"  app_state.kv.entries[{i}].owner: must be a string, not a number {i}" for i in range(1, 5)
    ]
    assert lines[5:] == ["  (and 3 more problem(s))"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["bank"]["balances"][0].update(address="task1nope"),
            r"bank genesis balances\[0\]\.address 'task1nope' is not valid bech32",
        ),
        (
            lambda s: s["bank"]["balances"][0]["coins"][0].update(amount="1.5"),
            r"bank genesis balances\[0\]\.coins\[0\]\.amount '1\.5' must be a positive integer",
        ),
        (
            lambda s: s["staking"]["validators"][0].update(consensus_pubkey="AAAA"),
            r"staking genesis validators\[0\]\.consensus_pubkey must be 32 bytes",
        ),
        (
            lambda s: s.update(taskmaster={"statuses": [{"name": "oracle"}]}),
            r"taskmaster genesis statuses\[0\]\.consensus_version: oracle version 0 outside",
        ),
    ],
)
def test_a_well_typed_value_a_module_refuses_is_reported_by_initchain_naming_it(
    edit: Any, message: str
) -> None:
    state = copy.deepcopy(_state())
    edit(state)
    validate_app_state(state)  # the proto types allow it
    with pytest.raises(GenesisError, match=rf"^g\.json: InitChain refuses it: .*{message}"):
        check_genesis({"chain_id": "c", "app_state": state}, "g.json")


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
