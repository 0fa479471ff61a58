"""``taskmaster tx bank send`` and ``taskmaster query bank balance|balances|total-supply``."""

from __future__ import annotations

import argparse

from cosmos.bank.v1beta1 import tx_pb2 as sdk_bank_pb2
from cosmos.base.v1beta1 import coin_pb2
from taskmaster.bank.v1 import bank_pb2

from abci_app.cli_pages import add_page_flags, show_page
from abci_app.cli_support import (
    CommandGroups,
    add_signer,
    broadcast,
    emit,
    keyring,
    msg_dict,
    parse_coin,
    query,
    require_known_denom,
)

SERVICE = "taskmaster.bank.v1.Query"


def cmd_send(args: argparse.Namespace) -> None:
    key = keyring(args).get(args.from_key)
    coin = parse_coin(args.amount)
    require_known_denom(args, coin.denom)
    msg = sdk_bank_pb2.MsgSend(
        from_address=key.address,
        to_address=args.to,
        amount=[coin_pb2.Coin(denom=coin.denom, amount=coin.amount)],
    )
    broadcast(args, args.from_key, [msg])


def cmd_balance(args: argparse.Namespace) -> None:
    resp = query(
        args,
        SERVICE,
        "Balance",
        bank_pb2.QueryBalanceRequest(address=args.address, denom=args.denom),
        bank_pb2.QueryBalanceResponse,
    )
    assert isinstance(resp, bank_pb2.QueryBalanceResponse)
    emit(args, msg_dict(resp), f"{resp.balance.amount}{resp.balance.denom}")


def cmd_balances(args: argparse.Namespace) -> None:
    request = bank_pb2.QueryAllBalancesRequest(address=args.address)
    show_page(args, SERVICE, "AllBalances", request, bank_pb2.QueryAllBalancesResponse)


def cmd_total_supply(args: argparse.Namespace) -> None:
    request = bank_pb2.QueryTotalSupplyRequest()
    show_page(args, SERVICE, "TotalSupply", request, bank_pb2.QueryTotalSupplyResponse)


def register(groups: CommandGroups) -> None:
    """Add ``tx bank send`` and the bank queries."""
    tx = groups.add(groups.tx, "bank", lambda a: None, "bank txs").add_subparsers(
        dest="action", required=True
    )
    p = groups.add(tx, "send", cmd_send, "send coins", True)
    add_signer(p)
    p.add_argument("to", help="recipient address task1...")
    p.add_argument("amount", help="e.g. 1000utask")

    q = groups.add(groups.query, "bank", lambda a: None, "bank queries").add_subparsers(
        dest="action", required=True
    )
    p = groups.add(q, "balance", cmd_balance, "one balance")
    p.add_argument("address")
    p.add_argument("--denom", default="utask")
    p = groups.add(q, "balances", cmd_balances, "all balances, by denom")
    p.add_argument("address")
    add_page_flags(p)
    add_page_flags(groups.add(q, "total-supply", cmd_total_supply, "total supply, by denom"))
