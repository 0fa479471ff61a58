"""Errors raised by the state store.

Every failure has its own class so callers (and tests) can tell bad input, a damaged database and a
request for a version that is not retained apart; all derive from :class:`StoreError`.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store failure (also raised for an unknown store name or misuse)."""


class EmptyKeyError(StoreError):
    """A key of length zero was given to ``set``/``delete``/``get``; keys must be non-empty."""


class KeyTooLargeError(StoreError):
    """A key longer than :data:`abci_app.store.encoding.MAX_KEY_LEN` bytes."""


class ValueTooLargeError(StoreError):
    """A value longer than :data:`abci_app.store.encoding.MAX_VALUE_LEN` bytes."""


class UnknownFormatError(StoreError):
    """The database was written in an on-disk format version this code does not read."""


class CorruptNodeError(StoreError):
    """A stored node is missing, undecodable, or its stored hash does not match its content."""


class VersionNotFoundError(StoreError):
    """The requested version was never committed or has been pruned / rolled back."""


class ProofError(StoreError):
    """An ICS23 proof (or a query's proof ops) failed verification; the message says which check."""


class InvalidImportError(StoreError):
    """An import stream that cannot be committed: a record of the wrong kind, a store not being
    imported, keys out of order, or node records that do not form one valid tree per store."""
