"""``taskmaster query auth account|params``."""

from __future__ import annotations

import argparse

from taskmaster.auth.v1 import auth_pb2

from abci_app.cli_support import CommandGroups, show

SERVICE = "taskmaster.auth.v1.Query"


def cmd_account(args: argparse.Namespace) -> None:
    request = auth_pb2.QueryAccountRequest(address=args.address)
    show(args, SERVICE, "Account", request, auth_pb2.QueryAccountResponse)


def cmd_params(args: argparse.Namespace) -> None:
    show(args, SERVICE, "Params", auth_pb2.QueryParamsRequest(), auth_pb2.QueryParamsResponse)


def register(groups: CommandGroups) -> None:
    """Add the auth queries."""
    q = groups.add(groups.query, "auth", lambda a: None, "auth queries").add_subparsers(
        dest="action", required=True
    )
    groups.add(q, "account", cmd_account, "an account").add_argument("address")
    groups.add(q, "params", cmd_params, "auth params")
