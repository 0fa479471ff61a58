"""The node home's keyring as the CLI, the localnet tools and the tests use it: the Cosmos SDK's
``file`` and ``test`` backends of :mod:`abci_app.keys.keyring` (secp256k1 keys from BIP39 mnemonics,
``<home>/keyring-<backend>/<name>.json``; docs/keys.md).

The backend is the ``backend`` argument, else the environment variable ``TASKMASTER_KEYRING_BACKEND``,
else ``file``. The ``file`` backend asks its passphrase from ``passphrase``, else from the file named by
``TASKMASTER_KEYRING_PASSPHRASE_FILE``, else from ``TASKMASTER_KEYRING_PASSPHRASE``, else on the
terminal. Development networks (``run-dev``, localnets, tests) use ``test``: plaintext, no prompt.

Secrets never leave the keyring: listing shows names, addresses and public keys only, and a
:class:`Key` reads its private key only when something is signed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from abci_app.keys import keyring as backends
from abci_app.keys.errors import KeyNotFoundError, KeysError, PassphraseError
from abci_app.keys.passphrase import PassphraseSource, from_env, from_file, from_terminal
from abci_app.keys.secp256k1 import PrivKey, bech32_address

BACKEND_ENV = "TASKMASTER_KEYRING_BACKEND"
PASSPHRASE_ENV = "TASKMASTER_KEYRING_PASSPHRASE"
PASSPHRASE_FILE_ENV = "TASKMASTER_KEYRING_PASSPHRASE_FILE"
DEFAULT_BACKEND = backends.BACKEND_FILE
BACKENDS = backends.BACKENDS

KeyringError = KeysError
"""Every keyring failure (unknown or duplicate name, bad mnemonic, wrong passphrase...)."""


def default_backend() -> str:
    """``TASKMASTER_KEYRING_BACKEND`` if set, else ``file``."""
    return os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND


def default_passphrase(passphrase_file: str | None = None) -> PassphraseSource:
    """Where the file backend's passphrase comes from: ``passphrase_file``, the passphrase-file and
    passphrase environment variables, else the terminal."""
    path = passphrase_file or os.environ.get(PASSPHRASE_FILE_ENV)
    if path:
        return from_file(path)
    if os.environ.get(PASSPHRASE_ENV):
        return from_env(PASSPHRASE_ENV)
    return confirming_terminal()


def confirming_terminal() -> PassphraseSource:
    """Ask on the terminal; a passphrase that encrypts something new is asked twice and must match."""
    ask = from_terminal()

    def read(prompt: str) -> str:
        passphrase = ask(prompt)
        if "encrypt" in prompt and ask(f"{prompt} (again)") != passphrase:
            raise PassphraseError("the two passphrases differ; nothing was stored")
        return passphrase

    return read


@dataclass(frozen=True)
class Key:
    """A named key of a keyring: its public key and address; the private key is read when used."""

    name: str
    public_key: bytes
    keyring: Keyring = field(repr=False, compare=False)
    mnemonic: str = field(default="", repr=False, compare=False)
    """The mnemonic of a key just made by :meth:`Keyring.add` (to show once), else empty."""

    @property
    def address(self) -> str:
        """The bech32 account address, ``task1...``."""
        return bech32_address(self.public_key)

    @property
    def signing_key(self) -> PrivKey:
        """The private key (the ``file`` backend asks its passphrase)."""
        return self.keyring.backend.private_key(self.name)


class Keyring:
    """The keys of ``home`` in one backend (see the module's docstring for the defaults)."""

    def __init__(
        self, home: str | Path, backend: str | None = None, passphrase: PassphraseSource | None = None
    ) -> None:
        self.home = Path(home)
        name = backend or default_backend()
        self.backend = backends.Keyring(home, name, passphrase or default_passphrase())

    def _key(self, info: backends.KeyInfo, mnemonic: str = "") -> Key:
        return Key(info.name, info.pubkey, self, mnemonic)

    def add(self, name: str) -> Key:
        """A new key from a new 24-word mnemonic (``Key.mnemonic``: show it once, it is not kept)."""
        info, mnemonic = self.backend.add(name)
        return self._key(info, mnemonic)

    def recover(self, name: str, mnemonic: str, bip39_passphrase: str = "") -> Key:
        """Restore the key of ``mnemonic`` (``m/44'/118'/0'/0/0``) under ``name``."""
        return self._key(self.backend.recover(name, mnemonic, bip39_passphrase))

    def import_armor(self, name: str, armored: str, passphrase: PassphraseSource) -> Key:
        """Store the key of an armored export (``passphrase`` is the export's)."""
        return self._key(self.backend.import_armor(name, armored, passphrase))

    def export_armor(self, name: str, passphrase: PassphraseSource) -> str:
        """The key ``name`` armored under a new passphrase."""
        return self.backend.export_armor(name, passphrase)

    def delete(self, name: str) -> None:
        """Remove the key ``name``."""
        self.backend.delete(name)

    def get(self, name: str) -> Key:
        """The key named ``name`` (or with that address); says where it is if another backend has it."""
        try:
            return self._key(self.backend.show(name))
        except KeyNotFoundError as exc:
            for other in BACKENDS:
                if (
                    other != self.backend.backend
                    and (self.home / f"keyring-{other}" / f"{name}.json").exists()
                ):
                    raise KeyNotFoundError(
                        f"{exc}; the {other} keyring of this home has it: add --keyring-backend {other}"
                    ) from None
            raise KeyNotFoundError(f"{exc}; see `taskmaster keys list`") from None

    def list(self) -> list[Key]:
        """All keys, sorted by name."""
        return [self._key(info) for info in self.backend.list()]
