"""Genesis of the staking module: params and the initial validator set, bonded from the bonded pool."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
from abci_app.modules import export_genesis_dict, parse_genesis
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking import keeper
from abci_app.tx.address import from_bech32


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Bond each genesis validator's tokens (minted into the bonded pool) and derive its power."""
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, staking_pb2.GenesisState())
    params = genesis.params
    keeper.set_params(ctx, params)
    seen_keys: set[bytes] = set()
    for validator in genesis.validators:
        operator = from_bech32(validator.operator_address, "validator operator_address")
        if keeper.get_validator(ctx, operator) is not None:
            raise keeper.INVALID_VALIDATOR(f"operator {validator.operator_address} appears twice in genesis")
        if validator.consensus_pubkey in seen_keys:
            raise keeper.INVALID_VALIDATOR(f"consensus key of {validator.operator_address} is used twice")
        seen_keys.add(validator.consensus_pubkey)
        tokens = bank.parse_amount(validator.tokens, "validator tokens")
        bank.mint(ctx, keeper.BONDED_POOL, params.bond_denom, tokens)
        validator.power = keeper.power_from_tokens(ctx, tokens)
        if validator.power <= 0:
            raise keeper.INVALID_VALIDATOR(
                f"{validator.operator_address} bonds {tokens}, less than one unit of power "
                f"({params.power_reduction}); bond more"
            )
        keeper.set_validator(ctx, operator, validator)


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params and validators."""
    genesis = staking_pb2.GenesisState(
        params=keeper.get_params(ctx), validators=[v for _, v in keeper.validators(ctx)]
    )
    return export_genesis_dict(genesis)
