"""Fixtures shared by the app-level tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.driver import Chain


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    """A single-validator chain one block past genesis, with funded accounts user0..user2."""
    c = Chain.start(str(tmp_path / "db"))
    c.block([])
    yield c
    c.app.close()
