"""``taskmaster snapshots list|create|export|import --home H``: state-sync snapshots for operators.

``create`` writes a snapshot of the home's latest (or ``--height``) committed state, the same as a node
with ``snapshot_interval`` writes in the background; ``export`` packs one into a single tar file;
``import`` checks a file against its own chunk hashes and adds it to a home, where the node serves it
to peers, and with ``--restore --app-hash`` also restores an empty home from it (seeding a node by
hand; the app hash is the one the operator trusts for that height, e.g. the ``app_hash`` of block
height + 1 on a node they trust). Commands that open the database need the node stopped.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from abci_app.cli_support import CliError
from abci_app.node.home import genesis_chain_id
from abci_app.statesync.format import MAX_CHUNK_SIZE, MAX_METADATA_SIZE, SnapshotFormatError
from abci_app.statesync.snapshots import SnapshotInfo, SnapshotStore, source_of

if TYPE_CHECKING:
    from abci_app.app import Application

_CHUNK = re.compile(r"chunk-(\d{6})")


def snapshot_store(home: Path) -> SnapshotStore:
    """The snapshots of a node home (``data/snapshots``)."""
    if not (home / "config").is_dir():
        raise CliError(f"{home} is not a node home (no config/); give --home of a node")
    return SnapshotStore(home / "data" / "snapshots")


def _describe(info: SnapshotInfo) -> dict[str, object]:
    meta = info.meta
    return {
        "height": info.height,
        "format": info.format,
        "chunks": info.chunks,
        "hash": info.hash.hex(),
        "app_hash": meta.app_hash.hex(),
        "chain_id": meta.chain_id,
    }


def cmd_list(args: argparse.Namespace) -> None:
    """Print the home's complete snapshots, newest first: one JSON object per line, or with ``-o json``
    one JSON array (``[]`` when there is none)."""
    snaps = snapshot_store(Path(args.home))
    listed = [_describe(info) for info in snaps.listed()]
    if getattr(args, "output", "text") == "json":
        print(json.dumps(listed, indent=2, sort_keys=True))
        return
    if not listed:
        print(
            f"no snapshots in {snaps.root} (a node takes one every snapshot_interval blocks: config/app.json)"
        )
    for item in listed:
        print(json.dumps(item, sort_keys=True))


def _open_app(home: Path, chain_id: str = "") -> Application:
    from tendermint.abci import types_pb2 as abci

    from abci_app.app import AppConfig, Application

    db = home / "data" / "app.db"
    try:
        app = Application(AppConfig(db_path=str(db), chain_id=chain_id))
    except Exception as exc:
        if "lock" in str(exc).lower():
            raise CliError(f"the application database {db} is in use: stop the node first") from exc
        raise CliError(f"cannot open the application database {db}: {exc}") from exc
    app.info(abci.RequestInfo())
    return app


def cmd_create(args: argparse.Namespace) -> None:
    """Write a snapshot of the latest (or ``--height``) committed state of a stopped node."""
    home = Path(args.home)
    snaps = snapshot_store(home)
    if not (home / "data" / "app.db").exists():
        raise CliError(f"no application database in {home}/data; is the home initialized and run?")
    app = _open_app(home)
    try:
        latest = app.store.last_version
        if latest == 0:
            raise CliError(f"{home} has no committed block to snapshot")
        height = args.height or latest
        if not 0 < height <= latest:
            raise CliError(f"--height {args.height}: give 0 (the latest) or a retained height up to {latest}")
        try:
            source = source_of(app.store, height, app.chain_id, app.initial_height)
        except Exception as exc:
            raise CliError(f"height {height} is not retained by this node's pruning: {exc}") from exc
        info, _ = snaps.write(source)
    finally:
        app.close()
    print(json.dumps(_describe(info), sort_keys=True))


def cmd_export(args: argparse.Namespace) -> None:
    """Pack snapshot ``--height`` of the home into one tar file (``--output-file``)."""
    snaps = snapshot_store(Path(args.home))
    listed = snaps.listed()
    info = next((s for s in listed if s.height == args.height), None) if args.height else None
    if info is None:
        heights = [s.height for s in listed]
        raise CliError(f"--height {args.height}: no such snapshot; this home has {heights or 'none'}")
    with tarfile.open(args.output_file, "w") as tar:
        head = json.dumps(
            {"chunks": info.chunks, "format": info.format, "hash": info.hash.hex(), "height": info.height},
            sort_keys=True,
        ).encode()
        for name, data in [("snapshot.json", head), ("metadata", info.metadata)]:
            _add(tar, name, data)
        for i in range(info.chunks):
            chunk = snaps.load_chunk(info.height, info.format, i)
            if chunk is None:
                raise CliError(f"chunk {i} of snapshot {info.height} is missing from {snaps.root}")
            _add(tar, f"chunk-{i:06d}", chunk)
    print(json.dumps({**_describe(info), "file": args.output_file}, sort_keys=True))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    tar.addfile(member, io.BytesIO(data))


def _read_file(path: str) -> tuple[SnapshotInfo, dict[int, bytes]]:
    """A snapshot file's listing and chunks; CliError for anything that is not one."""
    try:
        with tarfile.open(path, "r:") as tar:
            files: dict[str, bytes] = {}
            for member in tar:
                name = member.name
                if not member.isfile() or not (
                    name in ("snapshot.json", "metadata") or _CHUNK.fullmatch(name)
                ):
                    raise CliError(f"{path}: unexpected entry {name!r}; not a snapshot file")
                if member.size > max(MAX_CHUNK_SIZE, MAX_METADATA_SIZE) or name in files:
                    raise CliError(f"{path}: entry {name!r} is too large or repeated")
                handle = tar.extractfile(member)
                assert handle is not None
                files[name] = handle.read()
        head = json.loads(files["snapshot.json"])
        info = SnapshotInfo(
            height=int(head["height"]),
            format=int(head["format"]),
            chunks=int(head["chunks"]),
            hash=bytes.fromhex(head["hash"]),
            metadata=files["metadata"],
        )
        chunks = {int(m.group(1)): data for n, data in files.items() if (m := _CHUNK.fullmatch(n))}
    except (OSError, tarfile.TarError, KeyError, ValueError, TypeError) as exc:
        raise CliError(f"{path} is not a readable snapshot file: {exc}") from exc
    if sorted(chunks) != list(range(info.chunks)):
        raise CliError(f"{path}: has chunks {sorted(chunks)[:5]}...; the snapshot lists {info.chunks}")
    return info, chunks


def cmd_import(args: argparse.Namespace) -> None:
    """Check a snapshot file and add it to the home; with ``--restore``, restore the empty home from it."""
    home = Path(args.home)
    info, chunks = _read_file(args.file)
    snaps = snapshot_store(home)

    def ordered() -> Iterator[bytes]:
        return (chunks[i] for i in range(info.chunks))

    try:
        snaps.add(info, ordered())
    except SnapshotFormatError as exc:
        raise CliError(f"{args.file}: {exc}") from exc
    if args.restore:
        _restore(home, info, chunks, args.app_hash)
    print(json.dumps({**_describe(info), "restored": bool(args.restore)}, sort_keys=True))


def _restore(home: Path, info: SnapshotInfo, chunks: dict[int, bytes], app_hash: str) -> None:
    from tendermint.abci import types_pb2 as abci

    try:
        trusted = bytes.fromhex(app_hash)
    except ValueError:
        trusted = b""
    if len(trusted) != 32:
        raise CliError("--restore needs --app-hash: the 64-hex-digit app hash you trust for that height")
    app = _open_app(home, genesis_chain_id(home))
    try:
        snap = abci.Snapshot(
            height=info.height, format=info.format, chunks=info.chunks, hash=info.hash, metadata=info.metadata
        )
        offer = app.offer_snapshot(abci.RequestOfferSnapshot(snapshot=snap, app_hash=trusted))
        if offer.result != abci.ResponseOfferSnapshot.ACCEPT:
            name = abci.ResponseOfferSnapshot.Result.Name(offer.result)
            raise CliError(f"the snapshot was refused ({name}); the node log line above says why")
        for i in range(info.chunks):
            answer = app.apply_snapshot_chunk(abci.RequestApplySnapshotChunk(index=i, chunk=chunks[i]))
            if answer.result != abci.ResponseApplySnapshotChunk.ACCEPT:
                name = abci.ResponseApplySnapshotChunk.Result.Name(answer.result)
                raise CliError(f"chunk {i} was refused ({name}); the home's store is left empty")
    finally:
        app.close()


def add_commands(parent: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Register ``snapshots list|create|export|import`` under ``parent``."""
    snaps = parent.add_parser("snapshots", help="state-sync snapshots of a node home", parents=[common])
    sub = snaps.add_subparsers(dest="snapshots", required=True)
    sub.add_parser("list", help="list the home's snapshots", parents=[common]).set_defaults(func=cmd_list)
    p = sub.add_parser(
        "create", help="snapshot the latest or --height state (node stopped)", parents=[common]
    )
    p.set_defaults(func=cmd_create)
    p = sub.add_parser("export", help="pack snapshot --height into one file", parents=[common])
    p.add_argument("--output-file", required=True)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("import", help="add a snapshot file to the home (and --restore it)", parents=[common])
    p.add_argument("file")
    p.add_argument("--restore", action="store_true", help="restore this empty home from it (node stopped)")
    p.add_argument("--app-hash", default="", help="the trusted app hash of the snapshot height (hex)")
    p.set_defaults(func=cmd_import)
