"""Genesis of the auth module: params and accounts (numbers, sequences and public keys survive an export).

A hand-written genesis lists addresses only; they get account numbers in listed order. An export lists
every account with its own number, sequence and public key, which are restored as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskmaster.auth.v1 import auth_pb2

from abci_app.context import Context
from abci_app.modules import parse_genesis, u64
from abci_app.modules.auth import keeper
from abci_app.modules.auth.keys import ACCOUNT_PREFIX, NEXT_ACCOUNT_NUMBER, STORE
from abci_app.modules.genesis_json import genesis_json
from abci_app.tx.address import address_from_pubkey, from_bech32

MAX_ACCOUNT_NUMBER = 2**63  # numbers and sequences stay far below uint64's end (each tx adds one)


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> None:
    """Write params (defaults for missing fields) and the listed accounts.

    When every listed account number is 0 (a hand-written genesis), numbers are assigned in listed
    order; otherwise each account keeps its number, and numbers must be unique. Raises ValueError (or
    an AppError) naming the account and field that is wrong.
    """
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, auth_pb2.GenesisState())
    keeper.set_params(ctx, genesis.params)
    assign = all(a.account_number == 0 for a in genesis.accounts)
    numbers: set[int] = set()
    for i, account in enumerate(genesis.accounts):
        where = f"auth genesis accounts[{i}]"
        address = from_bech32(account.address, f"{where}.address")
        if keeper.get_account(ctx, address) is not None:
            raise ValueError(f"{where}.address {account.address} is listed twice")
        if account.public_key and (
            len(account.public_key) not in (32, 33) or address_from_pubkey(account.public_key) != address
        ):
            raise ValueError(
                f"{where}.public_key is not the key of {account.address} (33 bytes secp256k1 or 32 "
                "bytes ed25519)"
            )
        if account.sequence >= MAX_ACCOUNT_NUMBER or account.account_number >= MAX_ACCOUNT_NUMBER:
            raise ValueError(f"{where}: account_number and sequence must be below 2^63")
        if assign:
            account.account_number = i
        elif account.account_number in numbers:
            raise ValueError(f"{where}.account_number {account.account_number} is used twice")
        numbers.add(account.account_number)
        keeper.set_account(ctx, address, account)
    if numbers:  # else the counter stays unwritten, as before any account exists
        ctx.store(STORE).set(NEXT_ACCOUNT_NUMBER, u64(max(numbers) + 1))


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params and every account, in address order."""
    accounts = [auth_pb2.Account.FromString(v) for _, v in ctx.store(STORE).iterate_prefix(ACCOUNT_PREFIX)]
    return genesis_json(auth_pb2.GenesisState(params=keeper.get_params(ctx), accounts=accounts))
