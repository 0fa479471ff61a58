"""Genesis of the staking module: params and the validator set, bonded from the bonded pool.

Two forms, told apart by the bonded pool's balance after bank's genesis:

* hand-written: bank gives the pool nothing, and each validator's tokens are minted into it;
* an export: bank's balances already hold the pool (with every token bonded), so nothing is minted and
  the pool must hold exactly the validators' tokens.

Jailed validators keep their flag and power 0, and are not in the set InitChain returns to CometBFT (a
validator set may not start with a zero-power member).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
from abci_app.modules import parse_genesis
from abci_app.modules.bank import keeper as bank
from abci_app.modules.genesis_json import genesis_json
from abci_app.modules.staking import keeper
from abci_app.modules.staking.keys import STORE, pending_key
from abci_app.tx.address import from_bech32


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Store each genesis validator with the power of its tokens (0 when jailed); fund the pool if empty.

    Raises INVALID_VALIDATOR naming the validator and field that is wrong.
    """
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, staking_pb2.GenesisState())
    params = genesis.params
    keeper.set_params(ctx, params)
    mint = bank.balance(ctx, keeper.BONDED_POOL, params.bond_denom) == 0
    bonded = 0
    seen_keys: set[bytes] = set()
    for i, validator in enumerate(genesis.validators):
        where = f"staking genesis validators[{i}]"
        operator = from_bech32(validator.operator_address, f"{where}.operator_address")
        if keeper.get_validator(ctx, operator) is not None:
            raise keeper.INVALID_VALIDATOR(f"operator {validator.operator_address} appears twice in genesis")
        if validator.consensus_pubkey in seen_keys:
            raise keeper.INVALID_VALIDATOR(f"consensus key of {validator.operator_address} is used twice")
        seen_keys.add(validator.consensus_pubkey)
        tokens = bank.parse_amount(validator.tokens, f"{where}.tokens")
        bonded += tokens
        if mint:
            bank.mint(ctx, keeper.BONDED_POOL, params.bond_denom, tokens)
        power = 0 if validator.jailed else keeper.power_from_tokens(ctx, tokens)
        if not validator.jailed and power <= 0:
            raise keeper.INVALID_VALIDATOR(
                f"{validator.operator_address} bonds {tokens}, less than one unit of power "
                f"({params.power_reduction}); bond more"
            )
        if validator.power not in (0, power):
            raise keeper.INVALID_VALIDATOR(
                f"{where}.power is {validator.power} but its tokens (jailed: {validator.jailed}) give "
                f"{power}; leave power out or give {power}"
            )
        validator.power = power
        keeper.set_validator(ctx, operator, validator)
        if validator.jailed:  # not a member of the initial CometBFT set
            ctx.store(STORE).delete(pending_key(operator))
    pool = bank.balance(ctx, keeper.BONDED_POOL, params.bond_denom)
    if pool != bonded:
        raise keeper.INVALID_VALIDATOR(
            f"bank genesis gives the bonded pool {pool}{params.bond_denom} but the validators bond "
            f"{bonded}; leave the pool out of bank balances (it is then minted) or give it exactly {bonded}"
        )


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params and validators (tokens, power, jailed flag, consensus key), by operator address."""
    genesis = staking_pb2.GenesisState(
        params=keeper.get_params(ctx), validators=[v for _, v in keeper.validators(ctx)]
    )
    return genesis_json(genesis)
