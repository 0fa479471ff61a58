"""Shared pieces of the ``taskmaster`` command that modules use to add their own subcommands.

A module adds commands in ``abci_app/modules/<m>/cli.py`` with ``register(groups: CommandGroups)``;
``abci_app/cli.py`` calls it for every module of the router that has one, so a module brings its
commands with it and the node-level CLI never names a module.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from taskmaster.bank.v1 import bank_pb2

from abci_app.client import RpcClient
from abci_app.node.keyring import Keyring, default_passphrase


@dataclass(frozen=True)
class CommandGroups:
    """Where modules attach commands: ``tx`` and ``query`` sub-parsers and the shared flag parents."""

    tx: Any
    query: Any
    common: argparse.ArgumentParser
    txflags: argparse.ArgumentParser

    def add(
        self,
        parent: Any,
        name: str,
        func: Callable[[argparse.Namespace], None],
        help_: str,
        with_tx_flags: bool = False,
        description: str | None = None,
    ) -> argparse.ArgumentParser:
        """Add a command ``name`` under ``parent`` running ``func``; a tx command (``with_tx_flags``)
        takes the signing key as ``--from KEY`` (see :func:`add_signer` for the positional form)."""
        parents = [self.common, self.txflags] if with_tx_flags else [self.common]
        p: argparse.ArgumentParser = parent.add_parser(
            name,
            help=help_,
            parents=parents,
            description=description or help_,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p


def add_signer(p: argparse.ArgumentParser) -> None:
    """The positional signing key of a tx command (``send KEY TO AMOUNT``), optional: ``--from KEY``
    names it too. :func:`resolve_signer` takes whichever is given, and refuses neither or both."""
    p.add_argument("from_key", nargs="?", metavar="KEY", help="name of the signing key (or --from KEY)")


def resolve_signer(args: argparse.Namespace) -> None:
    """Set ``args.from_key`` from ``--from`` or the positional key of a tx command; never a default."""
    if not hasattr(args, "from_option"):
        return  # not a tx command
    positional = getattr(args, "from_key", None)
    option = args.from_option
    if positional and option and positional != option:
        raise CliError(f"the signing key is named twice ({positional!r} and --from {option!r}); give it once")
    key = option or positional
    if not key:
        raise CliError("name the signing key: --from KEY (taskmaster keys list shows this home's keys)")
    args.from_key = key


class CliError(Exception):
    """A user error: the message says what to change."""


def wants_json(args: argparse.Namespace | None) -> bool:
    """Whether the command was asked for ``--output json``."""
    return getattr(args, "output", "text") == "json"


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    """Print ``data`` as JSON with ``-o json``, else ``text`` (``data`` as JSON when there is none)."""
    if args.output == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(text if text is not None else json.dumps(data, indent=2, sort_keys=True))


def msg_dict(message: Message) -> dict[str, Any]:
    """A response as JSON with the .proto's field names, every field present: an empty list is ``[]``
    and a zero is ``0``, so a reader finds the same keys whatever the chain holds."""
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


_COIN = re.compile(r"^([0-9]{1,78})([a-z][a-z0-9/]{2,63})$")


def parse_coin(text: str) -> bank_pb2.Coin:
    """``1000utask`` -> Coin; a bare number means utask."""
    if text.isascii() and text.isdigit() and len(text) <= 78:
        return bank_pb2.Coin(denom="utask", amount=text)
    match = _COIN.match(text)
    if match is None:
        raise CliError(f"amount {text!r} must look like 1000utask")
    return bank_pb2.Coin(denom=match.group(2), amount=match.group(1))


def require_known_denom(args: argparse.Namespace, denom: str) -> None:
    """Refuse a denom the chain has no supply of (``10uatom`` on a utask chain), naming the ones it has:
    the chain itself could only answer "insufficient funds", since every account holds 0 of it."""
    response = query(
        args,
        "taskmaster.bank.v1.Query",
        "TotalSupply",
        bank_pb2.QueryTotalSupplyRequest(),
        bank_pb2.QueryTotalSupplyResponse,
    )
    assert isinstance(response, bank_pb2.QueryTotalSupplyResponse)
    denoms = sorted(coin.denom for coin in response.supply)
    if denom not in denoms:
        raise CliError(
            f"unknown denom {denom!r}: this chain has no {denom} at all; its denoms are "
            f"{', '.join(denoms) or 'none'} (taskmaster query bank total-supply)"
        )


def explain_balance(log: str, address: str, fee: int) -> str:
    """A failed tx's log, where it gives the signer's utask balance, saying that balance is what was left
    after this tx's fee: the ante takes the fee before the messages run, so "has 90utask" of an
    account that held 100utask before a 10utask fee would read as a wrong balance."""
    if fee <= 0:
        return log

    def note(match: re.Match[str]) -> str:
        have = int(match.group(1))
        return f"{match.group(0)} (balance after this tx's {fee}utask fee; {have + fee}utask before it)"

    return re.sub(rf"(?<![a-z0-9]){re.escape(address)} has ([0-9]{{1,78}})utask\b", note, log)


def keyring(args: argparse.Namespace) -> Keyring:
    """The keyring of ``--home`` in ``--keyring-backend`` (default: ``TASKMASTER_KEYRING_BACKEND``, else
    ``file``), the file backend's passphrase from ``--keyring-passphrase-file``, the environment or the
    terminal."""
    return Keyring(
        args.home,
        getattr(args, "keyring_backend", None),
        default_passphrase(getattr(args, "keyring_passphrase_file", None)),
    )


def broadcast(
    args: argparse.Namespace, key_name: str, messages: list[Message], outcome: dict[str, str] | None = None
) -> None:
    """Sign, send and report; ``outcome`` (e.g. a stored code's id) is shown when the tx succeeds."""
    key = keyring(args).get(key_name)
    client = RpcClient(args.node)
    result = client.sign_and_broadcast(
        key.signing_key,
        key.address,
        messages,
        fee=args.fee,
        gas_limit=args.gas,
        memo=args.memo,
        # commit: follow the tx, so one the mempool drops uncommitted reports why, not a time-out
        mode="watch" if args.broadcast_mode == "commit" else args.broadcast_mode,
    )
    check = result.get("check_tx", result)
    deliver = result.get("tx_result", {})
    evicted = result.get("evicted")
    code = int(check.get("code", 0)) or int(deliver.get("code", 0))
    log = check.get("log") if int(check.get("code", 0)) else deliver.get("log", "")
    text = f"txhash {result.get('hash')} height {result.get('height', '-')} code {code}"
    if evicted is not None:  # passed CheckTx, then dropped by a recheck: say why instead of timing out
        code = int(evicted.get("code", 0)) or 1
        log = evicted.get("log") or "it passes now (dropped, e.g. from a full mempool); send it again"
        text = (
            f"txhash {result.get('hash')} left the mempool without being included; "
            f"checked again: code {evicted.get('codespace') or '-'}/{code}"
        )
    if code:
        log = explain_balance(str(log or ""), key.address, args.fee)
        if evicted is not None:
            result["evicted"] = {**evicted, "log": log}
        elif int(check.get("code", 0)):
            if "check_tx" in result:
                result["check_tx"] = {**check, "log": log}
            else:  # sync or async mode: the answer is CheckTx's
                result["log"] = log
        else:
            result["tx_result"] = {**deliver, "log": log}
    if not code and outcome:
        result = {**result, **outcome}
        text += "".join(f"\n{name.replace('_', ' ')} {value}" for name, value in outcome.items())
    emit(args, result, text + (f": {log}" if code else ""))
    if code:
        sys.exit(1)


def query(
    args: argparse.Namespace, service: str, method: str, request: Message, response_type: type[Message]
) -> Message:
    if args.grpc:
        channel = grpc.insecure_channel(args.grpc)
        call = channel.unary_unary(
            f"/{service}/{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        try:
            response: Message = call(request, timeout=10)
        except grpc.RpcError as exc:
            raise CliError(f"{method}: {exc.code().name}: {exc.details()}") from exc
        finally:
            channel.close()
        return response
    return RpcClient(args.node).query(f"/{service}/{method}", request, response_type, args.height)


def show(
    args: argparse.Namespace, service: str, method: str, request: Message, response_type: type[Message]
) -> None:
    """Run a query and print its response (protobuf JSON with field names as in the .proto)."""
    emit(args, msg_dict(query(args, service, method, request, response_type)))
