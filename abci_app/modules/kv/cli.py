"""``taskmaster query kv get``: one value of an owner's namespace (tasks write it with ``--kv-put``)."""

from __future__ import annotations

import argparse

from taskmaster.kv.v1 import kv_pb2

from abci_app.cli_support import CommandGroups, emit, msg_dict, query

SERVICE = "taskmaster.kv.v1.Query"


def cmd_get(args: argparse.Namespace) -> None:
    resp = query(
        args,
        SERVICE,
        "Get",
        kv_pb2.QueryGetRequest(owner=args.owner, key=args.key.encode()),
        kv_pb2.QueryGetResponse,
    )
    assert isinstance(resp, kv_pb2.QueryGetResponse)
    emit(args, msg_dict(resp), show_value(resp.value) if resp.found else "(not found)")


def show_value(value: bytes) -> str:
    """Printable UTF-8 as itself; anything else (a wasm counter's u64, say) as ``0x`` + hex."""
    try:
        text = value.decode()
    except UnicodeDecodeError:
        text = ""
    if text.isprintable() and (text or not value):
        return text
    return "0x" + value.hex()


def register(groups: CommandGroups) -> None:
    """Add ``query kv get``."""
    q = groups.add(groups.query, "kv", lambda a: None, "kv queries").add_subparsers(
        dest="action", required=True
    )
    p = groups.add(q, "get", cmd_get, "one value of an owner's namespace")
    p.add_argument("owner")
    p.add_argument("key")
