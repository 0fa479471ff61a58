"""Genesis of the oracle module: its params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskmaster.oracle.v1 import oracle_pb2

from abci_app.context import Context
from abci_app.modules import export_genesis_dict, parse_genesis
from abci_app.modules.oracle import keeper


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Params from genesis (each field given replaces the default)."""
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, oracle_pb2.GenesisState())
    keeper.set_params(ctx, genesis.params)


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params."""
    return export_genesis_dict(oracle_pb2.GenesisState(params=keeper.get_params(ctx)))
