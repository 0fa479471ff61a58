"""The ``taskmaster`` command: the node's own commands (start, rollback, run-dev, keys, status) here, the
genesis ceremony's (init, add-genesis-account, gentx, collect-gentxs, validate-genesis, config) from
``abci_app/node/ceremony_cli.py``,
``tx <module> ...`` and ``query <module> ...`` from each module's ``abci_app/modules/<module>/cli.py``.

Every command takes ``--output text|json``; ``--node`` is CometBFT's RPC address and ``--grpc`` our
gRPC address. Errors print one line that says what to change and exit with status 1; with ``-o json``
that line is ``{"error": "..."}`` (on stderr, as the text one: stdout carries only results). Every tx
command names its signing key with ``--from KEY`` (or, where it has one, the positional KEY).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from abci_app.cli_support import CliError, CommandGroups, emit, keyring, resolve_signer, wants_json
from abci_app.client import RpcClient, RpcError
from abci_app.keys.keyring import KeyInfo
from abci_app.keys.passphrase import PassphraseSource, from_file
from abci_app.node import ceremony_cli, export, snapshots_cli
from abci_app.node.home import NodePorts, init_network
from abci_app.node.keyring import (
    BACKEND_ENV,
    BACKENDS,
    PASSPHRASE_ENV,
    PASSPHRASE_FILE_ENV,
    Key,
    Keyring,
    KeyringError,
    confirming_terminal,
)

DEFAULT_NODE = "http://127.0.0.1:26657"
DEFAULT_HOME = str(Path.home() / ".taskmaster")


# -- node -------------------------------------------------------------------------------------------


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
    faucet = Keyring(home, "test").get("faucet")
    print(f"funded key 'faucet' ({faucet.address}) lives in {home}/keyring-test (--keyring-backend test)")
    print(f"try: .venv/bin/taskmaster query bank balance {faucet.address}")
    args.no_cometbft = False
    args.quiet = False
    args.simulate_prices = True
    cmd_start(args)


# -- keys -------------------------------------------------------------------------------------------


def _key_json(key: Key) -> dict[str, str]:
    return KeyInfo(key.name, key.public_key).to_json()


def _key_text(key: Key) -> str:
    data = _key_json(key)
    return "\n".join(
        [
            f"- address: {data['address']}",
            f"  name: {data['name']}",
            f"  pubkey: '{data['pubkey']}'",
            "  type: local",
        ]
    )


def _read_mnemonic() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("> Enter your bip39 mnemonic: ")
    return sys.stdin.readline().strip()


def _armor_passphrase(args: argparse.Namespace) -> PassphraseSource:
    if args.armor_passphrase_file:
        return from_file(args.armor_passphrase_file)
    return confirming_terminal()


def cmd_keys_add(args: argparse.Namespace) -> None:
    ring = keyring(args)
    if args.recover:
        key = ring.recover(args.name, _read_mnemonic())
        emit(args, _key_json(key), _key_text(key))
        return
    key = ring.add(args.name)
    warning = (
        "**Important** write this mnemonic phrase in a safe place.\n"
        "It is the only way to recover your account if you ever forget your password."
    )
    emit(
        args,
        _key_json(key) | {"mnemonic": key.mnemonic},
        f"{_key_text(key)}\n\n\n{warning}\n\n{key.mnemonic}",
    )


def cmd_keys_list(args: argparse.Namespace) -> None:
    keys = keyring(args).list()
    emit(
        args,
        [_key_json(k) for k in keys],
        "\n".join(f"{k.name}: {k.address}" for k in keys) or _no_keys(args),
    )


def _no_keys(args: argparse.Namespace) -> str:
    """What to say of an empty keyring: where another backend of the same home holds keys, name it."""
    chosen = keyring(args).backend.backend
    others = [o for o in BACKENDS if o != chosen and any((Path(args.home) / f"keyring-{o}").glob("*.json"))]
    hint = "".join(f"; its {o} keyring has keys: add --keyring-backend {o}" for o in others)
    return f"no keys in the {chosen} keyring of {args.home}{hint} (taskmaster keys add NAME)"


def cmd_keys_show(args: argparse.Namespace) -> None:
    key = keyring(args).get(args.name)
    emit(args, _key_json(key), key.address if args.address else _key_text(key))


def cmd_keys_delete(args: argparse.Namespace) -> None:
    ring = keyring(args)
    key = ring.get(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"deleting key {args.name!r} needs a confirmation: add --yes")
        answer = input(f"Key reference {args.name!r} ({key.address}) will be deleted. Continue? [y/N]: ")
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("aborted; nothing was deleted")
    ring.delete(args.name)
    emit(args, {"deleted": args.name, "address": key.address}, f"Key deleted forever (uh oh!): {args.name}")


def cmd_keys_export(args: argparse.Namespace) -> None:
    print(keyring(args).export_armor(args.name, _armor_passphrase(args)), end="")


def cmd_keys_import(args: argparse.Namespace) -> None:
    armored = Path(args.file).read_text(encoding="utf-8")
    key = keyring(args).import_armor(args.name, armored, _armor_passphrase(args))
    emit(args, _key_json(key), _key_text(key))


# -- status -----------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> None:
    status = RpcClient(args.node).status()
    sync = status["sync_info"]
    emit(
        args,
        status,
        f"chain {status['node_info']['network']} height {sync['latest_block_height']} "
        f"app_hash {sync['latest_app_hash']} catching_up {sync['catching_up']}",
    )


# -- version ----------------------------------------------------------------------------------------


def version_info(long: bool) -> dict[str, str]:
    """The application's version; with ``long`` also CometBFT's (the binary's, else the pinned one),
    Python's and the git commit of the source (when it is a checkout)."""
    import platform
    import subprocess
    from importlib import metadata

    from abci_app.node.home import cometbft_binary

    try:
        app_version = metadata.version("taskmaster-chain")
    except metadata.PackageNotFoundError:
        app_version = "unknown (not installed)"
    info = {"version": app_version}
    if not long:
        return info
    root = Path(__file__).resolve().parent.parent

    def run(*cmd: str) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=root)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    pinned = root / "COMETBFT_VERSION"
    cometbft = run(cometbft_binary(), "version")
    if not cometbft and pinned.exists():
        cometbft = f"{pinned.read_text().strip()} (pinned; {cometbft_binary()} not found)"
    info["cometbft"] = cometbft or "unknown"
    info["python"] = f"{platform.python_implementation()} {platform.python_version()}"
    commit = run("git", "rev-parse", "HEAD")
    if commit and run("git", "status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    info["commit"] = commit or "unknown (not a git checkout)"
    return info


def cmd_version(args: argparse.Namespace) -> None:
    info = version_info(args.long)
    text = info["version"] if not args.long else "\n".join(f"{k}: {v}" for k, v in info.items())
    emit(args, info, text)


# -- module commands --------------------------------------------------------------------------------


def module_clis() -> list[tuple[str, ModuleType | None]]:
    """Every module of the router, in its order, with its ``abci_app.modules.<name>.cli`` (None: none).

    A module's CLI module has ``register(groups: CommandGroups)``, which adds its ``tx`` and ``query``
    commands.
    """
    from abci_app.router import default_modules

    found: list[tuple[str, ModuleType | None]] = []
    for module in default_modules():
        name = f"abci_app.modules.{module.name}.cli"
        found.append((module.name, importlib.import_module(name) if importlib.util.find_spec(name) else None))
    return found


def _register_modules(groups: CommandGroups) -> str:
    """Let every module add its commands; returns the help line that lists them per module."""
    listed = []
    for name, cli in module_clis():
        seen = {"tx": set(groups.tx.choices), "query": set(groups.query.choices)}
        if cli is not None:
            cli.register(groups)
        added = [
            group
            for group, sub in (("tx", groups.tx), ("query", groups.query))
            if set(sub.choices) - seen[group]
        ]
        listed.append(f"{name} ({', '.join(added) or 'no commands'})")
    return "module commands (taskmaster tx|query <module> --help): " + ", ".join(listed)


# -- parser -----------------------------------------------------------------------------------------


def _node_flags(suppress: bool) -> argparse.ArgumentParser:
    """--output, --home, --node, --grpc and --height; unset ones left out of the namespace if ``suppress``."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument(
        "--output",
        "-o",
        choices=["text", "json"],
        default=default("text"),
        help='json: the result as JSON on stdout; an error as {"error": "..."} on stderr (exit status 1)',
    )
    flags.add_argument("--home", default=default(DEFAULT_HOME), help="node home (keyring, config, data)")
    flags.add_argument(
        "--node",
        default=default(DEFAULT_NODE),
        help="CometBFT RPC address: host:port, tcp://host:port (as CometBFT writes it) or http(s)://host:port",
    )
    flags.add_argument(
        "--grpc", default=default(""), help="gRPC address for queries (default: abci_query via --node)"
    )
    flags.add_argument("--height", type=int, default=default(0), help="query at this height (0 = latest)")
    flags.add_argument(
        "--keyring-backend",
        choices=BACKENDS,
        default=default(None),
        help="file (encrypted, asks a passphrase) or test (plaintext, localnets only); "
        f"default: ${BACKEND_ENV}, else file",
    )
    flags.add_argument(
        "--keyring-passphrase-file",
        default=default(None),
        help=f"file holding the file keyring's passphrase (else ${PASSPHRASE_FILE_ENV}, ${PASSPHRASE_ENV} or "
        "the terminal)",
    )
    return flags


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    # The node flags go before or after any subcommand. Below the top level they default to
    # SUPPRESS: argparse copies a subparser's defaults over the parent's values, so a real default
    # there would silently drop ``taskmaster --home X query ...``'s --home.
    top = _node_flags(suppress=False)
    common = _node_flags(suppress=True)

    txflags = argparse.ArgumentParser(add_help=False)
    txflags.add_argument(
        "--from", dest="from_option", metavar="KEY", help="name of the signing key in the keyring (required)"
    )
    txflags.add_argument("--fee", type=int, default=500, help="fee in utask")
    txflags.add_argument("--gas", type=int, default=200_000, help="gas limit")
    txflags.add_argument("--memo", default="")
    txflags.add_argument("--broadcast-mode", choices=["sync", "async", "commit"], default="commit")

    parser = _Parser(prog="taskmaster", description=__doc__, parents=[top])
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

    ceremony_cli.add_commands(sub, common)
    p = add(sub, "start", cmd_start, "run the ABCI and gRPC servers and CometBFT")
    p.add_argument("--no-cometbft", action="store_true", help="do not start a CometBFT child")
    p.add_argument("--quiet", action="store_true", help="do not print a line per block")
    p = add(sub, "rollback", cmd_rollback, "undo the last block in CometBFT and the app (node stopped)")
    p.add_argument("--hard", action="store_true", help="also remove the last block from CometBFT's store")
    p = add(
        sub,
        "export",
        export.cmd_export,
        "write the state at --height as a new chain's genesis (node stopped)",
    )
    export.add_arguments(p)
    snapshots_cli.add_commands(sub, common)
    p = add(sub, "run-dev", cmd_run_dev, "init a single-validator home if needed, then start it")
    p.add_argument("--chain-id", default="taskmaster-dev")

    keys = add(sub, "keys", lambda a: None, "manage the keyring").add_subparsers(dest="keys", required=True)
    p = add(keys, "add", cmd_keys_add, "create a secp256k1 key from a new 24-word mnemonic (printed once)")
    p.add_argument("name")
    p.add_argument(
        "--recover", action="store_true", help="restore from a BIP39 mnemonic read from the terminal or stdin"
    )
    add(keys, "list", cmd_keys_list, "list keys")
    p = add(keys, "show", cmd_keys_show, "show a key (name or address)")
    p.add_argument("name")
    p.add_argument("--address", "-a", action="store_true", help="print the address only")
    p = add(keys, "delete", cmd_keys_delete, "delete a key")
    p.add_argument("name")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for a confirmation")
    for name, func, text in (
        ("export", cmd_keys_export, "print a key ASCII-armored, encrypted under a new passphrase"),
        ("import", cmd_keys_import, "import an ASCII-armored key from FILE"),
    ):
        p = add(keys, name, func, text)
        p.add_argument("name")
        if name == "import":
            p.add_argument("file")
        p.add_argument(
            "--armor-passphrase-file",
            help="file holding the export's passphrase (default: ask on the terminal)",
        )

    tx = add(sub, "tx", lambda a: None, "sign and broadcast a tx").add_subparsers(
        dest="module", required=True
    )
    query_sub = add(sub, "query", lambda a: None, "query state").add_subparsers(dest="module", required=True)
    add(sub, "status", cmd_status, "node status")
    p = add(sub, "version", cmd_version, "print the application's version")
    p.add_argument("--long", action="store_true", help="also CometBFT's, Python's and the source commit")
    parser.epilog = _register_modules(CommandGroups(tx=tx, query=query_sub, common=common, txflags=txflags))
    return parser


class _Parser(argparse.ArgumentParser):
    """The parser of every command: with ``-o json`` in the arguments, a usage error is JSON too."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            print(json.dumps({"error": f"{self.prog}: {message}"}), file=sys.stderr)
            sys.exit(2)
        super().error(message)


def _asks_json(argv: list[str]) -> bool:
    """Whether ``argv`` asks for ``--output json`` (read before parsing, for parse errors)."""
    for i, arg in enumerate(argv):
        if arg in ("-o", "--output") and i + 1 < len(argv) and argv[i + 1] == "json":
            return True
        if arg in ("-ojson", "--output=json"):
            return True
    return False


def report_error(args: argparse.Namespace | None, message: str) -> NoReturn:
    """Print a failed command's error and exit 1: ``error: ...`` on stderr, or with ``-o json``
    ``{"error": "..."}`` on stderr (stdout carries only a command's result)."""
    if wants_json(args):
        print(json.dumps({"error": message}), file=sys.stderr)
    else:
        print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``taskmaster`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    _Parser.json_errors = _asks_json(argv)
    args = build_parser().parse_args(argv)
    try:
        resolve_signer(args)
        args.func(args)
    except (CliError, KeyringError, RpcError, FileExistsError, FileNotFoundError) as exc:
        report_error(args, str(exc))
    except BrokenPipeError:  # `taskmaster ... | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":
    main()
