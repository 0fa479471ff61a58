"""``scripts/multihost.sh up`` that fails leaves a state ``down`` cleans and ``up`` can retry (issue 20).

A ceremony that fails half-way (after operator 0's home was initialized) used to leave the homes and
no manifest: the next ``up`` refused (``op0 is already initialized``) and ``down --purge`` said
``nothing to stop``. Needs root and ``ip netns``; skipped with the reason elsewhere. About a minute.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devtools import multihost, operators
from devtools.netns import unavailable
from devtools.operators import CeremonyFailed

pytestmark = [pytest.mark.integration, pytest.mark.netns, pytest.mark.timeout(600)]


def _namespaces(tag: str) -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(tag)]


def test_a_failed_up_cleans_after_itself_and_up_then_down_purge_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"separate hosts need Linux network namespaces: {reason}")
    root = tmp_path / "mh"
    tag = f"mh{os.getpid() % 100000}"
    real_ceremony = operators.ceremony

    def half_ceremony(ops: Any, *args: Any, **kw: Any) -> Path:
        operators.prepare(ops[0], *args[:2], one_host=kw["one_host"], timeout_commit=kw["timeout_commit"])
        raise CeremonyFailed("gentx refused (injected half-way through the ceremony)")

    monkeypatch.setattr(operators, "ceremony", half_ceremony)
    with pytest.raises(CeremonyFailed, match="injected"):
        multihost.up(root, 1, timeout=120.0)
    assert (root / "op0" / "config").is_dir()  # kept for its logs
    assert not (root / multihost.MANIFEST).exists() and _namespaces(tag) == []

    monkeypatch.setattr(operators, "ceremony", real_ceremony)
    try:
        multihost.up(root, 1, timeout=240.0)  # over the half-made home: replaced, not refused
        assert (root / multihost.MANIFEST).exists() and len(_namespaces(tag)) == 1
    finally:
        multihost.down(root, purge=True)
    assert not root.exists() and _namespaces(tag) == []
