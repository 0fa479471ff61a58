"""Taking snapshots in the background after Commit, and restoring one chunk by chunk (state sync).

:class:`Snapshotter` owns when snapshots are taken: every ``interval`` heights, after Commit, it holds
the committed version (so pruning keeps it), gathers what the write reads on the block thread and
writes it on a background thread, then prunes old snapshots to ``keep_recent`` and releases the version.
One snapshot is written at a time; a height due while one is still being written is skipped (logged).

:class:`Restore` is one accepted snapshot being applied: :func:`offer` decides whether to accept an
offered snapshot, :meth:`Restore.apply` imports each chunk as it arrives (hash-checked, streamed into
the database) and, after the last, checks the rebuilt app hash against the trusted one.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from abci_app.store import MultiStore
from abci_app.store.errors import InvalidImportError, StoreError

from . import writer
from .format import FORMAT, ChunkHashError, Metadata, SnapshotFormatError, StreamReader
from .snapshots import SnapshotCancelled, SnapshotInfo, SnapshotSource, SnapshotStore, source_of

log = logging.getLogger("abci_app.statesync")

META_CHAIN_ID = b"chain_id"
META_INITIAL_HEIGHT = b"initial_height"


@dataclass(frozen=True)
class SnapshotPolicy:
    """Node-local snapshot settings (``config/app.json``): 0 interval means no snapshots are taken."""

    interval: int = 0
    keep_recent: int = 2
    chunk_size: int = 10 * 1024 * 1024


class Snapshotter:
    """Writes a snapshot every ``policy.interval`` heights on a background thread."""

    def __init__(self, store: MultiStore, snapshots: SnapshotStore, policy: SnapshotPolicy) -> None:
        self.store = store
        self.snapshots = snapshots
        self.policy = policy
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.last_error: BaseException | None = None
        self.on_done: Callable[[SnapshotInfo, float], None] | None = None

    @property
    def busy(self) -> bool:
        """Whether a snapshot is being written."""
        return self._thread is not None and self._thread.is_alive()

    def after_commit(self, height: int, chain_id: str, initial_height: int) -> bool:
        """Start the snapshot of ``height`` if it is due (and none is being written); whether it started."""
        interval = self.policy.interval
        if interval <= 0 or height % interval != 0:
            return False
        if self.busy:
            log.warning("snapshot of height %d skipped: the previous snapshot is still being written", height)
            return False
        self.start(height, chain_id, initial_height)
        return True

    def start(self, height: int, chain_id: str, initial_height: int) -> None:
        """Write the snapshot of retained ``height`` in the background (call on the block thread).

        With a database on disk the walk runs in a separate process (:mod:`.writer`), watched by a
        thread that only waits, so it never takes the interpreter from block production; otherwise
        (a store opened without a path) on the thread itself.
        """
        self.store.hold(height)
        try:
            if self.store.db_path:
                argv = writer.command(
                    self.store.db_path,
                    self.snapshots.root,
                    height,
                    tuple(self.store.store_names),
                    chain_id,
                    initial_height,
                    self.policy.chunk_size,
                )
                target: Callable[[], None] = lambda: self._write_in_process(height, argv)  # noqa: E731
            else:
                source = source_of(self.store, height, chain_id, initial_height, self._stop.is_set)
                target = lambda: self._write_on_thread(source)  # noqa: E731
        except BaseException:
            self.store.release(height)
            raise
        self._thread = threading.Thread(target=self._run, args=(height, target), name=f"snapshot-{height}")
        self._thread.daemon = True
        self._thread.start()

    def _run(self, height: int, target: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            target()
            took = time.monotonic() - started
            info = self.snapshots.get(height, FORMAT)
            if info is None:
                raise SnapshotFormatError(f"the snapshot of height {height} was written but is not listed")
            pruned = self.snapshots.prune(self.policy.keep_recent)
            if pruned:
                log.info(
                    "snapshots of heights %s deleted (snapshot_keep_recent %d)",
                    pruned,
                    self.policy.keep_recent,
                )
            if self.on_done is not None:
                self.on_done(info, took)
        except SnapshotCancelled:
            log.info("snapshot of height %d cancelled: the node is stopping", height)
        except BaseException as exc:  # a background failure must not go unnoticed, nor stop the node
            self.last_error = exc
            log.error("snapshot of height %d failed: %s", height, exc)
        finally:
            self.store.release(height)

    def _write_on_thread(self, source: SnapshotSource) -> None:
        started = time.monotonic()
        info, written = self.snapshots.write(source, self.policy.chunk_size)
        log.info(
            "snapshot of height %d written: %d chunks, %d bytes (%d nodes) in %.1fs",
            info.height,
            info.chunks,
            written.size,
            written.nodes,
            time.monotonic() - started,
        )

    def _write_in_process(self, height: int, argv: list[str]) -> None:
        started = time.monotonic()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL
        ) as proc:
            while True:
                try:
                    out, err = proc.communicate(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    if self._stop.is_set():
                        proc.terminate()
            if proc.returncode == writer.EXIT_CANCELLED or (
                self._stop.is_set()
                and proc.returncode == -signal.SIGTERM  # stopped before its handler was set
            ):
                raise SnapshotCancelled(f"the snapshot of height {height} was cancelled")
            if proc.returncode != 0:
                reason = err.decode(errors="replace").strip().splitlines()
                raise SnapshotFormatError(
                    reason[-1] if reason else f"the snapshot writer exited with {proc.returncode}"
                )
        done = json.loads(out.decode().strip().splitlines()[-1])
        log.info(
            "snapshot of height %d written: %d chunks, %d bytes (%d nodes) in %.1fs (writer process)",
            done["height"],
            done["chunks"],
            done["bytes"],
            done["nodes"],
            time.monotonic() - started,
        )

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the snapshot being written (if any)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Cancel a snapshot being written and wait for its thread (before the store closes)."""
        self._stop.set()
        self.wait()


# ----------------------------------------------------------------- restoring


class Offer(Enum):
    """OfferSnapshot answers (ABCI ResponseOfferSnapshot.Result)."""

    ACCEPT = 1
    ABORT = 2
    REJECT = 3
    REJECT_FORMAT = 4


@dataclass(frozen=True)
class OfferDecision:
    """The answer to an offer and, when accepted, the metadata to restore with."""

    result: Offer
    reason: str
    meta: Metadata | None = None


def judge_offer(
    store: MultiStore,
    height: int,
    fmt: int,
    chunks: int,
    metadata: bytes,
    trusted_app_hash: bytes,
    chain_id: str,
) -> OfferDecision:
    """Whether to accept a snapshot offered at ``height`` with the light client's ``trusted_app_hash``.

    ``chain_id`` is this node's (its genesis), empty when unknown.
    """
    if store.last_version > 0:
        return OfferDecision(
            Offer.ABORT,
            f"this node already has state (height {store.last_version}); state sync needs an empty "
            "node: start from a new, empty home (or remove its data/ directory) to state-sync, or "
            "turn [statesync] enable off to keep this state",
        )
    if fmt != FORMAT:
        return OfferDecision(Offer.REJECT_FORMAT, f"snapshot format {fmt}; this node reads format {FORMAT}")
    if not 0 < height < 1 << 63:
        return OfferDecision(Offer.REJECT, f"snapshot height {height} is not a valid height")
    try:
        meta = Metadata.decode(metadata)
    except SnapshotFormatError as exc:
        return OfferDecision(Offer.REJECT, str(exc))
    problem = _metadata_problem(store, meta, chunks, trusted_app_hash, chain_id)
    if problem is not None:
        return OfferDecision(Offer.REJECT, problem)
    return OfferDecision(Offer.ACCEPT, "accepted", meta)


def _metadata_problem(
    store: MultiStore, meta: Metadata, chunks: int, trusted_app_hash: bytes, chain_id: str
) -> str | None:
    if chunks != len(meta.chunk_hashes):
        return f"the snapshot has {chunks} chunks but its metadata lists {len(meta.chunk_hashes)}"
    if meta.app_hash != trusted_app_hash:
        return (
            f"the snapshot's app hash {meta.app_hash.hex()} is not the trusted {trusted_app_hash.hex()} "
            "of that height"
        )
    if tuple(meta.stores) != tuple(store.store_names):
        return (
            f"the snapshot has stores {list(meta.stores)}; this application's are {list(store.store_names)}"
        )
    if chain_id and meta.chain_id != chain_id:
        return f"the snapshot is of chain {meta.chain_id!r}; this node's genesis is of {chain_id!r}"
    return None


class Apply(Enum):
    """ApplySnapshotChunk answers (ABCI ResponseApplySnapshotChunk.Result)."""

    ACCEPT = 1
    ABORT = 2
    RETRY = 3
    RETRY_SNAPSHOT = 4
    REJECT_SNAPSHOT = 5


@dataclass(frozen=True)
class ApplyOutcome:
    """The answer to one chunk: result, chunks to refetch, senders to reject, and why."""

    result: Apply
    reason: str = ""
    refetch: tuple[int, ...] = ()
    reject_senders: tuple[str, ...] = ()
    done: bool = False


class Restore:
    """One accepted snapshot being applied into an empty store (wiped first; wiped again on failure)."""

    def __init__(self, store: MultiStore, height: int, snapshot_hash: bytes, meta: Metadata, trusted: bytes):
        self.store = store
        self.height = height
        self.meta = meta
        self.trusted = trusted
        self.reader = StreamReader(meta, snapshot_hash)
        self.importer = store.stream_import(height)
        self.started = time.monotonic()
        self.senders: set[str] = set()  # peers whose chunks of this snapshot were applied

    def apply(self, index: int, chunk: bytes, sender: str) -> ApplyOutcome:
        """Check and import chunk ``index``; on the last chunk, commit and check the app hash.

        A bad chunk hash answers RETRY (refetch it, reject its sender) and changes nothing. Content
        that matched its hash but cannot be a valid tree (refused at the first record that shows it,
        so memory stays bounded by the tree's depth), or an app hash other than the trusted one at the
        end, means the snapshot itself is hostile: the store is wiped and the answer is
        REJECT_SNAPSHOT, rejecting every peer that sent chunks of it (each advertised this snapshot,
        its metadata and chunk hashes; an honest node's snapshot always rebuilds its app hash).
        """
        if index < self.reader.next_index:
            return ApplyOutcome(Apply.ACCEPT, f"chunk {index} was applied already")
        if index > self.reader.next_index:
            self.fail()
            return ApplyOutcome(
                Apply.RETRY_SNAPSHOT, f"chunk {index} arrived before {self.reader.next_index}"
            )
        try:
            self.reader.check_chunk(index, chunk)
        except ChunkHashError as exc:
            senders = (sender,) if sender else ()
            return ApplyOutcome(Apply.RETRY, str(exc), refetch=(index,), reject_senders=senders)
        except SnapshotFormatError as exc:
            self.fail()
            return ApplyOutcome(Apply.REJECT_SNAPSHOT, str(exc))
        if sender:
            self.senders.add(sender)
        try:
            for rec in self.reader.feed(index, chunk):
                self.importer.add(rec)
            if self.reader.next_index < self.reader.chunks:
                return ApplyOutcome(Apply.ACCEPT)
            self.reader.finish()
            app_hash = self.importer.commit(
                {
                    META_CHAIN_ID: self.meta.chain_id.encode(),
                    META_INITIAL_HEIGHT: str(self.meta.initial_height).encode(),
                }
            )
        except (SnapshotFormatError, InvalidImportError) as exc:
            return self._reject(f"chunk {index}, after {self.importer.count} records: {exc}")
        except StoreError as exc:  # the database, not the snapshot: no peer is blamed
            self.fail()
            return ApplyOutcome(Apply.REJECT_SNAPSHOT, f"chunk {index}: {exc}")
        if app_hash != self.trusted:
            return self._reject(
                f"the restored app hash {app_hash.hex()} is not the trusted {self.trusted.hex()}"
            )
        return ApplyOutcome(Apply.ACCEPT, "restored", done=True)

    def _reject(self, reason: str) -> ApplyOutcome:
        """Abandon a snapshot whose content is hostile, rejecting the peers that sent its chunks."""
        self.fail()
        senders = tuple(sorted(self.senders))
        return ApplyOutcome(Apply.REJECT_SNAPSHOT, reason, reject_senders=senders)

    def fail(self) -> None:
        """Abandon this restore: the store is empty again, ready for another snapshot."""
        self.importer.abort()
        self.store.wipe()
