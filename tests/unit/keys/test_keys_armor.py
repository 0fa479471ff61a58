"""The armored export: the SDK's armor layout, argon2id + ChaCha20-Poly1305 inside, clear errors."""

from __future__ import annotations

import base64

import pytest

from abci_app.keys import armor
from abci_app.keys.errors import ArmorError, CorruptedKeyError, PassphraseError, WrongPassphraseError
from abci_app.keys.sealed import DEFAULT_KDF, KdfParams
from abci_app.keys.secp256k1 import PrivKey, generate

FAST = KdfParams(memory_kib=256, iterations=1, lanes=1)  # the format is the same; only the cost differs
KEY = PrivKey(bytes.fromhex("11" * 32))
PASS = "export passphrase"


def _armored(params: KdfParams = FAST) -> str:
    return armor.encrypt_armor_priv_key(KEY, PASS, params)


def _rearmor(text: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> str:
    """``text`` with headers or body replaced, and a CRC-24 that matches again (a deliberate edit)."""
    block_type, old_headers, old_body = armor.decode_armor(text)
    return armor.encode_armor(block_type, headers or old_headers, old_body if body is None else body)


def test_crc24_gives_the_catalogued_check_value() -> None:
    # CRC-24/OPENPGP in the CRC RevEng catalogue: check (CRC of "123456789") = 0x21cf02
    assert armor.crc24(b"123456789") == 0x21CF02


def test_an_export_round_trips_with_the_default_costs() -> None:
    text = armor.encrypt_armor_priv_key(KEY, PASS)
    assert f"kdfparams: {DEFAULT_KDF.text()}\n" in text
    assert armor.unarmor_decrypt_priv_key(text, PASS) == KEY


def test_the_export_has_the_sdk_armor_layout() -> None:
    lines = _armored().splitlines()
    assert lines[0] == "-----BEGIN TENDERMINT PRIVATE KEY-----"
    assert lines[-1] == "-----END TENDERMINT PRIVATE KEY-----"
    blank = lines.index("")
    headers = dict(line.split(": ", 1) for line in lines[1:blank])
    assert sorted(headers) == ["check", "cipher", "kdf", "kdfparams", "salt", "type"]
    assert headers["kdf"] == "argon2id" and headers["type"] == "secp256k1"
    assert headers["cipher"] == "chacha20-poly1305" and len(bytes.fromhex(headers["salt"])) == 16
    assert lines[-2].startswith("=") and len(lines[-2]) == 5
    body = base64.b64decode("".join(lines[blank + 1 : -2]))
    assert len(body) == 12 + 32 + 16  # nonce, key, tag
    assert KEY.secret not in body


def test_two_exports_of_one_key_differ() -> None:
    assert _armored() != _armored()  # fresh salt and nonce each time


def test_a_wrong_passphrase_is_told_apart() -> None:
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        armor.unarmor_decrypt_priv_key(_armored(), "not the passphrase")


def test_an_edited_body_is_reported_as_altered() -> None:
    text = _armored()
    _, _, body = armor.decode_armor(text)
    edited = body[:20] + bytes([body[20] ^ 1]) + body[21:]
    with pytest.raises(CorruptedKeyError, match="altered or damaged"):
        armor.unarmor_decrypt_priv_key(_rearmor(text, body=edited), PASS)


@pytest.mark.parametrize("header", ["salt", "kdfparams", "check"])
def test_an_edited_salt_cost_or_check_is_refused_as_not_opening(header: str) -> None:
    # these change the key derived from the passphrase (or the check of it): the export does not open
    text = _armored()
    _, headers, _ = armor.decode_armor(text)
    edited = {"salt": "00" * 16, "kdfparams": "m=512,t=1,p=1", "check": "00" * 16}[header]
    with pytest.raises(WrongPassphraseError):
        armor.unarmor_decrypt_priv_key(_rearmor(text, headers | {header: edited}), PASS)


def test_an_added_header_is_refused() -> None:
    text = _armored()
    _, headers, _ = armor.decode_armor(text)
    with pytest.raises(ArmorError, match="unexpected \\['comment'\\]"):
        armor.unarmor_decrypt_priv_key(_rearmor(text, headers | {"comment": "x"}), PASS)


def test_a_character_damaged_in_copying_fails_the_crc() -> None:
    lines = _armored().splitlines()
    body_line = lines.index("") + 1
    line = lines[body_line]
    lines[body_line] = ("B" if line[0] != "B" else "C") + line[1:]
    with pytest.raises(ArmorError, match="CRC-24 does not match"):
        armor.unarmor_decrypt_priv_key("\n".join(lines), PASS)


def test_an_sdk_export_is_recognised_and_refused_with_what_to_do() -> None:
    sdk = armor.encode_armor(
        "TENDERMINT PRIVATE KEY", {"kdf": "bcrypt", "salt": "00" * 16, "type": "secp256k1"}, bytes(72)
    )
    with pytest.raises(ArmorError, match=r"exported by the Cosmos SDK .* --recover"):
        armor.unarmor_decrypt_priv_key(sdk, PASS)


def test_another_armor_type_is_refused() -> None:
    public = armor.encode_armor("TENDERMINT PUBLIC KEY", {"version": "0.0.1"}, generate().public_key)
    with pytest.raises(ArmorError, match="unrecognized armor type"):
        armor.unarmor_decrypt_priv_key(public, PASS)


def test_hostile_kdf_costs_are_refused_before_deriving() -> None:
    text = _armored()
    _, headers, _ = armor.decode_armor(text)
    with pytest.raises(ArmorError, match="argon2id memory"):
        armor.unarmor_decrypt_priv_key(_rearmor(text, headers | {"kdfparams": "m=99999999,t=3,p=4"}), PASS)


def test_crlf_line_ends_and_surrounding_text_are_accepted() -> None:
    text = "exported on Tuesday\r\n\r\n" + _armored().replace("\n", "\r\n") + "\r\n\r\n"
    assert armor.unarmor_decrypt_priv_key(text, PASS) == KEY


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda t: "", "no '-----BEGIN"),
        (lambda t: t.replace("-----END TENDERMINT PRIVATE KEY-----", ""), "must end with"),
        (lambda t: t + "trailing words\n", "text follows"),
        (lambda t: t.replace("kdf: argon2id\n", "kdf: argon2id\nkdf: argon2id\n"), "appears twice"),
        (lambda t: t.replace("cipher: ", "cipher "), "not a 'name: value' header"),
        (lambda t: "\n".join(x for x in t.split("\n") if not x.startswith("=")), "no '=' CRC-24 line"),
        (lambda t: t.replace("type: secp256k1", "type: sécp"), "ASCII"),
    ],
)
def test_malformed_armor_is_refused_saying_what_is_wrong(edit: object, says: str) -> None:
    assert callable(edit)
    with pytest.raises(ArmorError, match=says):
        armor.unarmor_decrypt_priv_key(edit(_armored()), PASS)


def test_a_short_export_passphrase_is_refused() -> None:
    with pytest.raises(PassphraseError, match="at least 8 characters"):
        armor.encrypt_armor_priv_key(KEY, "short", FAST)


def test_an_empty_header_value_round_trips() -> None:
    # found by the armor round-trip property: "name: " loses its space to the trailing-space trim
    text = armor.encode_armor("TENDERMINT KEY INFO", {"comment": ""}, b"x")
    assert armor.decode_armor(text) == ("TENDERMINT KEY INFO", {"comment": ""}, b"x")
