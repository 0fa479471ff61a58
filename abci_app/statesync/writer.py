"""A snapshot written by a separate process, so the node's block thread keeps its interpreter.

Walking and compressing every node of a large version is minutes of pure-Python work; on a thread of
the node it takes the interpreter lock from block production (a 1,000,000-key snapshot made the longest
block 6.6x longer). So the :class:`~abci_app.statesync.manager.Snapshotter` runs it here instead::

    python -m abci_app.statesync.writer --db DATA/application.db --snapshots DATA/snapshots \\
        --height H --stores a,b,c --chain-id ID --initial-height N [--chunk-size BYTES]

The process opens the node's RocksDB database as a *secondary* instance (read-only, no lock, with its
own info-log directory; it sees every write the node has synced, WAL included), reads the commit info
of ``H``, walks that version's trees and writes the snapshot through the same
:meth:`SnapshotStore.write` as an in-process snapshot, so both give the same bytes. The node holds ``H``
through pruning while this runs, and a node's persisted nodes never change, so the walk reads a stable
version. The process lowers its own priority (``nice``) so block production wins the CPU.

It prints one JSON line (``height``, ``chunks``, ``bytes``, ``nodes``, ``hash``) and exits 0; on
SIGTERM it stops at the next batch of nodes, removes its temporary directory and exits
:data:`EXIT_CANCELLED`; on any other failure it prints the reason on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from rocksdict import AccessType, Options, Rdict

from abci_app.store.errors import CorruptNodeError
from abci_app.store.multistore import CommitInfo
from abci_app.store.nodedb import uncached_loader, version_db_key

from .format import MAX_CHUNK_SIZE
from .snapshots import TMP_PREFIX, SnapshotCancelled, SnapshotSource, SnapshotStore

EXIT_CANCELLED = 3
NICENESS = 10


def open_secondary(db_path: str, secondary_dir: str) -> Rdict:
    """``db_path`` opened as a RocksDB secondary: reads what the primary synced, never writes it."""
    opts = Options(raw_mode=True)
    opts.set_max_open_files(-1)  # every table file opened now: the primary's compactions cannot pull one away
    return Rdict(db_path, options=opts, access_type=AccessType.secondary(secondary_dir))


def source_from_db(
    db: Rdict,
    height: int,
    stores: tuple[str, ...],
    chain_id: str,
    initial_height: int,
    cancelled: Callable[[], bool] = lambda: False,
) -> SnapshotSource:
    """The :class:`SnapshotSource` of retained ``height``, read from the database alone."""
    raw = db.get(version_db_key(height))
    if raw is None:
        raise CorruptNodeError(f"version {height} is not retained in the database")
    info = CommitInfo.decode(raw)
    if tuple(sorted(info.roots)) != tuple(sorted(stores)):
        raise CorruptNodeError(f"version {height} has stores {sorted(info.roots)}, expected {sorted(stores)}")
    loaders = {name: uncached_loader(db, name) for name in stores}
    roots = {name: loaders[name](info.roots[name].nk) if info.roots[name].nk else None for name in stores}
    return SnapshotSource(
        version=height,
        stores=stores,
        roots=roots,
        loaders=loaders,
        app_hash=info.app_hash,
        chain_id=chain_id,
        initial_height=initial_height,
        cancelled=cancelled,
    )


def command(
    db_path: str,
    snapshots_dir: Path,
    height: int,
    stores: tuple[str, ...],
    chain_id: str,
    initial_height: int,
    chunk_size: int,
) -> list[str]:
    """The argv that writes the snapshot of ``height`` in a separate process."""
    return [
        sys.executable,
        "-m",
        "abci_app.statesync.writer",
        "--db",
        db_path,
        "--snapshots",
        str(snapshots_dir),
        "--height",
        str(height),
        "--stores",
        ",".join(stores),
        "--chain-id",
        chain_id,
        "--initial-height",
        str(initial_height),
        "--chunk-size",
        str(chunk_size),
    ]


def main(argv: list[str] | None = None) -> int:
    """Write one snapshot (see the module docstring); the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m abci_app.statesync.writer", description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--snapshots", required=True, type=Path)
    parser.add_argument("--height", required=True, type=int)
    parser.add_argument("--stores", required=True)
    parser.add_argument("--chain-id", default="")
    parser.add_argument("--initial-height", type=int, default=1)
    parser.add_argument("--chunk-size", type=int, default=MAX_CHUNK_SIZE)
    args = parser.parse_args(argv)

    stop = {"requested": False}

    def on_term(_sig: int, _frame: object) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, on_term)
    with contextlib.suppress(OSError):  # not allowed to lower it: run at the node's priority
        os.nice(NICENESS)
    secondary = args.snapshots / f"{TMP_PREFIX}secondary-{args.height}-{os.getpid()}"
    db: Rdict | None = None
    try:
        snaps = SnapshotStore(args.snapshots, clean=False)
        db = open_secondary(args.db, str(secondary))
        stores = tuple(s for s in args.stores.split(",") if s)
        source = source_from_db(
            db, args.height, stores, args.chain_id, args.initial_height, lambda: stop["requested"]
        )
        info, written = snaps.write(source, args.chunk_size)
    except SnapshotCancelled:
        return EXIT_CANCELLED
    except Exception as exc:  # reported to the node, which logs it and goes on
        print(f"snapshot of height {args.height} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if db is not None:
            db.close()
        shutil.rmtree(secondary, ignore_errors=True)
    line = {
        "height": info.height,
        "chunks": info.chunks,
        "bytes": written.size,
        "nodes": written.nodes,
        "hash": info.hash.hex(),
    }
    print(json.dumps(line, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
