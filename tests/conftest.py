"""Suite-wide collection rules.

``make test`` runs pytest with two xdist workers (``-n 2 --dist loadgroup``). Every test that drives
real CometBFT processes (everything in ``tests/integration/`` but the store's crash tests, which run
no chain) is put in one xdist group, so the chains run one at a
time in a single worker, as they would serially: their timing is the same as in a serial run, while
the other worker takes the CPU-bound unit, property, app and fuzz tests beside them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHAINS_GROUP = "chains"

# the keyring backend of every test (and of the CLI processes they start): test, plaintext, no prompt
os.environ["TASKMASTER_KEYRING_BACKEND"] = "test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test that runs a chain the ``chains`` xdist group (a no-op without xdist)."""
    for item in items:
        parts = item.path.relative_to(ROOT).parts
        if parts[:2] == ("tests", "integration") and parts[2] != "store":
            item.add_marker(pytest.mark.xdist_group(CHAINS_GROUP))
