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
from abci_app.node.keyring import Keyring


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
    ) -> argparse.ArgumentParser:
        """Add a command ``name`` under ``parent`` running ``func``."""
        parents = [self.common, self.txflags] if with_tx_flags else [self.common]
        p: argparse.ArgumentParser = parent.add_parser(name, help=help_, parents=parents)
        p.set_defaults(func=func)
        return p


class CliError(Exception):
    """A user error: the message says what to change."""


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    if args.output == "json":
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print(text if text is not None else json.dumps(data, indent=2, sort_keys=True))


def msg_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


_COIN = re.compile(r"^([0-9]{1,78})([a-z][a-z0-9/]{2,63})$")


def parse_coin(text: str) -> bank_pb2.Coin:
    """``1000utask`` -> Coin; a bare number means utask."""
    if text.isascii() and text.isdigit() and len(text) <= 78:
        return bank_pb2.Coin(denom="utask", amount=text)
    match = _COIN.match(text)
    if match is None:
        raise CliError(f"amount {text!r} must look like 1000utask")
    return bank_pb2.Coin(denom=match.group(2), amount=match.group(1))


def broadcast(
    args: argparse.Namespace, key_name: str, messages: list[Message], outcome: dict[str, str] | None = None
) -> None:
    """Sign, send and report; ``outcome`` (e.g. a stored code's id) is shown when the tx succeeds."""
    key = Keyring(args.home).get(key_name)
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
    if not code and outcome:
        result = {**result, **outcome}
        text += "".join(f"\n{key.replace('_', ' ')} {value}" for key, value in outcome.items())
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
