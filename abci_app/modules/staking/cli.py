"""``taskmaster tx staking create-validator|delegate|undelegate|edit-validator`` and the staking queries."""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from pathlib import Path

from taskmaster.staking.v1 import staking_pb2

from abci_app.cli_pages import add_page_flags, show_page
from abci_app.cli_support import CliError, CommandGroups, broadcast, keyring, parse_coin, show

SERVICE = "taskmaster.staking.v1.Query"
DO_NOT_MODIFY = "[do-not-modify]"


def consensus_pubkey(home: str, given: str) -> bytes:
    """The 32-byte ed25519 key given in base64, or the one in ``<home>/config/priv_validator_key.json``."""
    if given:
        try:
            raw = base64.b64decode(given, validate=True)
        except binascii.Error as exc:
            raise CliError(f"--pubkey {given!r} is not base64") from exc
    else:
        path = Path(home) / "config" / "priv_validator_key.json"
        try:
            raw = base64.b64decode(json.loads(path.read_text())["pub_key"]["value"])
        except FileNotFoundError as exc:
            raise CliError(f"{path} not found; give --pubkey or the node's --home") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise CliError(
                f"{path} holds no pub_key.value; is it CometBFT's priv_validator_key.json?"
            ) from exc
    if len(raw) != 32:
        raise CliError(f"the consensus key must be 32 bytes of ed25519, got {len(raw)}")
    return raw


def bond_amount(text: str) -> str:
    """A utask amount from ``1000000utask`` or ``1000000``."""
    coin = parse_coin(text)
    if coin.denom != "utask":
        raise CliError(f"validators bond utask, not {coin.denom}")
    return coin.amount


def create_validator_msg(args: argparse.Namespace, operator: str) -> staking_pb2.MsgCreateValidator:
    """The MsgCreateValidator the flags describe (also what ``taskmaster gentx`` signs)."""
    return staking_pb2.MsgCreateValidator(
        operator_address=operator,
        consensus_pubkey=consensus_pubkey(args.home, args.pubkey),
        self_bond=bond_amount(args.amount),
        description=staking_pb2.Description(
            moniker=args.moniker,
            identity=args.identity,
            website=args.website,
            security_contact=args.security_contact,
            details=args.details,
        ),
        commission=staking_pb2.CommissionRates(
            rate_bps=args.commission_rate_bps,
            max_rate_bps=args.commission_max_rate_bps,
            max_change_rate_bps=args.commission_max_change_rate_bps,
        ),
    )


def add_create_validator_flags(p: argparse.ArgumentParser) -> None:
    """The flags of create-validator (shared with gentx); the operator key is the tx's ``--from``."""
    p.add_argument("--amount", required=True, help="self-bond, e.g. 1000000utask")
    p.add_argument("--pubkey", default="", help="consensus key, base64 (default: the home's)")
    p.add_argument("--moniker", required=True)
    p.add_argument("--identity", default="")
    p.add_argument("--website", default="")
    p.add_argument("--security-contact", default="")
    p.add_argument("--details", default="")
    p.add_argument("--commission-rate-bps", type=int, default=1000)
    p.add_argument("--commission-max-rate-bps", type=int, default=2000)
    p.add_argument("--commission-max-change-rate-bps", type=int, default=100)


def _check_bps(*values: int) -> None:
    if any(not 0 <= v <= 10_000 for v in values):
        raise CliError("commission rates are basis points, 0..10000")


def cmd_create_validator(args: argparse.Namespace) -> None:
    _check_bps(args.commission_rate_bps, args.commission_max_rate_bps, args.commission_max_change_rate_bps)
    key = keyring(args).get(args.from_key)
    broadcast(args, args.from_key, [create_validator_msg(args, key.address)])


def cmd_delegate(args: argparse.Namespace) -> None:
    key = keyring(args).get(args.from_key)
    msg = staking_pb2.MsgDelegate(
        delegator_address=key.address, validator_address=args.validator, amount=bond_amount(args.amount)
    )
    broadcast(args, args.from_key, [msg])


def cmd_undelegate(args: argparse.Namespace) -> None:
    key = keyring(args).get(args.from_key)
    msg = staking_pb2.MsgUndelegate(
        delegator_address=key.address, validator_address=args.validator, amount=bond_amount(args.amount)
    )
    broadcast(args, args.from_key, [msg])


def cmd_edit_validator(args: argparse.Namespace) -> None:
    key = keyring(args).get(args.from_key)
    msg = staking_pb2.MsgEditValidator(
        operator_address=key.address,
        description=staking_pb2.Description(
            moniker=args.moniker,
            identity=args.identity,
            website=args.website,
            security_contact=args.security_contact,
            details=args.details,
        ),
    )
    if args.commission_rate_bps is not None:
        _check_bps(args.commission_rate_bps)
        msg.commission_rate_bps = args.commission_rate_bps
    broadcast(args, args.from_key, [msg])


def cmd_validators(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryValidatorsRequest()
    show_page(args, SERVICE, "Validators", request, staking_pb2.QueryValidatorsResponse)


def cmd_validator(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryValidatorRequest(operator_address=args.operator_address)
    show(args, SERVICE, "Validator", request, staking_pb2.QueryValidatorResponse)


def cmd_params(args: argparse.Namespace) -> None:
    show(args, SERVICE, "Params", staking_pb2.QueryParamsRequest(), staking_pb2.QueryParamsResponse)


def cmd_delegations(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryDelegationsRequest(delegator_address=args.address)
    show_page(args, SERVICE, "Delegations", request, staking_pb2.QueryDelegationsResponse)


def cmd_validator_delegations(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryValidatorDelegationsRequest(validator_address=args.operator_address)
    show_page(args, SERVICE, "ValidatorDelegations", request, staking_pb2.QueryValidatorDelegationsResponse)


def cmd_unbonding(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryUnbondingRequest(delegator_address=args.address)
    show_page(args, SERVICE, "Unbonding", request, staking_pb2.QueryUnbondingResponse)


def cmd_active_set(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryActiveSetRequest()
    show_page(args, SERVICE, "ActiveSet", request, staking_pb2.QueryActiveSetResponse)


def cmd_pool(args: argparse.Namespace) -> None:
    show(args, SERVICE, "Pool", staking_pb2.QueryPoolRequest(), staking_pb2.QueryPoolResponse)


def _register_tx(groups: CommandGroups) -> None:
    t = groups.add(groups.tx, "staking", lambda a: None, "staking txs").add_subparsers(
        dest="action", required=True
    )
    p = groups.add(t, "create-validator", cmd_create_validator, "register a validator, self-bonding", True)
    add_create_validator_flags(p)
    for name, func, what in (
        ("delegate", cmd_delegate, "bond tokens to a validator"),
        ("undelegate", cmd_undelegate, "start unbonding tokens (returned after unbonding_blocks)"),
    ):
        p = groups.add(t, name, func, what, True)
        p.add_argument("validator", help="the validator's operator address task1...")
        p.add_argument("amount", help="e.g. 1000000utask")
    p = groups.add(t, "edit-validator", cmd_edit_validator, "change description or commission rate", True)
    for flag in ("--moniker", "--identity", "--website", "--security-contact", "--details"):
        p.add_argument(flag, default=DO_NOT_MODIFY)
    p.add_argument("--commission-rate-bps", type=int, default=None)


def register(groups: CommandGroups) -> None:
    """Add the staking txs and queries."""
    _register_tx(groups)
    q = groups.add(groups.query, "staking", lambda a: None, "staking queries").add_subparsers(
        dest="action", required=True
    )
    add_page_flags(groups.add(q, "validators", cmd_validators, "the validators, by operator address"))
    groups.add(q, "validator", cmd_validator, "one validator").add_argument(
        "operator_address", help="the validator's operator address task1..."
    )
    groups.add(q, "params", cmd_params, "staking params")
    p = groups.add(q, "delegations", cmd_delegations, "a delegator's delegations")
    p.add_argument("address", metavar="delegator")
    add_page_flags(p)
    p = groups.add(q, "validator-delegations", cmd_validator_delegations, "delegations to a validator")
    p.add_argument("operator_address", metavar="validator")
    add_page_flags(p)
    p = groups.add(q, "unbonding", cmd_unbonding, "a delegator's pending unbondings")
    p.add_argument("address", metavar="delegator")
    add_page_flags(p)
    add_page_flags(groups.add(q, "active-set", cmd_active_set, "the validators CometBFT has, by power"))
    groups.add(q, "pool", cmd_pool, "bonded and unbonding pools")
