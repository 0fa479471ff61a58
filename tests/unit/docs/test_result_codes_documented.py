"""docs/abci.md lists every result code the chain can answer, with its name, and no code it cannot."""

from __future__ import annotations

import re
from pathlib import Path

import abci_app.app  # noqa: F401  (registers the codes of the ABCI layer)
from abci_app.errors import registered_codes
from abci_app.modules.wasm import errors as _wasm_errors  # noqa: F401  (the wasm runtime's codes)
from abci_app.router import default_modules

DOC = Path(__file__).resolve().parents[3] / "docs" / "abci.md"
ROW = re.compile(r"^\| (\w+) \| (\d+) \| ([^|]+?) \| ([^|]+?) \|$")


def _documented() -> dict[tuple[str, int], str]:
    section = DOC.read_text().split("## Result codes", 1)[1].split("\n## ", 1)[0]
    rows = [ROW.match(line) for line in section.splitlines()]
    return {(m[1], int(m[2])): m[3] for m in rows if m is not None}


def test_every_registered_result_code_is_documented_with_its_name() -> None:
    default_modules()  # imports every module, which registers its codes
    registered = {(e.codespace, e.code): e.name for e in registered_codes()}
    documented = _documented()
    assert sorted(set(registered) - set(documented)) == [], "codes missing from docs/abci.md"
    assert sorted(set(documented) - set(registered)) == [], "docs/abci.md lists codes that do not exist"
    assert {k: documented[k] for k in registered} == registered
