"""``taskmaster query staking validators|validator|params``."""

from __future__ import annotations

import argparse

from taskmaster.staking.v1 import staking_pb2

from abci_app.cli_support import CommandGroups, show

SERVICE = "taskmaster.staking.v1.Query"


def cmd_validators(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryValidatorsRequest()
    show(args, SERVICE, "Validators", request, staking_pb2.QueryValidatorsResponse)


def cmd_validator(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryValidatorRequest(operator_address=args.operator_address)
    show(args, SERVICE, "Validator", request, staking_pb2.QueryValidatorResponse)


def cmd_params(args: argparse.Namespace) -> None:
    show(args, SERVICE, "Params", staking_pb2.QueryParamsRequest(), staking_pb2.QueryParamsResponse)


def register(groups: CommandGroups) -> None:
    """Add the staking queries."""
    q = groups.add(groups.query, "staking", lambda a: None, "staking queries").add_subparsers(
        dest="action", required=True
    )
    groups.add(q, "validators", cmd_validators, "all validators")
    groups.add(q, "validator", cmd_validator, "one validator").add_argument(
        "operator_address", help="the validator's operator address task1..."
    )
    groups.add(q, "params", cmd_params, "staking params")
