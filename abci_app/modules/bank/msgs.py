"""Message handlers of the bank module."""

from __future__ import annotations

from taskmaster.bank.v1 import bank_pb2

from abci_app.context import Context
from abci_app.modules import MsgRoute
from abci_app.modules.bank import keeper
from abci_app.tx.address import from_bech32, to_bech32


def handle_send(ctx: Context, msg: bank_pb2.MsgSend) -> bank_pb2.MsgSendResponse:
    """Transfer every coin of ``msg.amount`` or nothing (the caller's branch is discarded on error)."""
    sender = from_bech32(msg.from_address, "from_address")
    recipient = from_bech32(msg.to_address, "to_address")
    if recipient in ctx.blocked_recipients:
        raise keeper.SEND_DISABLED(
            f"{msg.to_address} is a module account and cannot receive funds through MsgSend; "
            "send to an ordinary account (module accounts change only through their module's messages)"
        )
    if not msg.amount:
        raise keeper.INVALID_COINS("amount is empty; give at least one coin, e.g. 1000utask")
    seen: set[str] = set()
    for i, coin in enumerate(msg.amount):
        denom = keeper.check_denom(coin.denom)
        if denom in seen:
            raise keeper.INVALID_COINS(f"denom {denom} appears twice in amount; merge the coins")
        seen.add(denom)
        keeper.send(ctx, sender, recipient, denom, keeper.parse_amount(coin.amount, f"amount[{i}]"))
    ctx.emit("message", action="/taskmaster.bank.v1.MsgSend", module="bank", sender=to_bech32(sender))
    return bank_pb2.MsgSendResponse()


def check_send(ctx: Context, msg: bank_pb2.MsgSend) -> None:
    """MsgSend's checks that read no state (the SDK's ValidateBasic), run by the ante, CheckTx
    included: the recipient's address and every coin (denom, positive amount, no denom twice)."""
    from_bech32(msg.to_address, "to_address")
    if not msg.amount:
        raise keeper.INVALID_COINS("amount is empty; give at least one coin, e.g. 1000utask")
    seen: set[str] = set()
    for i, coin in enumerate(msg.amount):
        denom = keeper.check_denom(coin.denom)
        if denom in seen:
            raise keeper.INVALID_COINS(f"denom {denom} appears twice in amount; merge the coins")
        seen.add(denom)
        keeper.parse_amount(coin.amount, f"amount[{i}]")


ROUTES = (MsgRoute(bank_pb2.MsgSend, lambda m: m.from_address, handle_send, check_send),)
