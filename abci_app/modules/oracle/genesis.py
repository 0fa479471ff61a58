"""Genesis of the oracle module: its params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from taskmaster.oracle.v1 import oracle_pb2

from abci_app.context import Context
from abci_app.modules.oracle import keeper


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Params from genesis (each field given replaces the default)."""
    genesis = json_format.ParseDict(dict(state), oracle_pb2.GenesisState())
    params = oracle_pb2.Params()
    params.CopyFrom(keeper.DEFAULT_PARAMS)
    given = genesis.params
    if given.pairs:
        del params.pairs[:]
    params.MergeFrom(given)
    keeper.set_params(ctx, params)


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params."""
    return json_format.MessageToDict(oracle_pb2.GenesisState(params=keeper.get_params(ctx)))
