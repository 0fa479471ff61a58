"""A keyring with the Cosmos SDK's ``file`` and ``test`` backends (docs/keys.md).

Keys live in ``<home>/keyring-<backend>/``, one JSON file per key named ``<name>.json``, mode 0600 in a
0700 directory, written atomically and never overwritten (a name is deleted before it is reused).

* ``file``: the private key is sealed with the passphrase (argon2id + ChaCha20-Poly1305,
  :mod:`abci_app.keys.sealed`), with the record's name, type, address and public key bound as associated
  data. The public part stays readable, so ``list`` and ``show`` ask no passphrase (the SDK's file
  backend asks even for those).
* ``test``: the private key in plain base64, for localnets and tests only; the backend is named so.

``add`` makes a 24-word mnemonic and returns it once: the keyring keeps the derived private key, never
the mnemonic.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abci_app.keys.armor import encrypt_armor_priv_key, unarmor_decrypt_priv_key
from abci_app.keys.errors import (
    CorruptedKeyError,
    KeyExistsError,
    KeyNotFoundError,
    KeysError,
    PassphraseError,
)
from abci_app.keys.hd import hd_path, new_mnemonic, private_key_from_mnemonic
from abci_app.keys.passphrase import PassphraseSource
from abci_app.keys.sealed import (
    CIPHER_NAME,
    DEFAULT_KDF,
    KDF_NAME,
    KdfParams,
    Sealed,
    check_new_passphrase,
    new_salt,
    open_sealed,
    seal,
)
from abci_app.keys.secp256k1 import KEY_TYPE, PUBKEY_TYPE_URL, PrivKey, bech32_address, check_public_key

BACKEND_FILE = "file"
BACKEND_TEST = "test"
BACKENDS = (BACKEND_FILE, BACKEND_TEST)
RECORD_TYPE = "local"  # the SDK's record type for a key whose private part the keyring holds
FORMATS = {BACKEND_FILE: "taskmaster-keyring-file/v1", BACKEND_TEST: "taskmaster-keyring-test/v1"}
KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_RECORD_BYTES = 16 * 1024
_PUBLIC_FIELDS = ("format", "name", "type", "algo", "address", "pubkey")
_SEALED_FIELDS = ("kdf", "kdfparams", "salt", "cipher", "nonce", "check", "ciphertext")


@dataclass(frozen=True)
class KeyInfo:
    """The public part of a key: what ``keys list`` and ``keys show`` print."""

    name: str
    pubkey: bytes
    type: str = RECORD_TYPE
    algo: str = KEY_TYPE

    @property
    def address(self) -> str:
        """The account address, ``task1...``."""
        return bech32_address(self.pubkey)

    def to_json(self) -> dict[str, str]:
        """The SDK's ``keys show --output json`` shape (``pubkey`` is itself a JSON string)."""
        pubkey = json.dumps({"@type": PUBKEY_TYPE_URL, "key": base64.b64encode(self.pubkey).decode()})
        return {"name": self.name, "type": self.type, "address": self.address, "pubkey": pubkey}


class Keyring:
    """The keys of one backend under ``home``; ``passphrase`` is asked by the ``file`` backend only."""

    def __init__(
        self,
        home: str | Path,
        backend: str,
        passphrase: PassphraseSource | None = None,
        kdf_params: KdfParams = DEFAULT_KDF,
    ) -> None:
        if backend not in BACKENDS:
            raise KeysError(f"unknown keyring backend {backend!r}: use one of {', '.join(BACKENDS)}")
        self.backend = backend
        self.directory = Path(home) / f"keyring-{backend}"
        self._passphrase = passphrase
        self._kdf_params = kdf_params

    # ---- operations -------------------------------------------------------------------------

    def add(
        self, name: str, bip39_passphrase: str = "", account: int = 0, index: int = 0
    ) -> tuple[KeyInfo, str]:
        """Create a key from a new 24-word mnemonic; returns its info and the mnemonic (shown once)."""
        self._check_free(name)
        mnemonic = new_mnemonic()
        key = private_key_from_mnemonic(mnemonic, bip39_passphrase, hd_path(account, index))
        return self._store(name, key), mnemonic

    def recover(
        self, name: str, mnemonic: str, bip39_passphrase: str = "", account: int = 0, index: int = 0
    ) -> KeyInfo:
        """Restore the key of ``mnemonic`` at ``m/44'/118'/account'/0/index`` under ``name``."""
        self._check_free(name)
        key = private_key_from_mnemonic(mnemonic, bip39_passphrase, hd_path(account, index))
        return self._store(name, key)

    def import_armor(self, name: str, armored: str | bytes, passphrase: PassphraseSource) -> KeyInfo:
        """Store the key of an armored export under ``name``; ``passphrase`` is the export's."""
        self._check_free(name)
        key = unarmor_decrypt_priv_key(armored, passphrase("passphrase to decrypt the exported key"))
        return self._store(name, key)

    def export_armor(self, name: str, passphrase: PassphraseSource) -> str:
        """The key ``name`` encrypted under a new passphrase and armored (``TENDERMINT PRIVATE KEY``)."""
        key = self.private_key(name)
        return encrypt_armor_priv_key(
            key, passphrase("passphrase to encrypt the exported key"), self._kdf_params
        )

    def delete(self, name: str) -> None:
        """Remove the key ``name`` (its file); :class:`KeyNotFoundError` if there is none."""
        path = self._path(name)
        try:
            path.unlink()
        except FileNotFoundError:
            raise self._not_found(name) from None

    def list(self) -> list[KeyInfo]:
        """Every key, sorted by name."""
        if not self.directory.is_dir():
            return []
        names = sorted(p.name[: -len(".json")] for p in self.directory.glob("*.json"))
        return [self._info(self._load(name)) for name in names if KEY_NAME.match(name)]

    def show(self, name_or_address: str) -> KeyInfo:
        """The key named ``name_or_address``, or the one with that ``task1...`` address."""
        if KEY_NAME.match(name_or_address) and self._path(name_or_address).exists():
            return self._info(self._load(name_or_address))
        for info in self.list():
            if info.address == name_or_address:
                return info
        raise self._not_found(name_or_address)

    def private_key(self, name: str) -> PrivKey:
        """The private key ``name`` (the ``file`` backend asks the passphrase)."""
        record = self._load(name)
        info = self._info(record)
        if self.backend == BACKEND_TEST:
            secret = _b64(record, "privkey", name)
        else:
            sealed = Sealed(
                _kdf_params(record, name),
                _hex(record, "salt", name),
                _hex(record, "nonce", name),
                _hex(record, "check", name),
                _b64(record, "ciphertext", name),
            )
            secret = open_sealed(
                sealed, self._ask(f"passphrase for key {name!r}"), _associated_data(record), f"key {name!r}"
            )
        try:
            key = PrivKey(secret)
        except KeysError:
            raise CorruptedKeyError(
                f"key {name!r}: the stored private key is not a valid secp256k1 key"
            ) from None
        if key.public_key != info.pubkey:
            raise CorruptedKeyError(f"key {name!r}: the stored private key does not match its public key")
        return key

    def sign(self, name: str, message: bytes) -> tuple[bytes, bytes]:
        """(64-byte signature of SHA-256(``message``), 33-byte public key) by the key ``name``."""
        key = self.private_key(name)
        return key.sign(message), key.public_key

    # ---- storage ----------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if not KEY_NAME.match(name):
            raise KeysError(
                f"key name {name[:80]!r}: use 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return self.directory / f"{name}.json"

    def _not_found(self, name: str) -> KeyNotFoundError:
        return KeyNotFoundError(
            f"no key named {name[:80]!r} in the {self.backend} keyring at {self.directory}"
        )

    def _check_free(self, name: str) -> None:
        if self._path(name).exists():
            raise KeyExistsError(
                f"a key named {name!r} already exists in {self.directory}; delete it or choose another name"
            )

    def _ask(self, prompt: str) -> str:
        if self._passphrase is None:
            raise PassphraseError(
                "the file keyring needs a passphrase: ask on the terminal, "
                "or name a passphrase file or environment variable"
            )
        return self._passphrase(prompt)

    def _store(self, name: str, key: PrivKey) -> KeyInfo:
        path = self._path(name)
        for info in self.list():
            if info.pubkey == key.public_key:
                raise KeyExistsError(f"this key is already in the keyring as {info.name!r} ({info.address})")
        record: dict[str, str] = {
            "format": FORMATS[self.backend],
            "name": name,
            "type": RECORD_TYPE,
            "algo": KEY_TYPE,
            "address": key.bech32_address,
            "pubkey": base64.b64encode(key.public_key).decode(),
        }
        if self.backend == BACKEND_TEST:
            record["privkey"] = base64.b64encode(key.secret).decode()
        else:
            passphrase = self._ask(f"passphrase to encrypt key {name!r}")
            check_new_passphrase(passphrase)
            salt = new_salt()
            record |= {
                "kdf": KDF_NAME,
                "kdfparams": self._kdf_params.text(),
                "salt": salt.hex(),
                "cipher": CIPHER_NAME,
            }
            sealed = seal(key.secret, passphrase, _associated_data(record), self._kdf_params, salt)
            record |= {
                "nonce": sealed.nonce.hex(),
                "check": sealed.check.hex(),
                "ciphertext": base64.b64encode(sealed.ciphertext).decode(),
            }
        _write_new(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
        return KeyInfo(name, key.public_key)

    def _load(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise self._not_found(name) from None
        try:
            if len(raw) > MAX_RECORD_BYTES:
                raise ValueError(f"larger than {MAX_RECORD_BYTES} bytes")
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            raise CorruptedKeyError(
                f"key file {path} is not a key record ({e}); restore it or delete it"
            ) from None
        if record.get("format") != FORMATS[self.backend] or record.get("name") != name:
            raise CorruptedKeyError(
                f"key file {path} is not a {self.backend}-backend record of key {name!r}; "
                "restore it or delete it"
            )
        return record

    def _info(self, record: dict[str, Any]) -> KeyInfo:
        name = record["name"]
        pubkey = _b64(record, "pubkey", name)
        try:
            check_public_key(pubkey)
        except KeysError as e:
            raise CorruptedKeyError(f"key {name!r}: {e}") from None
        info = KeyInfo(name, pubkey, str(record.get("type")), str(record.get("algo")))
        if info.type != RECORD_TYPE or info.algo != KEY_TYPE or record.get("address") != info.address:
            raise CorruptedKeyError(
                f"key {name!r}: its type, algorithm or address does not match its public key"
            )
        return info


def _associated_data(record: dict[str, Any]) -> bytes:
    """The record's fields that are bound to its ciphertext: all but nonce, check and ciphertext."""
    bound = {
        k: v for k, v in record.items() if k in _PUBLIC_FIELDS or k in ("kdf", "kdfparams", "salt", "cipher")
    }
    return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _field(record: dict[str, Any], field: str, name: str) -> str:
    value = record.get(field)
    if not isinstance(value, str):
        raise CorruptedKeyError(f"key {name!r}: field {field!r} is missing or not a string")
    return value


def _b64(record: dict[str, Any], field: str, name: str) -> bytes:
    try:
        return base64.b64decode(_field(record, field, name), validate=True)
    except (binascii.Error, ValueError):
        raise CorruptedKeyError(f"key {name!r}: field {field!r} is not base64") from None


def _hex(record: dict[str, Any], field: str, name: str) -> bytes:
    try:
        return bytes.fromhex(_field(record, field, name))
    except ValueError:
        raise CorruptedKeyError(f"key {name!r}: field {field!r} is not hexadecimal") from None


def _kdf_params(record: dict[str, Any], name: str) -> KdfParams:
    if record.get("kdf") != KDF_NAME or record.get("cipher") != CIPHER_NAME:
        raise CorruptedKeyError(f"key {name!r}: expected kdf {KDF_NAME!r} and cipher {CIPHER_NAME!r}")
    try:
        return KdfParams.parse(_field(record, "kdfparams", name))
    except CorruptedKeyError:
        raise
    except KeysError as e:
        raise CorruptedKeyError(f"key {name!r}: {e}") from None


def _write_new(path: Path, text: str) -> None:
    """Write ``path`` (mode 0600, directory 0700) atomically; refuse to replace an existing file."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if the name was taken meanwhile: nothing is overwritten
        except FileExistsError:
            raise KeyExistsError(
                f"a key file {path} already exists; delete the key or choose another name"
            ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
