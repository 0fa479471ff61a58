"""The runtime package ``abci_app`` does not import the developer tooling (``devtools/``) when imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import importlib, json, pkgutil, sys
import abci_app
for found in pkgutil.walk_packages(abci_app.__path__, "abci_app."):
    importlib.import_module(found.name)
print(json.dumps(sorted(m for m in sys.modules if m.partition(".")[0] == "devtools")))
"""


def test_importing_every_runtime_module_loads_no_devtools_module() -> None:
    # a fresh interpreter: this test session may already have imported devtools for other tests
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(probe.stdout.splitlines()[-1]) == []
