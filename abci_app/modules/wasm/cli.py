"""``taskmaster tx wasm store`` and ``taskmaster query wasm code|codes|params``.

``store`` takes a binary module (``.wasm``) or WebAssembly text (``.wat``, compiled here with
wasmtime's ``wat2wasm``; the chain only ever sees the binary).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from taskmaster.wasm.v1 import wasm_pb2

from abci_app.cli_pages import add_page_flags, show_page
from abci_app.cli_support import CliError, CommandGroups, add_signer, broadcast, keyring, show

SERVICE = "taskmaster.wasm.v1.Query"


def read_module(path: str) -> bytes:
    """The binary module in ``path``; a ``.wat`` file is compiled from text first."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc}") from exc
    if raw.startswith(b"\x00asm"):
        return raw
    import wasmtime

    try:
        return bytes(wasmtime.wat2wasm(raw.decode()))
    except (UnicodeDecodeError, wasmtime.WasmtimeError) as exc:
        raise CliError(f"{path} is neither a binary module nor valid WebAssembly text: {exc}") from exc


def cmd_store(args: argparse.Namespace) -> None:
    """Upload a module; its code id (the SHA-256 the chain names it by) is printed for ``--wasm``."""
    key = keyring(args).get(args.from_key)
    wasm = read_module(args.file)
    code_id = hashlib.sha256(wasm).hexdigest()
    broadcast(
        args, args.from_key, [wasm_pb2.MsgStoreCode(sender=key.address, wasm=wasm)], {"code_id": code_id}
    )


def cmd_code(args: argparse.Namespace) -> None:
    show(args, SERVICE, "Code", wasm_pb2.QueryCodeRequest(code_id=args.code_id), wasm_pb2.QueryCodeResponse)


def cmd_codes(args: argparse.Namespace) -> None:
    """One page of the codes the account stored, in code id order."""
    request = wasm_pb2.QueryCodesByUploaderRequest(uploader=args.address)
    show_page(args, SERVICE, "CodesByUploader", request, wasm_pb2.QueryCodesByUploaderResponse)


def cmd_params(args: argparse.Namespace) -> None:
    show(args, SERVICE, "Params", wasm_pb2.QueryParamsRequest(), wasm_pb2.QueryParamsResponse)


def register(groups: CommandGroups) -> None:
    """Add ``tx wasm store`` and the wasm queries."""
    tx = groups.add(groups.tx, "wasm", lambda a: None, "WebAssembly code txs").add_subparsers(
        dest="action", required=True
    )
    p = groups.add(tx, "store", cmd_store, "upload a module (.wasm or .wat); prints its code id", True)
    add_signer(p)
    p.add_argument("file", help="the module: binary .wasm or text .wat")

    q = groups.add(groups.query, "wasm", lambda a: None, "WebAssembly code queries").add_subparsers(
        dest="action", required=True
    )
    groups.add(q, "code", cmd_code, "a code's info").add_argument("code_id")
    p = groups.add(q, "codes", cmd_codes, "codes an account stored")
    p.add_argument("address")
    add_page_flags(p)
    groups.add(q, "params", cmd_params, "module params")
