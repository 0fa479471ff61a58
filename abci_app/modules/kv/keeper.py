"""Store keys and the keeper of the ``kv`` store.

``owner(20) | key`` -> value. Served with proofs by ``/store/kv/key`` (data = owner bytes + key).
"""

from __future__ import annotations

from abci_app.context import Context
from abci_app.errors import register

STORE = "kv"
MAX_KEY = 128
MAX_VALUE = 4096

INVALID_KEY = register("kv", 2, "invalid key")
INVALID_VALUE = register("kv", 3, "invalid value")
NOT_FOUND = register("kv", 4, "key not found")


def entry_key(owner: bytes, key: bytes) -> bytes:
    """The store key of ``key`` in ``owner``'s namespace."""
    if not key or len(key) > MAX_KEY:
        raise INVALID_KEY(f"key length {len(key)} must be between 1 and {MAX_KEY} bytes")
    return owner + key


def put(ctx: Context, owner: bytes, key: bytes, value: bytes) -> None:
    """Write one entry."""
    if len(value) > MAX_VALUE:
        raise INVALID_VALUE(f"value length {len(value)} must be at most {MAX_VALUE} bytes")
    ctx.store(STORE).set(entry_key(owner, key), value)


def get(ctx: Context, owner: bytes, key: bytes) -> bytes | None:
    """One entry, or None."""
    return ctx.store(STORE).get(entry_key(owner, key))


def delete(ctx: Context, owner: bytes, key: bytes) -> None:
    """Remove one entry; raises NOT_FOUND when absent (so a failing task is easy to build)."""
    store = ctx.store(STORE)
    full = entry_key(owner, key)
    if not store.has(full):
        raise NOT_FOUND(f"key {key!r} is not set for this owner")
    store.delete(full)
