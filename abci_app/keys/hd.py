"""BIP39 mnemonics and BIP32/BIP44 derivation, as the Cosmos SDK's ``crypto/hd`` uses them.

A new key is 24 English words (256 bits of entropy and an 8-bit checksum, BIP39). The words and an
optional BIP39 passphrase give a 64-byte seed (PBKDF2-HMAC-SHA512, 2048 rounds); BIP32 derives the
account's private key from the seed along ``m/44'/118'/account'/0/index`` (BIP44, coin type 118 is
the Cosmos Hub's, which Keplr, cosmjs and ``simd keys add`` use by default). Recovery accepts any valid
BIP39 length (12, 15, 18, 21 or 24 words), as the SDK does.

BIP39 is trezor's reference implementation (``mnemonic``), BIP32 is ``bip32`` over libsecp256k1.
"""

from __future__ import annotations

import re
import unicodedata

from bip32 import BIP32
from mnemonic import Mnemonic

from abci_app.keys.errors import InvalidMnemonicError, InvalidPathError
from abci_app.keys.secp256k1 import PrivKey

COIN_TYPE = 118
COSMOS_HD_PATH = "m/44'/118'/0'/0/0"
NEW_MNEMONIC_WORDS = 24
VALID_WORD_COUNTS = (12, 15, 18, 21, 24)
HARDENED = 0x80000000
_PATH_STEP = re.compile(r"^(\d{1,10})('?)$")

_ENGLISH = Mnemonic("english")
_WORDS = frozenset(_ENGLISH.wordlist)


def hd_path(account: int = 0, index: int = 0) -> str:
    """The Cosmos path of ``account`` and address ``index``: ``m/44'/118'/account'/0/index``."""
    return f"m/44'/{COIN_TYPE}'/{account}'/0/{index}"


def new_mnemonic() -> str:
    """A fresh 24-word English mnemonic from the operating system's randomness."""
    return str(_ENGLISH.generate(strength=256))


def normalize_mnemonic(mnemonic: str) -> str:
    """``mnemonic`` as BIP39 reads it: NFKD, words separated by single spaces.

    Raises :class:`InvalidMnemonicError` saying what is wrong: the number of words, a word not in the
    English list (by position), or the checksum (a word mistyped into another valid word).
    """
    words = unicodedata.normalize("NFKD", mnemonic).split()
    if len(words) not in VALID_WORD_COUNTS:
        counts = ", ".join(str(n) for n in VALID_WORD_COUNTS)
        raise InvalidMnemonicError(f"a mnemonic has {counts} words; this one has {len(words)}")
    for position, word in enumerate(words, start=1):
        if word not in _WORDS:
            hint = " (write it in lowercase)" if word.lower() in _WORDS else ""
            raise InvalidMnemonicError(
                f"word {position} ({word!r}) is not in the English BIP39 word list{hint}"
            )
    sentence = " ".join(words)
    if not _ENGLISH.check(sentence):
        raise InvalidMnemonicError(
            "the mnemonic's checksum does not match: a word was mistyped or the words are out of order"
        )
    return sentence


def seed_from_mnemonic(mnemonic: str, bip39_passphrase: str = "") -> bytes:
    """The 64-byte BIP39 seed of a valid ``mnemonic`` (and optional BIP39 passphrase)."""
    return bytes(Mnemonic.to_seed(normalize_mnemonic(mnemonic), bip39_passphrase))


def parse_path(path: str) -> list[int]:
    """BIP32 child indexes of ``path`` (``m/44'/118'/0'/0/0``); hardened steps carry the 2^31 bit."""
    steps = path.split("/")
    if steps[0] != "m" or len(steps) > 256:
        raise InvalidPathError(f"an HD path starts with 'm/' (e.g. {COSMOS_HD_PATH!r}); got {path[:80]!r}")
    indexes = []
    for step in steps[1:]:
        match = _PATH_STEP.match(step)
        if match is None or int(match.group(1)) >= HARDENED:
            raise InvalidPathError(
                f"HD path step {step[:20]!r} must be a number below 2^31, with ' if hardened "
                f"(in {path[:80]!r})"
            )
        indexes.append(int(match.group(1)) | (HARDENED if match.group(2) else 0))
    return indexes


def derive_private_key(seed: bytes, path: str = COSMOS_HD_PATH) -> PrivKey:
    """The private key at ``path`` below the BIP32 master key of ``seed``."""
    indexes = parse_path(path)
    secret = BIP32.from_seed(seed).get_privkey_from_path(indexes)
    return PrivKey(bytes(secret))


def private_key_from_mnemonic(
    mnemonic: str, bip39_passphrase: str = "", path: str = COSMOS_HD_PATH
) -> PrivKey:
    """The account key of ``mnemonic`` at ``path`` (by default the first Cosmos account)."""
    return derive_private_key(seed_from_mnemonic(mnemonic, bip39_passphrase), path)
