"""Genesis of the auth module: params and pre-declared accounts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskmaster.auth.v1 import auth_pb2

from abci_app.context import Context
from abci_app.modules import export_genesis_dict, parse_genesis
from abci_app.modules.auth import keeper
from abci_app.modules.auth.keys import ACCOUNT_PREFIX, STORE
from abci_app.tx.address import from_bech32


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Write params (defaults for missing fields) and create the listed accounts in order."""
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, auth_pb2.GenesisState())
    keeper.set_params(ctx, genesis.params)
    for account in genesis.accounts:
        keeper.ensure_account(ctx, from_bech32(account.address, "genesis account address"))


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params and every account."""
    accounts = [auth_pb2.Account.FromString(v) for _, v in ctx.store(STORE).iterate_prefix(ACCOUNT_PREFIX)]
    return export_genesis_dict(auth_pb2.GenesisState(params=keeper.get_params(ctx), accounts=accounts))
