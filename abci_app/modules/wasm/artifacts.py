"""The node-local disk cache of compiled modules, as wasmd keeps its compiled contracts.

Layout, under the node's ``<home>/data/wasm-cache``::

    <engine fingerprint>/<code id hex>.cwasm

The fingerprint (:func:`engine_fingerprint`) hashes everything a compiled artifact depends on: the
wasmtime version, the machine, and every engine setting (``runtime.ENGINE_SETTINGS``); an engine
that differs in any of them reads another directory. A file is ``MAGIC | code id (32) |
SHA-256 of the artifact (32) | artifact`` (wasmtime's ``Module.serialize()``), written to a temporary
file with mode 0600 and renamed into place, so a reader sees a whole file or none. It is read back
only if the magic, the code id and the checksum match (a truncated, corrupted or misplaced file is
ignored, the code compiled again and the file rewritten).

Nothing here decides an outcome: a missing, unreadable or unwritable file only means compiling
again, and gas never depends on it. A node that state-synced has no artifacts: it compiles each code
once, at its first execution there.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import platform
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

log = logging.getLogger("abci_app.wasm")

MAGIC = b"taskmaster-cwasm-1\n"
SUFFIX = ".cwasm"
_HEADER = len(MAGIC) + 32 + 32


def engine_fingerprint(settings: tuple[tuple[str, bool | int], ...]) -> str:
    """16 hex characters naming the engine: wasmtime version, machine, OS and ``settings``."""
    try:
        wasmtime_version = version("wasmtime")
    except PackageNotFoundError:  # wasmtime itself refuses artifacts of another version anyway
        wasmtime_version = "unknown"
    described = repr((wasmtime_version, platform.machine(), platform.system(), settings))
    return hashlib.sha256(described.encode()).hexdigest()[:16]


def encode(code_id: bytes, artifact: bytes) -> bytes:
    """The file content for ``artifact`` of ``code_id``."""
    return MAGIC + code_id + hashlib.sha256(artifact).digest() + artifact


def decode(code_id: bytes, content: bytes) -> bytes | None:
    """The artifact in ``content`` if it is a whole file written for ``code_id``; None otherwise."""
    if len(content) < _HEADER or not content.startswith(MAGIC):
        return None
    stored_id = content[len(MAGIC) : len(MAGIC) + 32]
    digest = content[len(MAGIC) + 32 : _HEADER]
    artifact = content[_HEADER:]
    if stored_id != code_id or hashlib.sha256(artifact).digest() != digest:
        return None
    return artifact


@dataclass(frozen=True)
class ArtifactDir:
    """The artifacts of one engine: ``root / fingerprint``."""

    path: Path

    @classmethod
    def under(cls, root: Path, fingerprint: str) -> ArtifactDir:
        """The directory of the engine ``fingerprint`` in the cache at ``root``."""
        return cls(root / fingerprint)

    def file(self, code_id: bytes) -> Path:
        """Where the artifact of ``code_id`` lives."""
        return self.path / f"{code_id.hex()}{SUFFIX}"

    def has(self, code_id: bytes) -> bool:
        """Whether a file for ``code_id`` exists (not whether it is valid); False if it cannot be told."""
        try:
            return self.file(code_id).is_file()
        except OSError:
            return False

    def load(self, code_id: bytes) -> bytes | None:
        """The verified artifact of ``code_id``, or None (missing, unreadable, corrupt)."""
        path = self.file(code_id)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read compiled wasm %s (%s); compiling again", path, exc)
            return None
        artifact = decode(code_id, content)
        if artifact is None:
            log.warning("compiled wasm %s is truncated or corrupt; compiling again", path)
        return artifact

    def store(self, code_id: bytes, artifact: bytes) -> None:
        """Write the artifact of ``code_id`` atomically (temporary file, mode 0600, rename).

        A failure (disk full, permissions) is logged and ignored: the cache is an optimization.
        """
        path = self.file(code_id)
        temporary: str | None = None
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=f".{code_id.hex()}.", suffix=".tmp", dir=self.path)
            with os.fdopen(fd, "wb") as out:  # mkstemp creates the file with mode 0600
                out.write(encode(code_id, artifact))
            os.replace(temporary, path)
            temporary = None
        except OSError as exc:
            log.warning("cannot write compiled wasm %s (%s); it will be compiled again", path, exc)
        finally:
            if temporary is not None:  # a failed write leaves no temporary file behind
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
