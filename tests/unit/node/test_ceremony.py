"""The genesis ceremony's commands, in-process: what they write, and every hostile input refused clearly.

Each test runs ``taskmaster`` commands (``abci_app.cli.main``) on operator homes in a temporary
directory, as ``docs/operators.md`` tells operators to; ``init`` runs the pinned ``cometbft init``.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cosmos.tx.v1beta1 import tx_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.cli import main
from abci_app.modules.auth import keeper as auth
from abci_app.node.ceremony import node_id
from abci_app.node.home import cometbft_binary
from abci_app.node.keyring import Keyring
from abci_app.tx.address import from_bech32

pytestmark = pytest.mark.skipif(
    shutil.which(cometbft_binary()) is None, reason="the pinned cometbft is not installed (make build)"
)
CHAIN = "ceremony-test"


@dataclass
class Result:
    code: int
    out: str
    err: str


class Taskmaster:
    """Runs ``taskmaster`` commands in-process and returns their exit code and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch

    def __call__(self, *args: str, stdin: str = "") -> Result:
        self.capsys.readouterr()
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str, stdin: str = "") -> str:
        result = self(*args, stdin=stdin)
        assert result.code == 0, result.err
        return result.out

    def fails(self, *args: str, words: str) -> str:
        result = self(*args)
        assert result.code == 1, result.out
        assert words in result.err, result.err
        return result.err


@pytest.fixture
def tm(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Taskmaster:
    return Taskmaster(capsys, monkeypatch)


def operator(tm: Taskmaster, root: Path, i: int, funds: str = "1000000000utask") -> Path:
    """An operator home with key ``operator``, its genesis account and its gentx."""
    home = root / f"op{i}"
    tm.ok("init", "--no-validator", "--home", str(home), "--chain-id", CHAIN, "--moniker", f"op{i}")
    tm.ok("config", "--home", str(home), "--p2p-laddr", f"127.0.0.1:{26656 + 10 * i}")
    tm.ok("keys", "add", "operator", "--home", str(home))
    tm.ok("add-genesis-account", "operator", funds, "--home", str(home))
    tm.ok("gentx", "operator", "--amount", "100000000utask", "--moniker", f"op{i}", "--home", str(home))
    return home


def address(home: Path) -> str:
    return Keyring(home).get("operator").address


def gentx_file(home: Path) -> Path:
    (path,) = (home / "config" / "gentx").glob("*.json")
    return path


@pytest.fixture
def two(tm: Taskmaster, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two operators; op0 is the coordinator, op1's account and gentx already with it."""
    a, b = operator(tm, tmp_path, 0), operator(tm, tmp_path, 1)
    tm.ok("add-genesis-account", address(b), "1000000000utask", "--home", str(a))
    shutil.copy(gentx_file(b), a / "config" / "gentx")
    yield a, b


def _genesis(home: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((home / "config" / "genesis.json").read_text())
    return data


def _init_chain(genesis: dict[str, Any], db: Path) -> tuple[abci.ResponseInitChain, Application]:
    app = Application(AppConfig(db_path=str(db)))
    time = Timestamp()
    time.FromJsonString(str(genesis["genesis_time"]))
    response = app.init_chain(
        abci.RequestInitChain(
            chain_id=str(genesis["chain_id"]),
            initial_height=1,
            app_state_bytes=json.dumps(genesis["app_state"]).encode(),
            time=time,
        )
    )
    return response, app


# -- what the commands write -----------------------------------------------------------------------


def test_init_without_validator_makes_a_genesis_with_no_account_and_no_validator(
    tm: Taskmaster, tmp_path: Path
) -> None:
    home = tmp_path / "h"
    out = json.loads(
        tm.ok("init", "--no-validator", "--home", str(home), "--chain-id", "any-chain-77", "-o", "json")
    )
    genesis = _genesis(home)
    assert genesis["chain_id"] == "any-chain-77" and genesis["validators"] == []
    assert (
        genesis["app_state"]["auth"]["accounts"] == [] and genesis["app_state"]["staking"]["validators"] == []
    )
    assert out["node_id"] == node_id(home) and Keyring(home).list() == []
    tm.fails("validate-genesis", "--home", str(home), words="would start with no validator")


def test_collected_gentxs_are_delivered_at_init_chain_and_give_cometbft_the_set(
    tm: Taskmaster, two: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = two
    out = json.loads(tm.ok("collect-gentxs", "--home", str(a), "-o", "json"))
    assert sorted(v["power"] for v in out["validators"]) == [100, 100]
    assert out["persistent_peers"] == f"{node_id(b)}@127.0.0.1:26666"
    assert f'persistent_peers = "{node_id(b)}@127.0.0.1:26666"' in (a / "config" / "config.toml").read_text()
    summary = json.loads(tm.ok("validate-genesis", "--home", str(a), "-o", "json"))
    assert (summary["gen_txs"], summary["total_power"], summary["accounts"]) == (2, 200, 2)
    genesis = _genesis(a)
    assert genesis["validators"] == []  # CometBFT takes InitChain's answer
    response, app = _init_chain(genesis, tmp_path / "db")
    try:
        keys = {base64.b64encode(u.pub_key.ed25519).decode(): u.power for u in response.validators}
        for home in (a, b):
            pv = json.loads((home / "config" / "priv_validator_key.json").read_text())
            assert keys[pv["pub_key"]["value"]] == 100
        ctx = app._context(app._block_branch(), 1)
        account = auth.get_account(ctx, from_bech32(address(b)))
        assert account is not None and account.sequence == 1  # the gentx used sequence 0
    finally:
        app.close()


def test_the_other_operators_take_their_peers_from_the_shared_genesis(
    tm: Taskmaster, two: tuple[Path, Path]
) -> None:
    a, b = two
    tm.ok("collect-gentxs", "--home", str(a))
    shutil.copy(a / "config" / "genesis.json", b / "config" / "genesis.json")
    shown = json.loads(tm.ok("config", "--home", str(b), "--peers-from-genesis", "-o", "json"))
    assert shown["persistent_peers"] == f"{node_id(a)}@127.0.0.1:26656"


def test_config_writes_every_address_into_the_file_that_holds_it(tm: Taskmaster, tmp_path: Path) -> None:
    home = tmp_path / "h"
    tm.ok("init", "--no-validator", "--home", str(home), "--chain-id", CHAIN)
    tm.ok(
        "config", "--home", str(home),
        "--p2p-laddr", "10.1.0.2:26656", "--external-address", "203.0.113.7:26656",
        "--rpc-laddr", "10.1.0.2:26657", "--abci-laddr", "127.0.0.1:36658", "--grpc-laddr", "10.1.0.2:9090",
        "--metrics-laddr", "", "--persistent-peers", "ab" * 20 + "@10.1.0.3:26656",
        "--api-laddr", "10.1.0.2:1318",
        "--pricefeed-base-url", "http://10.1.0.1:8080/api/v3", "--pricefeed-api-key-stdin",
        stdin="my-secret-key\n",
    )  # fmt: skip
    toml = (home / "config" / "config.toml").read_text()
    for line in (
        'proxy_app = "tcp://127.0.0.1:36658"',
        'laddr = "tcp://10.1.0.2:26656"',
        'external_address = "203.0.113.7:26656"',
        'laddr = "tcp://10.1.0.2:26657"',
        f'persistent_peers = "{"ab" * 20}@10.1.0.3:26656"',
    ):
        assert line in toml
    settings = json.loads((home / "config" / "app.json").read_text())
    assert (settings["abci_address"], settings["grpc_address"], settings["metrics_address"]) == (
        "tcp://127.0.0.1:36658",
        "10.1.0.2:9090",
        "",
    )
    assert settings["api_address"] == "10.1.0.2:1318"
    assert json.loads(tm.ok("config", "--home", str(home), "-o", "json"))["api_laddr"] == "10.1.0.2:1318"
    tm.fails("config", "--home", str(home), "--api-laddr", "nowhere", words="--api-laddr")
    tm.ok("config", "--home", str(home), "--api-laddr", "")
    assert json.loads((home / "config" / "app.json").read_text())["api_address"] == ""
    feed = home / "config" / "pricefeed.json"
    assert json.loads(feed.read_text())["api_key"] == "my-secret-key" and feed.stat().st_mode & 0o077 == 0
    assert "my-secret-key" not in tm.ok("config", "--home", str(home))


# -- hostile input ---------------------------------------------------------------------------------


def test_a_gentx_whose_signed_bytes_were_changed_is_refused_naming_its_file(
    tm: Taskmaster, two: tuple[Path, Path]
) -> None:
    a, b = two
    path = a / "config" / "gentx" / gentx_file(b).name
    document = json.loads(path.read_text())
    tx = tx_pb2.TxRaw.FromString(base64.b64decode(document["tx"]))
    body = tx_pb2.TxBody.FromString(tx.body_bytes)
    body.memo = "0" * 40 + "@198.51.100.66:26656"  # a relayer pointing peers at its own node
    tx.body_bytes = body.SerializeToString(deterministic=True)
    document["tx"] = base64.b64encode(tx.SerializeToString(deterministic=True)).decode()
    path.write_text(json.dumps(document))
    err = tm.fails("collect-gentxs", "--home", str(a), words="bad signature")
    assert path.name in err
    assert _genesis(a)["app_state"]["staking"].get("gen_txs", []) == []


def test_two_gentxs_of_one_operator_are_refused(tm: Taskmaster, two: tuple[Path, Path]) -> None:
    a, b = two
    shutil.copy(gentx_file(b), a / "config" / "gentx" / "zz-again.json")
    tm.fails("collect-gentxs", "--home", str(a), words=f"a second validator for operator {address(b)}")


def test_a_second_validator_with_the_same_consensus_key_is_refused(
    tm: Taskmaster, two: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = two
    c = tmp_path / "op2"
    tm.ok("init", "--no-validator", "--home", str(c), "--chain-id", CHAIN)
    tm.ok("keys", "add", "operator", "--home", str(c))
    tm.ok("add-genesis-account", "operator", "1000000000utask", "--home", str(c))
    same_key = json.loads((a / "config" / "priv_validator_key.json").read_text())["pub_key"]["value"]
    tm.ok(
        "gentx",
        "operator",
        "--amount",
        "100000000utask",
        "--moniker",
        "copycat",
        "--pubkey",
        same_key,
        "--home",
        str(c),
    )
    tm.ok("add-genesis-account", address(c), "1000000000utask", "--home", str(a))
    shutil.copy(gentx_file(c), a / "config" / "gentx" / "zz-copycat.json")
    tm.fails("collect-gentxs", "--home", str(a), words=f"a second validator for consensus key {same_key}")


def test_a_gentx_account_the_coordinator_did_not_fund_is_refused(tm: Taskmaster, tmp_path: Path) -> None:
    a, b = operator(tm, tmp_path, 0), operator(tm, tmp_path, 1)
    shutil.copy(gentx_file(b), a / "config" / "gentx")
    err = tm.fails("collect-gentxs", "--home", str(a), words=f"account {address(b)} is not in the genesis")
    assert gentx_file(b).name in err
    tm.ok("add-genesis-account", address(b), "100000000utask", "--home", str(a))  # the bond, not the fee
    tm.fails(
        "collect-gentxs", "--home", str(a), words="holds 100000000utask in the genesis, but its gentx bonds"
    )


def test_gentx_refuses_an_account_without_funds(tm: Taskmaster, tmp_path: Path) -> None:
    home = tmp_path / "h"
    tm.ok("init", "--no-validator", "--home", str(home), "--chain-id", CHAIN)
    tm.ok("keys", "add", "operator", "--home", str(home))
    gentx = ("gentx", "operator", "--amount", "100000000utask", "--moniker", "m", "--home", str(home))
    tm.fails(*gentx, words="is not in the genesis; run `taskmaster add-genesis-account")
    tm.ok("add-genesis-account", "operator", "5000utask", "--home", str(home))
    tm.fails(*gentx, words="fund it with at least 100000500utask")


def test_a_gentx_for_another_chain_is_refused(tm: Taskmaster, two: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = two
    other = tmp_path / "other"
    tm.ok("init", "--no-validator", "--home", str(other), "--chain-id", "another-chain")
    tm.ok("keys", "add", "operator", "--home", str(other))
    tm.ok("add-genesis-account", "operator", "1000000000utask", "--home", str(other))
    tm.ok("gentx", "operator", "--amount", "100000000utask", "--moniker", "lost", "--home", str(other))
    tm.ok("add-genesis-account", address(other), "1000000000utask", "--home", str(a))
    shutil.copy(gentx_file(other), a / "config" / "gentx" / "zz-other.json")
    tm.fails("collect-gentxs", "--home", str(a), words="signed for another chain")


def test_a_gentx_edited_into_the_genesis_by_hand_stops_init_chain_with_its_reason(
    tm: Taskmaster, two: tuple[Path, Path], tmp_path: Path
) -> None:
    a, _ = two
    tm.ok("collect-gentxs", "--home", str(a))
    genesis = _genesis(a)
    staking = genesis["app_state"]["staking"]
    raw = bytearray(base64.b64decode(staking["gen_txs"][1]))
    raw[-1] ^= 1  # the signature's last byte
    staking["gen_txs"][1] = base64.b64encode(bytes(raw)).decode()
    (a / "config" / "genesis.json").write_text(json.dumps(genesis))
    tm.fails("validate-genesis", "--home", str(a), words="gen_txs[1]: bad signature")
    with pytest.raises(Exception, match=r"gen_txs\[1\]: bad signature"):
        _init_chain(genesis, tmp_path / "db")


def test_add_genesis_account_refuses_a_second_entry_and_a_bad_address(tm: Taskmaster, tmp_path: Path) -> None:
    home = tmp_path / "h"
    tm.ok("init", "--no-validator", "--home", str(home), "--chain-id", CHAIN)
    tm.ok("keys", "add", "operator", "--home", str(home))
    tm.ok("add-genesis-account", "operator", "10utask", "--home", str(home))
    tm.fails("add-genesis-account", "operator", "10utask", "--home", str(home), words="is already in")
    tm.fails(
        "add-genesis-account", "task1notanaddress", "10utask", "--home", str(home), words="not an account"
    )
    tm.fails("add-genesis-account", "operator", "1.5utask", "--home", str(home), words="must look like")
    tm.fails("add-genesis-account", "operator", "0utask", "--home", str(home), words="must be positive")


def test_config_refuses_a_bad_address_naming_the_flag_and_writes_nothing(
    tm: Taskmaster, tmp_path: Path
) -> None:
    home = tmp_path / "h"
    tm.ok("init", "--no-validator", "--home", str(home), "--chain-id", CHAIN)
    before = (home / "config" / "config.toml").read_text()
    tm.fails(
        "config",
        "--home",
        str(home),
        "--rpc-laddr",
        "10.0.0.1:26657",
        "--grpc-laddr",
        "nowhere",
        words="--grpc-laddr",
    )
    tm.fails("config", "--home", str(home), "--persistent-peers", "abc@1.2.3.4:1", words="40 lower-case hex")
    assert (home / "config" / "config.toml").read_text() == before


def test_gentx_needs_an_address_peers_can_dial(tm: Taskmaster, tmp_path: Path) -> None:
    home = tmp_path / "h"
    tm.ok("init", "--no-validator", "--home", str(home), "--chain-id", CHAIN, "--p2p-laddr", "0.0.0.0:26656")
    tm.ok("keys", "add", "operator", "--home", str(home))
    tm.ok("add-genesis-account", "operator", "1000000000utask", "--home", str(home))
    gentx = (
        "gentx",
        "operator",
        "--amount",
        "100000000utask",
        "--moniker",
        "m",
        "--home",
        str(home),
        "-o",
        "json",
    )
    tm.fails(*gentx, words="give --ip or set `taskmaster config --external-address")
    tm.ok("config", "--home", str(home), "--external-address", "192.0.2.10:26656")
    assert json.loads(tm.ok(*gentx))["memo"] == f"{node_id(home)}@192.0.2.10:26656"
