"""The ``taskmaster`` command: init, start, keys, tx, query, status.

Every command takes ``--output text|json``; ``--node`` is CometBFT's RPC address and ``--grpc`` our
gRPC address. Errors print one line that says what to change and exit with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from taskmaster.auth.v1 import auth_pb2
from taskmaster.bank.v1 import bank_pb2
from taskmaster.staking.v1 import staking_pb2

from abci_app.cli_support import CliError, CommandGroups, broadcast, emit, msg_dict, parse_coin, query, show
from abci_app.client import RpcClient, RpcError
from abci_app.node.home import NodePorts, init_network
from abci_app.node.keyring import Keyring, KeyringError

DEFAULT_NODE = "http://127.0.0.1:26657"
BANK = "taskmaster.bank.v1.Query"
MODULE_CLIS: tuple[str, ...] = ("tasks", "oracle")  # modules with a cli.py exposing register(groups)
DEFAULT_HOME = str(Path.home() / ".taskmaster")


# -- node -------------------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> None:
    home = Path(args.home)
    init_network([home], [NodePorts()], args.chain_id, timeout_commit=args.timeout_commit)
    keys = Keyring(home).list()
    emit(
        args,
        {"home": str(home), "chain_id": args.chain_id, "keys": {k.name: k.address for k in keys}},
        f"initialized {home} for chain {args.chain_id}\n"
        + "\n".join(f"  key {k.name}: {k.address}" for k in keys),
    )


def cmd_start(args: argparse.Namespace) -> None:
    from abci_app.node.run import StartError, serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        code = asyncio.run(
            serve(
                Path(args.home),
                with_cometbft=not args.no_cometbft,
                print_blocks=not args.quiet,
                simulate_prices=getattr(args, "simulate_prices", False),
            )
        )
    except StartError as exc:
        raise CliError(str(exc)) from exc
    sys.exit(code)


def cmd_rollback(args: argparse.Namespace) -> None:
    from abci_app.node.rollback import RollbackError, rollback

    try:
        result = rollback(Path(args.home), hard=args.hard)
    except RollbackError as exc:
        raise CliError(str(exc)) from exc
    data = {
        "height": result.height,
        "app_hash": result.app_hash,
        "cometbft_app_hash": result.cometbft_app_hash,
        "block_removed": result.block_removed,
        "consistent": result.consistent,
    }
    action = "fetched again from peers" if result.block_removed else "re-executed"
    then = f"block {result.height + 1} will be {action}"
    if result.consistent:
        text = (
            f"rolled back CometBFT and the application to height {result.height} "
            f"(app hash {result.app_hash}); start the node: {then}"
        )
    else:
        text = (
            f"rolled back to height {result.height}, but the application's app hash {result.app_hash} "
            f"differs from CometBFT's {result.cometbft_app_hash}: do not start this node; restore it "
            "from a snapshot"
        )
    emit(args, data, text)
    if not result.consistent:
        sys.exit(1)


def cmd_run_dev(args: argparse.Namespace) -> None:
    home = Path(args.home)
    if not (home / "config" / "genesis.json").exists():
        init_network([home], [NodePorts()], args.chain_id, timeout_commit="1s")
        print(f"initialized a single-validator chain {args.chain_id!r} in {home}")
    faucet = Keyring(home).get("faucet")
    print(f"funded key 'faucet' ({faucet.address}) lives in {home}/keyring.json")
    print(f"try: .venv/bin/taskmaster query bank balance {faucet.address}")
    args.no_cometbft = False
    args.quiet = False
    args.simulate_prices = True
    cmd_start(args)


# -- keys -------------------------------------------------------------------------------------------


def cmd_keys_add(args: argparse.Namespace) -> None:
    seed = bytes.fromhex(args.recover) if args.recover else None
    key = Keyring(args.home).add(args.name, seed)
    emit(args, {"name": key.name, "address": key.address}, f"{key.name}: {key.address}")


def cmd_keys_list(args: argparse.Namespace) -> None:
    keys = Keyring(args.home).list()
    emit(
        args,
        [{"name": k.name, "address": k.address} for k in keys],
        "\n".join(f"{k.name}: {k.address}" for k in keys),
    )


def cmd_keys_show(args: argparse.Namespace) -> None:
    key = Keyring(args.home).get(args.name)
    emit(
        args,
        {"name": key.name, "address": key.address, "public_key": key.public_key.hex()},
        key.address,
    )


# -- tx ---------------------------------------------------------------------------------------------


def cmd_tx_bank_send(args: argparse.Namespace) -> None:
    key = Keyring(args.home).get(args.from_key)
    msg = bank_pb2.MsgSend(from_address=key.address, to_address=args.to, amount=[parse_coin(args.amount)])
    broadcast(args, args.from_key, [msg])


# -- queries ----------------------------------------------------------------------------------------


def cmd_query_balance(args: argparse.Namespace) -> None:
    resp = query(
        args,
        BANK,
        "Balance",
        bank_pb2.QueryBalanceRequest(address=args.address, denom=args.denom),
        bank_pb2.QueryBalanceResponse,
    )
    assert isinstance(resp, bank_pb2.QueryBalanceResponse)
    emit(args, msg_dict(resp), f"{resp.balance.amount}{resp.balance.denom}")


def cmd_query_balances(args: argparse.Namespace) -> None:
    request = bank_pb2.QueryAllBalancesRequest(address=args.address)
    show(args, BANK, "AllBalances", request, bank_pb2.QueryAllBalancesResponse)


def cmd_query_supply(args: argparse.Namespace) -> None:
    show(args, BANK, "TotalSupply", bank_pb2.QueryTotalSupplyRequest(), bank_pb2.QueryTotalSupplyResponse)


def cmd_query_account(args: argparse.Namespace) -> None:
    request = auth_pb2.QueryAccountRequest(address=args.address)
    show(args, "taskmaster.auth.v1.Query", "Account", request, auth_pb2.QueryAccountResponse)


def cmd_query_validators(args: argparse.Namespace) -> None:
    request = staking_pb2.QueryValidatorsRequest()
    show(args, "taskmaster.staking.v1.Query", "Validators", request, staking_pb2.QueryValidatorsResponse)


def cmd_status(args: argparse.Namespace) -> None:
    status = RpcClient(args.node).status()
    sync = status["sync_info"]
    emit(
        args,
        status,
        f"chain {status['node_info']['network']} height {sync['latest_block_height']} "
        f"app_hash {sync['latest_app_hash']} catching_up {sync['catching_up']}",
    )


# -- parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--output", "-o", choices=["text", "json"], default="text")
    common.add_argument("--home", default=DEFAULT_HOME, help="node home (keyring, config, data)")
    common.add_argument("--node", default=DEFAULT_NODE, help="CometBFT RPC address")
    common.add_argument(
        "--grpc", default="", help="gRPC address for queries (default: abci_query via --node)"
    )
    common.add_argument("--height", type=int, default=0, help="query at this height (0 = latest)")

    txflags = argparse.ArgumentParser(add_help=False)
    txflags.add_argument("--fee", type=int, default=500, help="fee in utask")
    txflags.add_argument("--gas", type=int, default=200_000, help="gas limit")
    txflags.add_argument("--memo", default="")
    txflags.add_argument("--broadcast-mode", choices=["sync", "async", "commit"], default="commit")

    parser = argparse.ArgumentParser(prog="taskmaster", description=__doc__, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        parent: Any,
        name: str,
        func: Callable[[argparse.Namespace], None],
        help_: str,
        parents: list[Any] | None = None,
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_, parents=[common, *(parents or [])])
        p.set_defaults(func=func)
        return p

    p = add(sub, "init", cmd_init, "create a single-validator node home")
    p.add_argument("--chain-id", default="taskmaster-1")
    p.add_argument("--timeout-commit", default="1s")
    p = add(sub, "start", cmd_start, "run the ABCI and gRPC servers and CometBFT")
    p.add_argument("--no-cometbft", action="store_true", help="do not start a CometBFT child")
    p.add_argument("--quiet", action="store_true", help="do not print a line per block")
    p = add(sub, "rollback", cmd_rollback, "undo the last block in CometBFT and the app (node stopped)")
    p.add_argument("--hard", action="store_true", help="also remove the last block from CometBFT's store")
    p = add(sub, "run-dev", cmd_run_dev, "init a single-validator home if needed, then start it")
    p.add_argument("--chain-id", default="taskmaster-dev")

    keys = add(sub, "keys", lambda a: None, "manage the keyring").add_subparsers(dest="keys", required=True)
    add(keys, "add", cmd_keys_add, "create a key").add_argument("name")
    keys.choices["add"].add_argument("--recover", help="32-byte seed in hex")
    add(keys, "list", cmd_keys_list, "list keys")
    add(keys, "show", cmd_keys_show, "show a key's address").add_argument("name")

    tx = add(sub, "tx", lambda a: None, "sign and broadcast a tx").add_subparsers(
        dest="module", required=True
    )
    bank_tx = add(tx, "bank", lambda a: None, "bank txs").add_subparsers(dest="action", required=True)
    p = add(bank_tx, "send", cmd_tx_bank_send, "send coins", [txflags])
    p.add_argument("from_key", help="name of the signing key in the keyring")
    p.add_argument("to", help="recipient address task1...")
    p.add_argument("amount", help="e.g. 1000utask")

    query_sub = add(sub, "query", lambda a: None, "query state").add_subparsers(dest="module", required=True)
    bank_q = add(query_sub, "bank", lambda a: None, "bank queries").add_subparsers(
        dest="action", required=True
    )
    p = add(bank_q, "balance", cmd_query_balance, "one balance")
    p.add_argument("address")
    p.add_argument("--denom", default="utask")
    add(bank_q, "balances", cmd_query_balances, "all balances").add_argument("address")
    add(bank_q, "total-supply", cmd_query_supply, "total supply")
    auth_q = add(query_sub, "auth", lambda a: None, "auth queries").add_subparsers(
        dest="action", required=True
    )
    add(auth_q, "account", cmd_query_account, "an account").add_argument("address")
    staking_q = add(query_sub, "staking", lambda a: None, "staking queries").add_subparsers(
        dest="action", required=True
    )
    add(staking_q, "validators", cmd_query_validators, "all validators")
    add(sub, "status", cmd_status, "node status")
    groups = CommandGroups(tx=tx, query=query_sub, common=common, txflags=txflags)
    for name in MODULE_CLIS:
        importlib.import_module(f"abci_app.modules.{name}.cli").register(groups)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``taskmaster`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CliError, KeyringError, RpcError, FileExistsError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
