"""The layering the design promises, checked by walking the source (issue 9).

* ``app.py`` (the ABCI call order) imports no module by name: it reaches modules only through the
  router's records and hooks.
* A module touches another module's state only through that module's functions: it never opens
  another module's store (``ctx.store(...)`` with a foreign store name) and never imports another
  module's key layout, messages or genesis; it may import another module's ``keeper`` (its
  functions), ``invariants`` (the shared error type) and the taskmaster's ``task`` framework.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from abci_app.router import default_modules

ROOT = Path(__file__).resolve().parents[2] / "abci_app"
MODULES = ROOT / "modules"
ALLOWED_FOREIGN = {"keeper", "invariants", "task"}


def _imports(tree: ast.AST) -> list[tuple[str, list[str], int]]:
    """(module imported from, names, line) of every import in ``tree``, nested ones included."""
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            assert node.level == 0, "relative imports are not used in abci_app"
            found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
    return found


def _module_files() -> list[tuple[str, Path]]:
    return [(d.name, f) for d in sorted(MODULES.iterdir()) if d.is_dir() for f in sorted(d.rglob("*.py"))]


def test_every_wired_module_is_a_folder_under_modules() -> None:
    names = {m.name for m in default_modules()}
    assert names <= {d.name for d in MODULES.iterdir() if d.is_dir()}


def test_app_imports_no_module_by_name() -> None:
    tree = ast.parse((ROOT / "app.py").read_text())
    offending = [
        (module, line) for module, _, line in _imports(tree) if module.startswith("abci_app.modules.")
    ]
    assert offending == [], f"app.py must reach modules through the router's hooks: {offending}"
    literal = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and _is_store_call(n) and isinstance(n.args[0], ast.Constant)
    ]
    assert literal == [], f"app.py opens no module store by name (lines {literal})"


def _is_store_call(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Attribute) and node.func.attr == "store" and len(node.args) == 1


def _defines_store(tree: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "STORE" for t in n.targets)
        for n in ast.walk(tree)
    )


def _own_store_names(owner: str, tree: ast.AST) -> tuple[set[str], set[str]]:
    """Names bound to this module's STORE constant, and aliases of this module's own submodules."""
    names = {"STORE"} if _defines_store(tree) else set()
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module is None:
            continue
        parts = node.module.split(".")
        own = parts[:3] == ["abci_app", "modules", owner]
        for alias in node.names:
            bound = alias.asname or alias.name
            if own and alias.name == "STORE":
                names.add(bound)
            elif own and len(parts) == 3:
                aliases.add(bound)
    return names, aliases


def violations(owner: str, source: str) -> list[str]:
    """Every breach of the module boundary in one file of module ``owner``."""
    tree = ast.parse(source)
    found = []
    for module, names, line in _imports(tree):
        parts = module.split(".")
        if parts[:2] != ["abci_app", "modules"] or len(parts) < 3 or parts[2] == owner:
            continue
        if not (MODULES / parts[2]).is_dir():
            continue  # a shared helper file beside the modules (abci_app/modules/<name>.py), not a module
        foreign = set(names) - ALLOWED_FOREIGN if len(parts) == 3 else {parts[3]} - ALLOWED_FOREIGN
        if foreign:
            found.append(f"line {line}: imports {sorted(foreign)} of {module}; use its keeper's functions")
    store_names, aliases = _own_store_names(owner, tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _is_store_call(node)):
            continue
        arg = node.args[0]
        own = (isinstance(arg, ast.Name) and arg.id in store_names) or (
            isinstance(arg, ast.Attribute)
            and arg.attr == "STORE"
            and isinstance(arg.value, ast.Name)
            and arg.value.id in aliases
        )
        if not own:
            found.append(f"line {node.lineno}: opens store {ast.unparse(arg)}, not its own")
    return found


@pytest.mark.parametrize(("owner", "path"), _module_files(), ids=lambda v: str(v))
def test_a_module_reaches_another_only_through_its_functions(owner: str, path: Path) -> None:
    assert violations(owner, path.read_text()) == [], path.relative_to(ROOT)


def test_the_walk_flags_a_foreign_store_and_a_foreign_key_layout() -> None:
    """The check is not vacuous: each shape of a breach is reported, and an own store is not."""
    bad = (
        "from abci_app.modules.bank.keys import STORE as BANK\n"
        "from abci_app.modules.staking import keys\n"
        "from abci_app.modules.staking import keeper as staking\n"
        "def f(ctx):\n    ctx.store(BANK).set(b'k', b'v')\n    ctx.store(staking.STORE)\n"
    )
    assert len(violations("oracle", bad)) == 4
    good = (
        "from abci_app.modules.oracle.keys import STORE\n"
        "from abci_app.modules.oracle import keeper\n"
        "from abci_app.modules.staking import keeper as staking\n"
        "def f(ctx):\n    ctx.store(STORE)\n    ctx.store(keeper.STORE)\n    staking.jail(ctx)\n"
    )
    assert violations("oracle", good) == []
