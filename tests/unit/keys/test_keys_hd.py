"""BIP39 and BIP32 as the outside defines them: trezor's BIP39 vectors, BIP32 test vector 1, and
mnemonic -> address pairs from cosmjs's tests (tests/unit/keys/vectors.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from bip32 import BIP32
from mnemonic import Mnemonic

from abci_app.keys import hd
from abci_app.keys.errors import InvalidMnemonicError, InvalidPathError
from tests.unit.keys.vectors import (
    DEFAULT_ADDRESS,
    DEFAULT_MNEMONIC,
    DEFAULT_PUBKEY_HEX,
    FAUCET_ACCOUNTS,
    FAUCET_MNEMONIC,
    GO_ADDRESS,
    GO_MNEMONIC,
    address_bytes,
)

FIXTURE = json.loads((Path(__file__).parents[2] / "fixtures" / "keys" / "bip39_vectors.json").read_text())
BIP39_VECTORS = [tuple(v) for v in FIXTURE["english"]]

# BIP-0032, "Test vector 1" (bitcoin/bips, bip-0032.mediawiki): seed and the ext prv of each chain
BIP32_SEED_1 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
BIP32_VECTOR_1 = [
    (
        "m",
        "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
    ),
    (
        "m/0'",
        "xprv9uHRZZhk6KAJC1avXpDAp4MDc3sQKNxDiPvvkX8Br5ngLNv1TxvUxt4cV1rGL5hj6KCesnDYUhd7oWgT11eZG7XnxHrnYeSvkzY7d2bhkJ7",
    ),
    (
        "m/0'/1",
        "xprv9wTYmMFdV23N2TdNG573QoEsfRrWKQgWeibmLntzniatZvR9BmLnvSxqu53Kw1UmYPxLgboyZQaXwTCg8MSY3H2EU4pWcQDnRnrVA1xe8fs",
    ),
    (
        "m/0'/1/2'",
        "xprv9z4pot5VBttmtdRTWfWQmoH1taj2axGVzFqSb8C9xaxKymcFzXBDptWmT7FwuEzG3ryjH4ktypQSAewRiNMjANTtpgP4mLTj34bhnZX7UiM",
    ),
    (
        "m/0'/1/2'/2",
        "xprvA2JDeKCSNNZky6uBCviVfJSKyQ1mDYahRjijr5idH2WwLsEd4Hsb2Tyh8RfQMuPh7f7RtyzTtdrbdqqsunu5Mm3wDvUAKRHSC34sJ7in334",
    ),
    (
        "m/0'/1/2'/2/1000000000",
        "xprvA41z7zogVVwxVSgdKUHDy1SKmdb533PjDz7J6N6mV6uS3ze1ai8FHa8kmHScGpWmj4WggLyQjgPie1rFSruoUihUZREPSL39UNdE3BBDu76",
    ),
]


def _xprv_secret(xprv: str) -> bytes:
    return bytes(BIP32.from_xpriv(xprv).privkey)


def test_the_fixture_holds_all_24_english_reference_vectors() -> None:
    assert len(BIP39_VECTORS) == 24 and FIXTURE["passphrase"] == "TREZOR"


@pytest.mark.parametrize(("entropy", "mnemonic", "seed", "xprv"), BIP39_VECTORS)
def test_bip39_reference_vectors(entropy: str, mnemonic: str, seed: str, xprv: str) -> None:
    assert Mnemonic("english").to_mnemonic(bytes.fromhex(entropy)) == mnemonic
    assert hd.normalize_mnemonic(mnemonic) == mnemonic
    produced = hd.seed_from_mnemonic(mnemonic, "TREZOR")
    assert produced.hex() == seed
    assert hd.derive_private_key(produced, "m").secret == _xprv_secret(xprv)


@pytest.mark.parametrize(("path", "xprv"), BIP32_VECTOR_1)
def test_bip32_test_vector_1(path: str, xprv: str) -> None:
    assert hd.derive_private_key(BIP32_SEED_1, path).secret == _xprv_secret(xprv)


def test_cosmjs_default_mnemonic_gives_its_public_key_and_address() -> None:
    key = hd.private_key_from_mnemonic(DEFAULT_MNEMONIC)
    assert key.public_key.hex() == DEFAULT_PUBKEY_HEX
    assert key.address == address_bytes(DEFAULT_ADDRESS)


def test_cosmjs_address_made_as_the_go_implementation_does() -> None:
    assert hd.private_key_from_mnemonic(GO_MNEMONIC).address == address_bytes(GO_ADDRESS)


@pytest.mark.parametrize(("index", "account"), list(enumerate(FAUCET_ACCOUNTS)))
def test_cosmjs_faucet_accounts_along_the_cosmos_path(index: int, account: tuple[str, str]) -> None:
    pubkey, address = account
    key = hd.private_key_from_mnemonic(FAUCET_MNEMONIC, path=hd.hd_path(0, index))
    assert key.public_key == base64.b64decode(pubkey)
    assert key.address == address_bytes(address)


def test_the_default_path_is_the_cosmos_hub_path() -> None:
    assert hd.COSMOS_HD_PATH == hd.hd_path() == "m/44'/118'/0'/0/0"
    assert hd.parse_path(hd.COSMOS_HD_PATH) == [44 | hd.HARDENED, 118 | hd.HARDENED, hd.HARDENED, 0, 0]


def test_a_bip39_passphrase_gives_another_key() -> None:
    assert hd.private_key_from_mnemonic(DEFAULT_MNEMONIC, "password123") != hd.private_key_from_mnemonic(
        DEFAULT_MNEMONIC
    )


def test_a_new_mnemonic_is_24_valid_words_and_new_each_time() -> None:
    first, second = hd.new_mnemonic(), hd.new_mnemonic()
    assert len(first.split()) == 24 and first != second
    assert hd.normalize_mnemonic(first) == first


def test_extra_whitespace_between_words_is_ignored() -> None:
    spaced = "  " + DEFAULT_MNEMONIC.replace(" ", " \n\t ") + "\n"
    assert hd.private_key_from_mnemonic(spaced) == hd.private_key_from_mnemonic(DEFAULT_MNEMONIC)


@pytest.mark.parametrize(
    ("mnemonic", "says"),
    [
        ("", "this one has 0"),
        (" ".join(DEFAULT_MNEMONIC.split()[:11]), "this one has 11"),
        (
            DEFAULT_MNEMONIC.replace("patrol", "patrolx"),
            "word 5 ('patrolx') is not in the English BIP39 word list",
        ),
        (DEFAULT_MNEMONIC.replace("special", "Special"), "write it in lowercase"),
        (DEFAULT_MNEMONIC.replace("ceiling", "abandon"), "checksum does not match"),
    ],
)
def test_an_invalid_mnemonic_is_refused_saying_why(mnemonic: str, says: str) -> None:
    with pytest.raises(InvalidMnemonicError, match=says.replace("(", r"\(").replace(")", r"\)")):
        hd.private_key_from_mnemonic(mnemonic)


@pytest.mark.parametrize("path", ["", "44'/118'", "m/44'/x", "m/2147483648", "m//0", "m/0h", "m/-1"])
def test_a_malformed_path_is_refused(path: str) -> None:
    with pytest.raises(InvalidPathError):
        hd.derive_private_key(BIP32_SEED_1, path)
