"""Authenticated state store: IAVL-style Merkle trees on RocksDB, a multistore, branches, ICS23 proofs.

See ``docs/store.md`` for the on-disk format, hashing, pruning and limits.
"""

from __future__ import annotations

from .branch import Branch, GasObserver, KVStore
from .multistore import CommitResult, MultiStore, QueryResult
from .proofs import ProofOp

__all__ = ["Branch", "CommitResult", "GasObserver", "KVStore", "MultiStore", "ProofOp", "QueryResult"]
