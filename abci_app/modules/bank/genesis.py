"""Genesis of the bank module: mint the listed balances; export them back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from taskmaster.bank.v1 import bank_pb2

from abci_app.context import Context
from abci_app.modules.bank import keeper
from abci_app.modules.bank.keys import BALANCE_PREFIX, STORE
from abci_app.modules.genesis_json import genesis_json
from abci_app.tx.address import from_bech32, to_bech32


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Mint every genesis balance (which also sets the supply).

    An export lists module accounts too (the bonded pool, the tasks module account), so the supply it
    restores is the exported one; staking's genesis then finds its pool funded and mints nothing.
    """
    genesis = json_format.ParseDict(dict(state), bank_pb2.GenesisState())
    for i, entry in enumerate(genesis.balances):
        address = from_bech32(entry.address, f"bank genesis balances[{i}].address")
        for j, coin in enumerate(entry.coins):
            amount = keeper.parse_amount(coin.amount, f"bank genesis balances[{i}].coins[{j}].amount")
            keeper.mint(ctx, address, keeper.check_denom(coin.denom), amount)


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Every balance, grouped by address in key order."""
    by_address: dict[bytes, list[bank_pb2.Coin]] = {}
    for key, value in ctx.store(STORE).iterate_prefix(BALANCE_PREFIX):
        address, denom = key[1:21], key[21:].decode()
        by_address.setdefault(address, []).append(
            bank_pb2.Coin(denom=denom, amount=str(int.from_bytes(value, "big")))
        )
    genesis = bank_pb2.GenesisState(
        balances=[bank_pb2.Balance(address=to_bech32(a), coins=c) for a, c in sorted(by_address.items())]
    )
    return genesis_json(genesis)
