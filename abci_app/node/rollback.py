"""``taskmaster rollback``: undo the last block in CometBFT's state and the application's store together.

The recovery path for a node that persisted a wrong app hash (or any state it must re-execute): CometBFT's
own ``cometbft rollback`` moves its state from height n to n - 1 (``--hard`` also drops block n), and
the application must then stand at n - 1 too, so that on restart the handshake replays block n against
it. The order is: check the application can go back (node stopped, version n - 1 retained), roll back
CometBFT, roll the store back to the height CometBFT reports, and compare the app hashes.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from abci_app.app import AppConfig, Application
from abci_app.node.home import cometbft_binary

_ROLLED_BACK = re.compile(
    r"Rolled back (?:both state and block|state) to height (\d+) and hash ([0-9A-Fa-f]*)"
)


class RollbackError(RuntimeError):
    """The rollback cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class RollbackResult:
    """Where both sides stand afterwards."""

    height: int
    cometbft_app_hash: str
    app_hash: str
    block_removed: bool

    @property
    def consistent(self) -> bool:
        """Whether the application's app hash at ``height`` is the one CometBFT's state expects."""
        return self.cometbft_app_hash.lower() == self.app_hash.lower()


def _open_app(home: Path) -> Application:
    db = home / "data" / "app.db"
    if not db.exists():
        raise RollbackError(f"no application database at {db}; is {home} a node home?")
    try:
        return Application(AppConfig(db_path=str(db)))
    except Exception as exc:
        if "lock" in str(exc).lower():
            raise RollbackError(f"the application database {db} is in use: stop the node first") from exc
        raise


def rollback(home: Path, *, hard: bool = False) -> RollbackResult:
    """Roll CometBFT's state (and with ``hard`` its last block) and the application back one height."""
    app = _open_app(home)
    try:
        current = app.store.last_version
        if current < 2:
            raise RollbackError(f"the application is at height {current}; there is nothing to roll back to")
        retained = app.store.versions()
        if current - 1 not in retained:
            raise RollbackError(
                f"height {current - 1} was pruned from the application store (retained: "
                f"{retained[0]}..{retained[-1]}); rollback needs keep_recent >= 2 in config/app.json"
            )
        try:
            out = subprocess.run(
                [cometbft_binary(), "rollback", "--home", str(home), *(["--hard"] if hard else [])],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        except FileNotFoundError as exc:
            raise RollbackError(
                f"CometBFT not found at {cometbft_binary()}; set COMETBFT to its path"
            ) from exc
        match = _ROLLED_BACK.search(out.stdout)
        if out.returncode != 0 or match is None:
            detail = (out.stderr or out.stdout).strip().splitlines()
            raise RollbackError(
                "cometbft rollback failed (the application was left unchanged): "
                + (detail[-1] if detail else f"exit status {out.returncode}")
            )
        height, cometbft_hash = int(match.group(1)), match.group(2)
        if height > current:
            raise RollbackError(
                f"CometBFT rolled back to height {height}, above the application's {current}; "
                "the application was left unchanged"
            )
        if height not in retained:
            raise RollbackError(
                f"CometBFT rolled back to height {height}, which the application store no longer holds "
                f"(retained: {retained[0]}..{retained[-1]}); the application was left unchanged"
            )
        app.store.rollback(height)
        return RollbackResult(height, cometbft_hash, app.store.last_app_hash.hex().upper(), hard)
    finally:
        app.close()
