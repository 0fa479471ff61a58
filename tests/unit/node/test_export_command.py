"""``taskmaster export``: a stopped node's state as a genesis document, and clear errors otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from abci_app.app import AppConfig, Application
from abci_app.cli import main
from abci_app.node.genesis import load_genesis
from tests.app.golden import run

CONSENSUS_PARAMS = {
    "block": {"max_bytes": "22020096", "max_gas": "-1"},
    "evidence": {
        "max_age_num_blocks": "100000",
        "max_age_duration": "172800000000000",
        "max_bytes": "1048576",
    },
    "validator": {"pub_key_types": ["ed25519"]},
    "version": {"app": "0"},
    "abci": {"vote_extensions_enable_height": "1"},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped node's home holding the golden scenario's chain (17 blocks)."""
    home = tmp_path_factory.mktemp("home")
    (home / "config").mkdir()
    (home / "data").mkdir()
    genesis = {"chain_id": "oracle-test", "initial_height": "1", "consensus_params": CONSENSUS_PARAMS}
    (home / "config" / "genesis.json").write_text(json.dumps(genesis))
    run(str(home / "data" / "app.db"))
    return home


def _export(home: Path, out: Path, *extra: str) -> dict[str, object]:
    main(
        [
            "export",
            "--home",
            str(home),
            "--output-file",
            str(out),
            "--genesis-time",
            "2027-01-01T00:00:00Z",
            *extra,
        ]
    )
    return load_genesis(out)


def test_export_writes_a_genesis_that_continues_the_chain_at_the_next_height(
    home: Path, tmp_path: Path
) -> None:
    document = _export(home, tmp_path / "g.json")
    assert document["chain_id"] == "oracle-test"
    assert document["initial_height"] == "18"
    assert document["genesis_time"] == "2027-01-01T00:00:00Z"
    assert document["consensus_params"]["abci"] == {"vote_extensions_enable_height": "1"}  # type: ignore[index]
    assert document["consensus_params"]["version"]["app"] != "0"  # type: ignore[index]
    assert len(document["validators"]) == 3  # type: ignore[arg-type]  # the fourth is jailed


def test_export_at_a_given_height_and_to_stdout(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["export", "--home", str(home), "--height", "5", "--chain-id", "next-1"])
    document = json.loads(capsys.readouterr().out)
    assert (document["initial_height"], document["chain_id"]) == ("6", "next-1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--height", "99"], "give 0 (the latest) or a height from 1 to 17"),
        (["--height", "-1"], "give 0 (the latest)"),
        (["--genesis-time", "yesterday"], "--genesis-time 'yesterday' must be RFC 3339"),
        (["--chain-id", "x" * 51], "longer than CometBFT's 50 characters"),
    ],
)
def test_export_refuses_bad_options_with_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", "--home", str(home), *args])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_export_of_a_running_node_says_to_stop_it(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = Application(AppConfig(db_path=str(home / "data" / "app.db")))
    try:
        with pytest.raises(SystemExit):
            main(["export", "--home", str(home)])
    finally:
        app.close()
    assert "is in use: stop the node first" in capsys.readouterr().err


def test_export_of_a_directory_that_is_no_home_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--home", str(tmp_path)])
    assert "a node home?" in capsys.readouterr().err
