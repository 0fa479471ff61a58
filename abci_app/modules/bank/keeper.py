"""Balances and supply: the only code that changes them, so the invariants hold by construction."""

from __future__ import annotations

import re

from abci_app.context import Context
from abci_app.errors import register, shown
from abci_app.modules import u256
from abci_app.modules.auth.keeper import ensure_account
from abci_app.modules.bank.keys import BALANCE_PREFIX, STORE, balance_key, supply_key
from abci_app.tx.address import to_bech32

NATIVE_DENOM = "utask"
INVALID_COINS = register("bank", 2, "invalid coins")
INSUFFICIENT_FUNDS = register("bank", 3, "insufficient funds")
SEND_DISABLED = register("bank", 4, "send not allowed")

_DENOM = re.compile(r"^[a-z][a-z0-9/]{2,63}$")
_AMOUNT = re.compile(r"^[0-9]{1,77}$")


def parse_amount(text: str, field: str = "amount") -> int:
    """Parse a positive integer amount given as a decimal string; never accepts fractions or signs."""
    if not _AMOUNT.fullmatch(text):
        raise INVALID_COINS(f"{field} {shown(text)} must be a positive integer in base units (e.g. 1000)")
    value = int(text)
    if value <= 0 or value >= 2**256:
        raise INVALID_COINS(f"{field} {shown(text, 80)} must be greater than zero and below 2^256")
    return value


def check_denom(denom: str) -> str:
    """Validate a denom name (3-64 chars, lowercase letter first)."""
    if not _DENOM.fullmatch(denom):
        raise INVALID_COINS(f"denom {shown(denom, 70)} must match {_DENOM.pattern}")
    return denom


def balance(ctx: Context, address: bytes, denom: str) -> int:
    """The balance of ``address`` in ``denom`` (0 when absent)."""
    raw = ctx.store(STORE).get(balance_key(address, denom))
    return int.from_bytes(raw, "big") if raw is not None else 0


def all_balances(ctx: Context, address: bytes) -> list[tuple[str, int]]:
    """Every non-zero balance of ``address``, sorted by denom."""
    prefix = BALANCE_PREFIX + address
    return [
        (key[len(prefix) :].decode(), int.from_bytes(value, "big"))
        for key, value in ctx.store(STORE).iterate_prefix(prefix)
    ]


def supply(ctx: Context, denom: str) -> int:
    """Total supply of ``denom``."""
    raw = ctx.store(STORE).get(supply_key(denom))
    return int.from_bytes(raw, "big") if raw is not None else 0


def _set_balance(ctx: Context, address: bytes, denom: str, amount: int) -> None:
    store = ctx.store(STORE)
    if amount == 0:
        store.delete(balance_key(address, denom))
    else:
        store.set(balance_key(address, denom), u256(amount))


def _set_supply(ctx: Context, denom: str, amount: int) -> None:
    store = ctx.store(STORE)
    if amount == 0:
        store.delete(supply_key(denom))
    else:
        store.set(supply_key(denom), u256(amount))


def send(ctx: Context, sender: bytes, recipient: bytes, denom: str, amount: int) -> None:
    """Move ``amount`` of ``denom``; raises ``insufficient funds`` without changing anything."""
    if amount <= 0:
        raise INVALID_COINS(f"amount {amount} must be greater than zero")
    have = balance(ctx, sender, denom)
    if have < amount:
        raise INSUFFICIENT_FUNDS(
            f"{to_bech32(sender)} has {have}{denom}, needs {amount}{denom}; fund the account or send less"
        )
    ensure_account(ctx, recipient)
    _set_balance(ctx, sender, denom, have - amount)
    _set_balance(ctx, recipient, denom, balance(ctx, recipient, denom) + amount)
    if ctx.record_events:  # the SDK's bank events, in its order (x/bank/keeper/send.go SendCoins)
        coins, spender, receiver = f"{amount}{denom}", to_bech32(sender), to_bech32(recipient)
        ctx.emit("coin_spent", spender=spender, amount=coins)
        ctx.emit("coin_received", receiver=receiver, amount=coins)
        ctx.emit("transfer", recipient=receiver, sender=spender, amount=coins)


def mint(ctx: Context, recipient: bytes, denom: str, amount: int) -> None:
    """Create ``amount`` new coins at ``recipient`` (genesis and module logic only)."""
    ensure_account(ctx, recipient)
    _set_balance(ctx, recipient, denom, balance(ctx, recipient, denom) + amount)
    _set_supply(ctx, denom, supply(ctx, denom) + amount)
    if ctx.record_events:  # the SDK's (x/bank/keeper/keeper.go MintCoins)
        ctx.emit("coin_received", receiver=to_bech32(recipient), amount=f"{amount}{denom}")
        ctx.emit("coinbase", minter=to_bech32(recipient), amount=f"{amount}{denom}")


def burn(ctx: Context, holder: bytes, denom: str, amount: int) -> None:
    """Destroy ``amount`` coins held by ``holder`` (slashing)."""
    have = balance(ctx, holder, denom)
    if have < amount:
        raise INSUFFICIENT_FUNDS(f"{to_bech32(holder)} has {have}{denom}, cannot burn {amount}")
    _set_balance(ctx, holder, denom, have - amount)
    _set_supply(ctx, denom, supply(ctx, denom) - amount)
    if ctx.record_events:  # the SDK's (x/bank/keeper/keeper.go BurnCoins)
        ctx.emit("coin_spent", spender=to_bech32(holder), amount=f"{amount}{denom}")
        ctx.emit("burn", burner=to_bech32(holder), amount=f"{amount}{denom}")
