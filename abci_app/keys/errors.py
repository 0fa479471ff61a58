"""The errors of the keys package: every failure it reports is a :class:`KeysError`."""

from __future__ import annotations


class KeysError(Exception):
    """A key or keyring operation that cannot be done; the message says what to change."""


class InvalidKeyError(KeysError):
    """Bytes that are not a valid secp256k1 private or public key."""


class InvalidMnemonicError(KeysError):
    """A mnemonic that is not a valid English BIP39 mnemonic (word, count or checksum)."""


class InvalidPathError(KeysError):
    """An HD derivation path that BIP32 cannot follow."""


class ArmorError(KeysError):
    """Text that is not a well-formed armored key of a kind this package reads."""


class WrongPassphraseError(KeysError):
    """The passphrase does not open the encrypted key."""


class CorruptedKeyError(KeysError):
    """An encrypted key or key file that was altered or damaged (the passphrase was right)."""


class PassphraseError(KeysError):
    """A passphrase that cannot be had (missing file or variable) or is too weak to encrypt with."""


class KeyNotFoundError(KeysError):
    """No key of that name in the keyring."""


class KeyExistsError(KeysError):
    """A key of that name, or with that address, is already in the keyring."""
