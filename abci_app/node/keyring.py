"""A file keyring in the node home: ``<home>/keyring.json``, mode 0600, name -> ed25519 seed.

Secrets never leave this file: listing shows names and addresses only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from abci_app.tx.address import address_from_pubkey, to_bech32


class KeyringError(Exception):
    """A keyring operation that cannot be done (unknown name, duplicate name, bad seed)."""


@dataclass(frozen=True)
class Key:
    """A named key and its address."""

    name: str
    signing_key: SigningKey

    @property
    def public_key(self) -> bytes:
        """The 32-byte ed25519 public key."""
        return bytes(self.signing_key.verify_key)

    @property
    def address(self) -> str:
        """The bech32 account address."""
        return to_bech32(address_from_pubkey(self.public_key))


class Keyring:
    """Keys stored in ``<home>/keyring.json``."""

    def __init__(self, home: str | Path) -> None:
        self.path = Path(home) / "keyring.json"

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        data: dict[str, str] = json.loads(self.path.read_text())
        return data

    def _save(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)
        os.chmod(self.path, 0o600)

    def add(self, name: str, seed: bytes | None = None) -> Key:
        """Create (or recover from a 32-byte seed) a key named ``name``."""
        data = self._load()
        if name in data:
            raise KeyringError(f"key {name!r} already exists in {self.path}; choose another name")
        if seed is not None and len(seed) != 32:
            raise KeyringError(f"a seed must be 32 bytes (64 hex digits), got {len(seed)}")
        key = SigningKey(seed) if seed is not None else SigningKey.generate()
        data[name] = bytes(key).hex()
        self._save(data)
        return Key(name, key)

    def get(self, name: str) -> Key:
        """The key named ``name``."""
        data = self._load()
        if name not in data:
            raise KeyringError(f"no key named {name!r} in {self.path}; see `taskmaster keys list`")
        return Key(name, SigningKey(bytes.fromhex(data[name])))

    def list(self) -> list[Key]:
        """All keys, sorted by name."""
        return [Key(n, SigningKey(bytes.fromhex(s))) for n, s in sorted(self._load().items())]
