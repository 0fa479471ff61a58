"""``taskmaster tx oracle unjail`` and ``taskmaster query oracle ...``."""

from __future__ import annotations

import argparse

from taskmaster.oracle.v1 import oracle_pb2

from abci_app.cli_pages import add_page_flags, show_page
from abci_app.cli_support import CommandGroups, add_signer, broadcast, keyring, show

ORACLE = "taskmaster.oracle.v1.Query"


def cmd_unjail(args: argparse.Namespace) -> None:
    key = keyring(args).get(args.from_key)
    broadcast(args, args.from_key, [oracle_pb2.MsgUnjail(operator_address=key.address)])


def cmd_prices(args: argparse.Namespace) -> None:
    show_page(args, ORACLE, "Prices", oracle_pb2.QueryPricesRequest(), oracle_pb2.QueryPricesResponse)


def cmd_price(args: argparse.Namespace) -> None:
    show(args, ORACLE, "Price", oracle_pb2.QueryPriceRequest(pair=args.pair), oracle_pb2.QueryPriceResponse)


def cmd_history(args: argparse.Namespace) -> None:
    show_page(
        args,
        ORACLE,
        "History",
        oracle_pb2.QueryHistoryRequest(pair=args.pair),
        oracle_pb2.QueryHistoryResponse,
    )


def cmd_twap(args: argparse.Namespace) -> None:
    request = oracle_pb2.QueryTwapRequest(pair=args.pair, window_seconds=args.window)
    show(args, ORACLE, "Twap", request, oracle_pb2.QueryTwapResponse)


def cmd_misses(args: argparse.Namespace) -> None:
    show_page(
        args,
        ORACLE,
        "MissCounters",
        oracle_pb2.QueryMissCountersRequest(),
        oracle_pb2.QueryMissCountersResponse,
    )


def cmd_jail(args: argparse.Namespace) -> None:
    show_page(
        args, ORACLE, "JailRecords", oracle_pb2.QueryJailRecordsRequest(), oracle_pb2.QueryJailRecordsResponse
    )


def cmd_params(args: argparse.Namespace) -> None:
    show(args, ORACLE, "Params", oracle_pb2.QueryParamsRequest(), oracle_pb2.QueryParamsResponse)


def register(groups: CommandGroups) -> None:
    """Add the oracle's tx and query commands."""
    tx = groups.add(groups.tx, "oracle", lambda a: None, "oracle txs").add_subparsers(
        dest="action", required=True
    )
    add_signer(
        groups.add(
            tx, "unjail", cmd_unjail, "unjail your validator after its jail period (its operator key)", True
        )
    )
    q = groups.add(groups.query, "oracle", lambda a: None, "oracle queries").add_subparsers(
        dest="action", required=True
    )
    add_page_flags(groups.add(q, "prices", cmd_prices, "latest price of every pair"))
    groups.add(q, "price", cmd_price, "latest price of a pair").add_argument("pair", help="e.g. bitcoin/usd")
    p = groups.add(q, "history", cmd_history, "retained prices of a pair, oldest first")
    p.add_argument("pair", help="e.g. bitcoin/usd")
    add_page_flags(p)
    p = groups.add(q, "twap", cmd_twap, "time-weighted average price")
    p.add_argument("pair")
    p.add_argument("--window", type=int, default=0, help="seconds of block time (0 = all history)")
    add_page_flags(groups.add(q, "misses", cmd_misses, "per-validator miss counters and window progress"))
    add_page_flags(groups.add(q, "jail", cmd_jail, "jail records"))
    groups.add(q, "params", cmd_params, "oracle params")
