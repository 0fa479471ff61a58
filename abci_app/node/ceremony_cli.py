"""The ceremony's commands: ``init``, ``add-genesis-account``, ``gentx``, ``collect-gentxs``,
``validate-genesis`` and ``config`` (docs/operators.md walks through them)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from abci_app.cli_support import CliError, emit, keyring, parse_coin
from abci_app.node import ceremony, node_config
from abci_app.node.home import NodePorts, init_network
from abci_app.node.keyring import Keyring, KeyringError
from abci_app.tx.ante import GENESIS_ACCOUNT_NUMBER
from abci_app.tx.codec import build_tx


def cmd_init(args: argparse.Namespace) -> None:
    """A single-validator home (default) or, with ``--no-validator``, a home for the ceremony."""
    home = Path(args.home)
    if args.no_validator:
        ceremony.init_home(home, args.chain_id, args.moniker or home.name)
        node_config.apply(args, home)
        emit(
            args,
            {
                "home": str(home),
                "chain_id": args.chain_id,
                "node_id": ceremony.node_id(home),
                "consensus_pubkey": ceremony.consensus_key(home)["value"],
            },
            f"initialized {home} for chain {args.chain_id} (no account, no validator yet)\n"
            f"  node id {ceremony.node_id(home)}\n"
            f"  next: taskmaster keys add <name> --home {home}, then add-genesis-account and gentx",
        )
        return
    init_network([home], [NodePorts()], args.chain_id, timeout_commit=args.timeout_commit or "1s")
    node_config.apply(args, home)
    keys = Keyring(home, "test").list()
    emit(
        args,
        {"home": str(home), "chain_id": args.chain_id, "keys": {k.name: k.address for k in keys}},
        f"initialized {home} for chain {args.chain_id}\n"
        + "\n".join(f"  key {k.name}: {k.address}" for k in keys),
    )


def _coins(text: str) -> dict[str, int]:
    coins: dict[str, int] = {}
    for part in text.split(","):
        coin = parse_coin(part.strip())
        if coin.denom in coins:
            raise CliError(f"{coin.denom} is given twice in {text!r}")
        amount = int(coin.amount)
        if not 0 < amount < 2**256:
            raise CliError(f"amount {coin.amount} of {coin.denom} must be positive and below 2^256")
        coins[coin.denom] = amount
    return coins


def _address(args: argparse.Namespace, name_or_address: str) -> str:
    if name_or_address.startswith("task1"):
        return name_or_address
    try:
        return keyring(args).get(name_or_address).address
    except KeyringError as exc:
        raise CliError(f"{name_or_address!r} is neither an address (task1...) nor a key: {exc}") from exc


def cmd_add_genesis_account(args: argparse.Namespace) -> None:
    home = Path(args.home)
    address = _address(args, args.account)
    coins = _coins(args.coins)
    ceremony.add_genesis_account(home, address, coins)
    listed = ",".join(f"{a}{d}" for d, a in sorted(coins.items()))
    emit(args, {"address": address, "coins": listed}, f"added {address} with {listed} to the genesis")


def cmd_gentx(args: argparse.Namespace) -> None:
    from abci_app.modules.staking.cli import _check_bps, create_validator_msg

    home = Path(args.home)
    _check_bps(args.commission_rate_bps, args.commission_max_rate_bps, args.commission_max_change_rate_bps)
    genesis = ceremony.read_genesis(home)
    key = keyring(args).get(args.key)
    message = create_validator_msg(args, key.address)
    ceremony.check_gentx_funds(genesis, message, args.fee)
    memo = ceremony.peer_address(home, args.ip)
    raw = build_tx(
        key.signing_key,
        [message],
        chain_id=genesis["chain_id"],
        account_number=GENESIS_ACCOUNT_NUMBER,
        sequence=0,
        fee=args.fee,
        gas_limit=args.gas,
        memo=memo,
    )
    path = ceremony.write_gentx(home, raw, message, memo)
    if args.output_document:
        Path(args.output_document).write_text(path.read_text())
        path = Path(args.output_document)
    emit(
        args,
        {"file": str(path), "operator_address": key.address, "memo": memo},
        f"gentx of {key.address} ({args.moniker}, bonding {message.self_bond}utask) written to {path}\n"
        f"  peers will dial {memo}; send this file to the coordinator",
    )


def cmd_collect_gentxs(args: argparse.Namespace) -> None:
    home = Path(args.home)
    folder = Path(args.gentx_dir) if args.gentx_dir else home / ceremony.GENTX_DIR
    collected = ceremony.collect_gentxs(home, folder)
    data = {
        "genesis": str(ceremony.genesis_path(home)),
        "gentxs": list(collected.files),
        "validators": [{"moniker": m, "operator": o, "power": p} for m, o, p in collected.validators],
        "persistent_peers": collected.peers,
    }
    emit(
        args,
        data,
        f"collected {len(collected.files)} gentxs into {ceremony.genesis_path(home)}\n"
        + "\n".join(f"  validator {m} ({o}) power {p}" for m, o, p in collected.validators)
        + f"\n  persistent_peers (written to this home's config.toml): {collected.peers or '(none)'}",
    )


def cmd_validate_genesis(args: argparse.Namespace) -> None:
    path = Path(args.file) if args.file else ceremony.genesis_path(Path(args.home))
    summary = ceremony.validate_genesis_file(path)
    emit(
        args,
        summary,
        f"{path} is a valid genesis of chain {summary['chain_id']} (sha256 {summary['sha256']})\n"
        f"  {summary['accounts']} accounts, {summary['gen_txs']} gentxs, "
        f"{len(summary['validators'])} validators, total power {summary['total_power']}",
    )


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ceremony's commands to the ``taskmaster`` parser."""

    def add(name: str, func: Callable[[argparse.Namespace], None], help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_, parents=[common])
        p.set_defaults(func=func)
        return p

    p = add("init", cmd_init, "create a node home (single validator, or --no-validator for a ceremony)")
    p.add_argument("--chain-id", default="taskmaster-1")
    p.add_argument(
        "--no-validator",
        action="store_true",
        help="a genesis with no account and no validator: run add-genesis-account, gentx, collect-gentxs",
    )
    node_config.add_flags(p)
    p = add("add-genesis-account", cmd_add_genesis_account, "add a funded account to the home's genesis")
    p.add_argument("account", help="an address (task1...) or a key name of this home's keyring")
    p.add_argument("coins", help="e.g. 1000000000utask or 5000utask,10stake")
    p = add("gentx", cmd_gentx, "sign a create-validator tx for the genesis (into config/gentx/)")
    p.add_argument("key", help="the operator key (this home's keyring) that bonds and signs")
    p.add_argument("--ip", default="", help="host peers dial (default: the external address or P2P laddr)")
    p.add_argument("--fee", type=int, default=500, help="fee in utask, paid from the genesis account")
    p.add_argument("--gas", type=int, default=200_000, help="gas limit")
    p.add_argument("--output-document", default="", help="also write the gentx to this file")
    from abci_app.modules.staking.cli import add_create_validator_flags

    add_create_validator_flags(p)
    p = add("collect-gentxs", cmd_collect_gentxs, "put every gentx into the genesis; write persistent_peers")
    p.add_argument("--gentx-dir", default="", help="folder of gentx files (default: <home>/config/gentx)")
    p = add(
        "validate-genesis", cmd_validate_genesis, "check a genesis: schema, then InitChain on a scratch store"
    )
    p.add_argument("file", nargs="?", default="", help="a genesis file (default: the home's)")
    p = add("config", node_config.cmd_config, "set listen addresses, peers and the price feed; print them")
    node_config.add_flags(p)
