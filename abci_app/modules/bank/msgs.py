"""Message handlers of the bank module."""

from __future__ import annotations

from collections.abc import Iterator

from cosmos.bank.v1beta1 import tx_pb2 as sdk_bank_pb2
from google.protobuf.message import Message
from taskmaster.bank.v1 import bank_pb2

from abci_app.context import Context
from abci_app.modules import MsgRoute
from abci_app.modules.bank import keeper
from abci_app.tx.address import from_bech32

AnyMsgSend = bank_pb2.MsgSend | sdk_bank_pb2.MsgSend
"""``/cosmos.bank.v1beta1.MsgSend`` (what Cosmos clients send) or ``/taskmaster.bank.v1.MsgSend``:
the same fields, the same handler."""


def _coins(msg: AnyMsgSend) -> list[tuple[str, str]]:
    """``msg.amount`` as (denom, amount) pairs, whichever package's Coin it holds."""
    return [(coin.denom, coin.amount) for coin in msg.amount]


def _valid_coins(msg: AnyMsgSend) -> Iterator[tuple[str, int]]:
    """``msg.amount``'s coins as (denom, amount), each checked as it is reached: not empty, a known
    denom, a positive bounded amount, no denom twice. Lazy, so the handler sends coin i before coin
    i + 1 is checked, in the order both the handler and :func:`check_send` always had."""
    if not msg.amount:
        raise keeper.INVALID_COINS("amount is empty; give at least one coin, e.g. 1000utask")
    seen: set[str] = set()
    for i, (coin_denom, coin_amount) in enumerate(_coins(msg)):
        denom = keeper.check_denom(coin_denom)
        if denom in seen:
            raise keeper.INVALID_COINS(f"denom {denom} appears twice in amount; merge the coins")
        seen.add(denom)
        yield denom, keeper.parse_amount(coin_amount, f"amount[{i}]")


def handle_send(ctx: Context, msg: AnyMsgSend) -> Message:
    """Transfer every coin of ``msg.amount`` or nothing (the caller's branch is discarded on error);
    the response is the message's own package's MsgSendResponse."""
    sender = from_bech32(msg.from_address, "from_address")
    recipient = from_bech32(msg.to_address, "to_address")
    if recipient in ctx.blocked_recipients:
        raise keeper.SEND_DISABLED(
            f"{msg.to_address} is a module account and cannot receive funds through MsgSend; "
            "send to an ordinary account (module accounts change only through their module's messages)"
        )
    for denom, amount in _valid_coins(msg):
        keeper.send(ctx, sender, recipient, denom, amount)
    if isinstance(msg, sdk_bank_pb2.MsgSend):
        return sdk_bank_pb2.MsgSendResponse()
    return bank_pb2.MsgSendResponse()


def check_send(ctx: Context, msg: AnyMsgSend) -> None:
    """MsgSend's checks that read no state (the SDK's ValidateBasic), run by the ante, CheckTx
    included: the recipient's address and every coin (denom, positive amount, no denom twice)."""
    from_bech32(msg.to_address, "to_address")
    for _ in _valid_coins(msg):
        pass


ROUTES = (
    MsgRoute(sdk_bank_pb2.MsgSend, lambda m: m.from_address, handle_send, check_send),
    MsgRoute(bank_pb2.MsgSend, lambda m: m.from_address, handle_send, check_send),
)
