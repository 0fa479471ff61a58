"""Passphrase encryption of a private key: argon2id, then ChaCha20-Poly1305 (both from ``cryptography``).

``seal`` draws a fresh 16-byte salt and 12-byte nonce for every encryption, derives a 32-byte key
with argon2id (memory-hard: a guess costs ``memory_kib`` of memory and ``iterations`` passes), and
encrypts with ChaCha20-Poly1305 under associated data the caller names (the key's name, type and
public key in a key file; the armor headers in an export), so none of them can be swapped unnoticed.

A 16-byte ``check`` (SHA-256 of a label and the derived key, truncated) is stored beside the
ciphertext so a wrong passphrase and an altered file give different errors: a check mismatch is a
wrong passphrase, a check match with a failed tag is a damaged or altered file. It lets a guess be
tested without the AEAD, which costs an attacker nothing: every guess still costs one argon2id.

The parameters travel with the ciphertext, so defaults can rise without breaking old files; they are
bounded when read, so a hostile file cannot ask for gigabytes of memory before any check.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from abci_app.keys.errors import CorruptedKeyError, KeysError, PassphraseError, WrongPassphraseError

KDF_NAME = "argon2id"
CIPHER_NAME = "chacha20-poly1305"
SALT_LEN = 16
NONCE_LEN = 12
KEY_LEN = 32
CHECK_LEN = 16
MIN_PASSPHRASE_LEN = 8  # as the SDK's keyring asks of a new passphrase
_CHECK_LABEL = b"taskmaster keys: passphrase check\x00"

MAX_MEMORY_KIB = 1 << 20  # 1 GiB
MAX_ITERATIONS = 64
MAX_LANES = 64
_PARAMS_TEXT = re.compile(r"^m=(\d{1,8}),t=(\d{1,3}),p=(\d{1,3})$")


@dataclass(frozen=True)
class KdfParams:
    """argon2id costs: memory in KiB, passes over it, and lanes (parallelism)."""

    memory_kib: int
    iterations: int
    lanes: int

    def __post_init__(self) -> None:
        if not 1 <= self.lanes <= MAX_LANES:
            raise KeysError(f"argon2id lanes must be in [1, {MAX_LANES}], got {self.lanes}")
        if not 8 * self.lanes <= self.memory_kib <= MAX_MEMORY_KIB:
            raise KeysError(
                f"argon2id memory must be in [8 x lanes, {MAX_MEMORY_KIB}] KiB, got {self.memory_kib}"
            )
        if not 1 <= self.iterations <= MAX_ITERATIONS:
            raise KeysError(f"argon2id iterations must be in [1, {MAX_ITERATIONS}], got {self.iterations}")

    def text(self) -> str:
        """The parameters as stored: ``m=65536,t=3,p=4``."""
        return f"m={self.memory_kib},t={self.iterations},p={self.lanes}"

    @classmethod
    def parse(cls, text: str) -> KdfParams:
        """Parameters from their stored form; :class:`KeysError` if malformed or out of bounds."""
        match = _PARAMS_TEXT.match(text)
        if match is None:
            raise KeysError(f"argon2id parameters must read m=<KiB>,t=<passes>,p=<lanes>; got {text[:60]!r}")
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)))


# RFC 9106 section 4, the second recommended option (64 MiB, 3 passes, 4 lanes): about 0.2 s here
DEFAULT_KDF = KdfParams(memory_kib=64 * 1024, iterations=3, lanes=4)


@dataclass(frozen=True)
class Sealed:
    """One encrypted secret and everything but the passphrase needed to open it."""

    params: KdfParams
    salt: bytes
    nonce: bytes
    check: bytes
    ciphertext: bytes  # the encrypted secret followed by the 16-byte Poly1305 tag


def check_new_passphrase(passphrase: str) -> None:
    """Refuse a passphrase too short to encrypt a new key with."""
    if len(passphrase) < MIN_PASSPHRASE_LEN:
        raise PassphraseError(f"a passphrase must be at least {MIN_PASSPHRASE_LEN} characters")


def derive_key(passphrase: str, salt: bytes, params: KdfParams) -> bytes:
    """The 32-byte encryption key of ``passphrase`` under ``salt`` and ``params``."""
    kdf = Argon2id(
        salt=salt,
        length=KEY_LEN,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return bytes(kdf.derive(passphrase.encode("utf-8")))


def _check_value(key: bytes) -> bytes:
    return hashlib.sha256(_CHECK_LABEL + key).digest()[:CHECK_LEN]


def new_salt() -> bytes:
    """A fresh random salt (drawn before sealing when the salt is part of the associated data)."""
    return os.urandom(SALT_LEN)


def seal(
    secret: bytes, passphrase: str, associated_data: bytes, params: KdfParams = DEFAULT_KDF, salt: bytes = b""
) -> Sealed:
    """Encrypt ``secret`` under ``passphrase`` with a fresh nonce (and salt, unless given from
    :func:`new_salt`), bound to ``associated_data``."""
    check_new_passphrase(passphrase)
    salt = salt or new_salt()
    if len(salt) != SALT_LEN:
        raise KeysError(f"a salt is {SALT_LEN} bytes")
    nonce = os.urandom(NONCE_LEN)
    key = derive_key(passphrase, salt, params)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, secret, associated_data)
    return Sealed(params, salt, nonce, _check_value(key), ciphertext)


def open_sealed(sealed: Sealed, passphrase: str, associated_data: bytes, what: str) -> bytes:
    """The secret in ``sealed``; ``what`` names it in errors ("key 'alice'").

    Raises :class:`WrongPassphraseError` if the passphrase is not the one it was sealed with, and
    :class:`CorruptedKeyError` if the passphrase is right but the ciphertext or data bound to it changed.
    """
    if len(sealed.salt) != SALT_LEN or len(sealed.nonce) != NONCE_LEN or len(sealed.check) != CHECK_LEN:
        raise CorruptedKeyError(f"{what}: salt, nonce or check has the wrong length; the file is damaged")
    key = derive_key(passphrase, sealed.salt, sealed.params)
    if not hmac.compare_digest(_check_value(key), sealed.check):
        raise WrongPassphraseError(f"{what}: wrong passphrase")
    try:
        return bytes(ChaCha20Poly1305(key).decrypt(sealed.nonce, sealed.ciphertext, associated_data))
    except InvalidTag:
        raise CorruptedKeyError(
            f"{what}: the passphrase is right but the encrypted data or its header was altered or damaged"
        ) from None
