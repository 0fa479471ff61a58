"""The keyring's two backends as operators know them from the SDK: add, recover, import, export,
delete, list, show; the file backend encrypted at rest, the test backend plaintext."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from abci_app.keys import passphrase as sources
from abci_app.keys import secp256k1
from abci_app.keys.errors import (
    CorruptedKeyError,
    KeyExistsError,
    KeyNotFoundError,
    KeysError,
    PassphraseError,
    WrongPassphraseError,
)
from abci_app.keys.hd import private_key_from_mnemonic
from abci_app.keys.keyring import KeyInfo, Keyring
from abci_app.keys.sealed import KdfParams
from tests.unit.keys.vectors import FAUCET_ACCOUNTS, FAUCET_MNEMONIC, address_bytes

FAST = KdfParams(memory_kib=256, iterations=1, lanes=1)
PASS = "keyring passphrase"


def _file(home: Path, passphrase: str = PASS) -> Keyring:
    return Keyring(home, "file", sources.fixed(passphrase), FAST)


def _refuse(prompt: str) -> str:
    raise AssertionError(f"asked for a passphrase: {prompt}")


@pytest.fixture(params=["file", "test"])
def keyring(request: pytest.FixtureRequest, tmp_path: Path) -> Keyring:
    return Keyring(tmp_path, request.param, sources.fixed(PASS), FAST)


def test_add_returns_a_24_word_mnemonic_that_recovers_the_same_key(keyring: Keyring) -> None:
    info, mnemonic = keyring.add("alice")
    assert len(mnemonic.split()) == 24
    assert info.address == private_key_from_mnemonic(mnemonic).bech32_address
    keyring.delete("alice")
    assert keyring.recover("alice2", mnemonic) == KeyInfo("alice2", info.pubkey)


def test_the_mnemonic_is_not_stored(keyring: Keyring) -> None:
    _, mnemonic = keyring.add("alice")
    stored = (keyring.directory / "alice.json").read_text()
    assert all(word not in stored.split('"') for word in mnemonic.split()[:3])


def test_recover_follows_the_cosmos_path_with_account_and_index(keyring: Keyring) -> None:
    info = keyring.recover("faucet2", FAUCET_MNEMONIC, index=2)
    pubkey, address = FAUCET_ACCOUNTS[2]
    assert info.pubkey == base64.b64decode(pubkey)
    assert secp256k1.address(info.pubkey) == address_bytes(address)


def test_list_is_sorted_and_show_finds_by_name_or_address(keyring: Keyring) -> None:
    bob = keyring.recover("bob", FAUCET_MNEMONIC)
    alice, _ = keyring.add("alice")
    assert [k.name for k in keyring.list()] == ["alice", "bob"]
    assert keyring.show("bob") == bob
    assert keyring.show(alice.address) == alice


def test_show_gives_the_sdk_json_shape(keyring: Keyring) -> None:
    info = keyring.recover("faucet", FAUCET_MNEMONIC)
    shown = info.to_json()
    assert shown["name"] == "faucet" and shown["type"] == "local" and shown["address"].startswith("task1")
    assert json.loads(shown["pubkey"]) == {
        "@type": "/cosmos.crypto.secp256k1.PubKey",
        "key": FAUCET_ACCOUNTS[0][0],
    }


def test_delete_removes_the_key(keyring: Keyring) -> None:
    keyring.add("alice")
    keyring.delete("alice")
    assert keyring.list() == []
    with pytest.raises(KeyNotFoundError, match="no key named 'alice'"):
        keyring.delete("alice")
    with pytest.raises(KeyNotFoundError):
        keyring.show("alice")


def test_a_name_or_key_already_present_is_refused(keyring: Keyring) -> None:
    keyring.recover("faucet", FAUCET_MNEMONIC)
    with pytest.raises(KeyExistsError, match="a key named 'faucet' already exists"):
        keyring.add("faucet")
    with pytest.raises(KeyExistsError, match="already in the keyring as 'faucet'"):
        keyring.recover("again", FAUCET_MNEMONIC)
    assert [k.name for k in keyring.list()] == ["faucet"]


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "a" * 65, "spaced name"])
def test_a_name_that_is_not_a_safe_file_name_is_refused(keyring: Keyring, name: str) -> None:
    with pytest.raises(KeysError, match="key name"):
        keyring.add(name)


def test_key_files_are_private(keyring: Keyring) -> None:
    keyring.add("alice")
    assert stat.S_IMODE((keyring.directory / "alice.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(keyring.directory.stat().st_mode) == 0o700
    assert keyring.directory.name == f"keyring-{keyring.backend}"
    assert [p.name for p in keyring.directory.iterdir()] == ["alice.json"]  # no temporary file left


def test_a_signature_by_a_keyring_key_verifies(keyring: Keyring) -> None:
    keyring.add("alice")
    signature, pubkey = keyring.sign("alice", b"sign doc")
    assert secp256k1.verify(pubkey, b"sign doc", signature)
    assert pubkey == keyring.show("alice").pubkey


def test_export_then_import_moves_a_key_between_backends(tmp_path: Path) -> None:
    source = Keyring(tmp_path / "a", "test")
    info = source.recover("faucet", FAUCET_MNEMONIC)
    armored = source.export_armor("faucet", sources.fixed("export passphrase"))
    assert armored.startswith("-----BEGIN TENDERMINT PRIVATE KEY-----")
    target = _file(tmp_path / "b")
    imported = target.import_armor("faucet", armored, sources.fixed("export passphrase"))
    assert imported == info
    assert target.private_key("faucet") == source.private_key("faucet")


def test_import_with_a_wrong_export_passphrase_stores_nothing(tmp_path: Path) -> None:
    source = Keyring(tmp_path / "a", "test")
    source.add("alice")
    armored = source.export_armor("alice", sources.fixed("export passphrase"))
    target = Keyring(tmp_path / "b", "test")
    with pytest.raises(WrongPassphraseError):
        target.import_armor("alice", armored, sources.fixed("not the export passphrase"))
    assert target.list() == []


def test_the_test_backend_stores_the_key_in_plain_text_and_never_asks(tmp_path: Path) -> None:
    keyring = Keyring(tmp_path, "test", _refuse)
    info = keyring.recover("faucet", FAUCET_MNEMONIC)
    record = json.loads((tmp_path / "keyring-test" / "faucet.json").read_text())
    assert base64.b64decode(record["privkey"]) == private_key_from_mnemonic(FAUCET_MNEMONIC).secret
    assert keyring.sign("faucet", b"x")[1] == info.pubkey


def test_the_file_backend_keeps_no_plain_secret(tmp_path: Path) -> None:
    keyring = _file(tmp_path)
    keyring.recover("faucet", FAUCET_MNEMONIC)
    stored = (tmp_path / "keyring-file" / "faucet.json").read_bytes()
    secret = private_key_from_mnemonic(FAUCET_MNEMONIC).secret
    assert secret not in stored and secret.hex().encode() not in stored
    assert base64.b64encode(secret) not in stored
    assert json.loads(stored)["kdf"] == "argon2id"


def test_the_file_backend_lists_and_shows_without_a_passphrase(tmp_path: Path) -> None:
    _file(tmp_path).add("alice")
    keyring = Keyring(tmp_path, "file", _refuse)
    assert [k.name for k in keyring.list()] == ["alice"]
    assert keyring.show("alice").name == "alice"


def test_the_file_backend_asks_with_a_prompt_naming_the_key(tmp_path: Path) -> None:
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return PASS

    keyring = Keyring(tmp_path, "file", ask, FAST)
    keyring.add("alice")
    keyring.private_key("alice")
    assert prompts == ["passphrase to encrypt key 'alice'", "passphrase for key 'alice'"]


def test_the_file_backend_refuses_a_wrong_passphrase(tmp_path: Path) -> None:
    _file(tmp_path).add("alice")
    with pytest.raises(WrongPassphraseError, match="key 'alice': wrong passphrase"):
        _file(tmp_path, "another passphrase").sign("alice", b"x")


def test_the_file_backend_without_a_passphrase_source_says_how_to_give_one(tmp_path: Path) -> None:
    with pytest.raises(PassphraseError, match="needs a passphrase"):
        Keyring(tmp_path, "file").add("alice")


def test_a_short_passphrase_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(PassphraseError, match="at least 8 characters"):
        _file(tmp_path, "short").add("alice")
    assert _file(tmp_path).list() == []


def _edit(path: Path, **fields: str) -> None:
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | fields))


def test_an_altered_ciphertext_is_reported_as_altered(tmp_path: Path) -> None:
    _file(tmp_path).add("alice")
    path = tmp_path / "keyring-file" / "alice.json"
    raw = bytearray(base64.b64decode(json.loads(path.read_text())["ciphertext"]))
    raw[0] ^= 1
    _edit(path, ciphertext=base64.b64encode(raw).decode())
    with pytest.raises(CorruptedKeyError, match="altered or damaged"):
        _file(tmp_path).private_key("alice")


def test_a_swapped_public_key_is_reported_as_altered(tmp_path: Path) -> None:
    _file(tmp_path).add("alice")
    other = secp256k1.generate()
    path = tmp_path / "keyring-file" / "alice.json"
    _edit(path, pubkey=base64.b64encode(other.public_key).decode(), address=other.bech32_address)
    assert _file(tmp_path).show("alice").address == other.bech32_address  # readable without a passphrase...
    with pytest.raises(CorruptedKeyError):  # ...but the key will not sign under it
        _file(tmp_path).private_key("alice")


def test_an_address_that_does_not_match_the_public_key_is_reported(keyring: Keyring) -> None:
    keyring.add("alice")
    _edit(keyring.directory / "alice.json", address=secp256k1.generate().bech32_address)
    with pytest.raises(CorruptedKeyError, match="does not match its public key"):
        keyring.list()


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '{"format": "other"}'])
def test_a_damaged_key_file_is_reported_naming_it(keyring: Keyring, content: str) -> None:
    keyring.directory.mkdir(parents=True)
    (keyring.directory / "alice.json").write_text(content)
    with pytest.raises(CorruptedKeyError, match="alice"):
        keyring.show("alice")


def test_an_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeysError, match="use one of file, test"):
        Keyring(tmp_path, "os")


def test_a_passphrase_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "pass.txt"
    path.write_text(PASS + "\nignored second line\n")
    assert sources.from_file(path)("prompt") == PASS
    path.write_text("\n")
    with pytest.raises(PassphraseError, match="is empty"):
        sources.from_file(path)("prompt")
    with pytest.raises(PassphraseError, match="cannot read the passphrase file"):
        sources.from_file(tmp_path / "missing")("prompt")


def test_a_passphrase_can_come_from_an_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKMASTER_TEST_KEYRING_PASS", PASS)
    assert sources.from_env("TASKMASTER_TEST_KEYRING_PASS")("prompt") == PASS
    monkeypatch.delenv("TASKMASTER_TEST_KEYRING_PASS")
    with pytest.raises(PassphraseError, match=r"TASKMASTER_TEST_KEYRING_PASS .* unset or empty"):
        sources.from_env("TASKMASTER_TEST_KEYRING_PASS")("prompt")


def test_the_file_keyring_works_with_a_passphrase_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKMASTER_TEST_KEYRING_PASS", PASS)
    keyring = Keyring(tmp_path, "file", sources.from_env("TASKMASTER_TEST_KEYRING_PASS"), FAST)
    info, _ = keyring.add("alice")
    assert keyring.sign("alice", b"x")[1] == info.pubkey
