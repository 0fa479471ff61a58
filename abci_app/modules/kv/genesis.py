"""Genesis of the kv module: every entry of every owner's namespace; export them back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from taskmaster.kv.v1 import kv_pb2

from abci_app.context import Context
from abci_app.modules.genesis_json import genesis_json
from abci_app.modules.kv import keeper
from abci_app.tx.address import from_bech32, to_bech32


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Write the listed entries; raises an AppError naming the entry whose owner, key or value is bad."""
    genesis = json_format.ParseDict(dict(state), kv_pb2.GenesisState())
    for i, e in enumerate(genesis.entries):
        owner = from_bech32(e.owner, f"kv genesis entries[{i}].owner")
        if keeper.get(ctx, owner, e.key) is not None:
            raise keeper.INVALID_KEY(
                f"kv genesis entries[{i}]: key {e.key.hex()} of {e.owner} is listed twice"
            )
        keeper.put(ctx, owner, e.key, e.value)


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Every entry in key order (owner, then key)."""
    genesis = kv_pb2.GenesisState()
    for key, value in ctx.store(keeper.STORE).iterate():
        genesis.entries.add(owner=to_bech32(key[:20]), key=key[20:], value=value)
    return genesis_json(genesis)
