"""Reads and writes of accounts and auth params."""

from __future__ import annotations

from taskmaster.auth.v1 import auth_pb2

from abci_app.context import Context
from abci_app.modules import u64
from abci_app.modules.auth.keys import NEXT_ACCOUNT_NUMBER, PARAMS, STORE, account_key
from abci_app.tx.address import to_bech32

DEFAULT_PARAMS = auth_pb2.Params(
    max_memo_bytes=256,
    max_tx_bytes=256 * 1024,
    gas_per_msg=1000,
    gas_per_tx_byte=10,
    gas_sig_verify=1000,
    min_gas_price="1000",
)


_decoded_params: dict[bytes, auth_pb2.Params] = {}


def get_params(ctx: Context) -> auth_pb2.Params:
    """The auth params (defaults before genesis wrote them). Read-only: callers must not mutate it.

    Every tx's ante reads them, so the decoded message is kept per stored encoding (the read itself,
    and its gas, still happen every time).
    """
    raw = ctx.store(STORE).get(PARAMS)
    if raw is None:
        return DEFAULT_PARAMS
    params = _decoded_params.get(raw)
    if params is None:
        _decoded_params.clear()
        params = _decoded_params[raw] = auth_pb2.Params.FromString(raw)
    return params


def set_params(ctx: Context, params: auth_pb2.Params) -> None:
    """Replace the auth params after checking them (0 is allowed for the gas costs and the memo size)."""
    if params.max_tx_bytes == 0:
        raise ValueError("auth params: max_tx_bytes must be > 0")
    if not (params.min_gas_price.isascii() and params.min_gas_price.isdigit()):
        raise ValueError(
            f"auth params: min_gas_price {params.min_gas_price!r} must be a non-negative integer "
            "(utask per 1,000,000 gas)"
        )
    ctx.store(STORE).set(PARAMS, params.SerializeToString(deterministic=True))


def get_account(ctx: Context, address: bytes) -> auth_pb2.Account | None:
    """The account at ``address``, or None if it never existed."""
    raw = ctx.store(STORE).get(account_key(address))
    return auth_pb2.Account.FromString(raw) if raw is not None else None


def set_account(ctx: Context, address: bytes, account: auth_pb2.Account) -> None:
    """Store an account record."""
    ctx.store(STORE).set(account_key(address), account.SerializeToString(deterministic=True))


def ensure_account(ctx: Context, address: bytes) -> None:
    """Create the account at ``address`` with the next account number if it does not exist yet."""
    store = ctx.store(STORE)
    if store.has(account_key(address)):
        return
    raw = store.get(NEXT_ACCOUNT_NUMBER)
    number = int.from_bytes(raw, "big") if raw is not None else 0
    store.set(NEXT_ACCOUNT_NUMBER, u64(number + 1))
    account = auth_pb2.Account(address=to_bech32(address), account_number=number, sequence=0)
    set_account(ctx, address, account)
