"""``taskmaster keys``: the SDK's keyring commands over abci_app/keys (file and test backends)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from abci_app.cli import main
from abci_app.keys.secp256k1 import CURVE_ORDER, verify
from abci_app.node.keyring import Keyring
from abci_app.tx.address import to_bech32
from tests.unit.keys.vectors import FAUCET_ADDRESS, FAUCET_MNEMONIC, address_bytes


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        main(list(argv))
        status = 0
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def test_keys_add_prints_the_mnemonic_once_and_recover_gives_the_same_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = str(tmp_path)
    status, out, _ = run(capsys, "keys", "add", "alice", "--home", home, "-o", "json")
    assert status == 0
    made = json.loads(out)
    assert len(made["mnemonic"].split()) == 24
    assert json.loads(made["pubkey"])["@type"] == "/cosmos.crypto.secp256k1.PubKey"
    status, out, _ = run(capsys, "keys", "list", "--home", home, "-o", "json")
    assert "mnemonic" not in out and made["mnemonic"].split()[0] not in out
    assert [k["address"] for k in json.loads(out)] == [made["address"]]
    monkeypatch.setattr("sys.stdin", io.StringIO(made["mnemonic"] + "\n"))
    other = str(tmp_path / "other")
    status, out, _ = run(capsys, "keys", "add", "again", "--recover", "--home", other, "-o", "json")
    assert status == 0 and json.loads(out)["address"] == made["address"]


def test_recover_gives_cosmjs_faucet_address_under_our_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(FAUCET_MNEMONIC + "\n"))
    status, out, _ = run(capsys, "keys", "add", "faucet", "--recover", "--home", str(tmp_path), "-o", "json")
    assert status == 0
    assert json.loads(out)["address"] == to_bech32(address_bytes(FAUCET_ADDRESS))


def test_export_import_delete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path)
    passphrase = tmp_path / "pw"
    passphrase.write_text("correct horse battery staple\n")
    bob = json.loads(run(capsys, "keys", "add", "bob", "--home", home, "-o", "json")[1])["address"]
    status, armored, _ = run(
        capsys, "keys", "export", "bob", "--home", home, "--armor-passphrase-file", str(passphrase)
    )
    assert status == 0 and armored.startswith("-----BEGIN TENDERMINT PRIVATE KEY-----")
    (tmp_path / "bob.armor").write_text(armored)
    status, _, err = run(capsys, "keys", "delete", "bob", "--home", home)
    assert status == 1 and "--yes" in err  # no terminal to confirm on
    assert run(capsys, "keys", "delete", "bob", "--home", home, "--yes")[0] == 0
    status, _, err = run(capsys, "keys", "show", "bob", "--home", home)
    assert status == 1 and "no key named 'bob'" in err
    args = ("keys", "import", "bob2", str(tmp_path / "bob.armor"), "--home", home)
    status, out, _ = run(capsys, *args, "--armor-passphrase-file", str(passphrase), "-o", "json")
    assert status == 0 and json.loads(out)["address"] == bob
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    status, _, err = run(
        capsys,
        "keys",
        "import",
        "bob3",
        str(tmp_path / "bob.armor"),
        "--home",
        home,
        "--armor-passphrase-file",
        str(wrong),
    )
    assert status == 1 and err.startswith("error:")


def test_the_file_backend_seals_the_key_and_signs_with_the_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path)
    pw = tmp_path / "pw"
    pw.write_text("a long enough passphrase\n")
    flags = ("--home", home, "--keyring-backend", "file", "--keyring-passphrase-file", str(pw))
    status, out, err = run(capsys, "keys", "add", "carol", *flags, "-o", "json")
    assert status == 0, err
    made = json.loads(out)
    record = (tmp_path / "keyring-file" / "carol.json").read_text()
    assert "privkey" not in record and "ciphertext" in record
    status, _, err = run(capsys, "keys", "show", "carol", "--home", home)  # the test backend: not there
    assert status == 1 and "--keyring-backend file" in err
    from abci_app.keys.passphrase import from_file

    key = Keyring(home, "file", from_file(pw)).get("carol")
    signature = key.signing_key.sign(b"doc")
    assert verify(key.public_key, b"doc", signature) and key.address == made["address"]
    assert int.from_bytes(signature[32:], "big") <= CURVE_ORDER // 2


def test_an_empty_keyring_names_the_other_backend_of_the_home_that_holds_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path)
    run(capsys, "keys", "add", "faucet", "--home", home, "--keyring-backend", "test")
    status, out, _ = run(capsys, "keys", "list", "--home", home, "--keyring-backend", "file")
    assert status == 0
    assert "no keys in the file keyring" in out and "add --keyring-backend test" in out
    empty = str(tmp_path / "empty")
    status, out, _ = run(capsys, "keys", "list", "--home", empty, "--keyring-backend", "test")
    assert "no keys in the test keyring" in out and "--keyring-backend file" not in out
