"""Genesis documents: the templates under ``genesis/`` and validation of ``app_state`` against its schema.

``genesis/default.json`` is what ``taskmaster init`` (and ``make run``) starts from, and
``genesis/localnet.json`` what a localnet of several validators starts from: each is a fragment of a
CometBFT genesis document (``consensus_params`` merged into CometBFT's defaults, an ``app_state``
skeleton) plus a ``funding`` section saying how much the generated keys get. ``genesis/
app_state.schema.json`` is the JSON Schema of ``app_state`` (docs/genesis.md describes each section);
:func:`validate_app_state` checks a document against it and names the first field that is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GENESIS_DIR = ROOT / "genesis"
SCHEMA_PATH = GENESIS_DIR / "app_state.schema.json"
DEFAULT_TEMPLATE = GENESIS_DIR / "default.json"
LOCALNET_TEMPLATE = GENESIS_DIR / "localnet.json"


class GenesisError(ValueError):
    """A genesis document or template that is malformed; the message names the file and field."""


@dataclass(frozen=True)
class Funding:
    """How much a template gives the generated keys, in ``denom``."""

    denom: str
    faucet_balance: int
    validator_balance: int
    validator_tokens: int


@dataclass(frozen=True)
class Template:
    """A genesis template: consensus params to merge, the app_state skeleton, and the funding."""

    consensus_params: dict[str, Any]
    app_state: dict[str, Any]
    funding: Funding


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise GenesisError(f"{path} not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GenesisError(f"{path} is not valid JSON: {exc}") from exc


def _amount(funding: Mapping[str, Any], name: str, path: Path) -> int:
    value = funding.get(name)
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and 0 < len(value) <= 78):
        raise GenesisError(f"{path}: funding.{name} must be a decimal string of at most 78 digits")
    return int(value)


def load_template(path: Path = DEFAULT_TEMPLATE) -> Template:
    """Read and check a genesis template; raises GenesisError naming the file and field."""
    data = _load_json(path)
    if not isinstance(data, dict):
        raise GenesisError(f"{path} must hold a JSON object")
    unknown = sorted(set(data) - {"$comment", "consensus_params", "app_state", "funding"})
    if unknown:
        raise GenesisError(f"{path}: unknown field(s) {unknown}")
    for name in ("consensus_params", "app_state", "funding"):
        if not isinstance(data.get(name), dict):
            raise GenesisError(f"{path}: {name} must be a JSON object")
    validate_app_state(data["app_state"], source=str(path))
    funding = data["funding"]
    denom = funding.get("denom")
    if not isinstance(denom, str) or not denom:
        raise GenesisError(f"{path}: funding.denom must be a denom such as utask")
    return Template(
        consensus_params=data["consensus_params"],
        app_state=data["app_state"],
        funding=Funding(
            denom=denom,
            faucet_balance=_amount(funding, "faucet_balance", path),
            validator_balance=_amount(funding, "validator_balance", path),
            validator_tokens=_amount(funding, "validator_tokens", path),
        ),
    )


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` merged in: nested objects merge, anything else in ``over`` replaces."""
    merged = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        merged[key] = merge(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return merged


def _field_path(path: Any) -> str:
    out = "app_state"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate_app_state(app_state: Any, source: str = "genesis") -> None:
    """Check ``app_state`` against genesis/app_state.schema.json.

    Raises GenesisError naming ``source`` and the first wrong field (the one deepest in the document,
    e.g. ``app_state.bank.balances[0].address``) and what it must be.
    """
    import jsonschema  # lazily: only genesis tooling needs it, never a running node

    schema = _load_json(SCHEMA_PATH)
    validator = jsonschema.Draft202012Validator(schema)
    errors = list(validator.iter_errors(app_state))
    if not errors:
        return
    # the deepest error names the field to change (a shallow one only says "not valid under ...")
    error = min(errors, key=lambda e: (-len(e.absolute_path), _field_path(e.absolute_path), e.message))
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    wanted = error.schema.get("description") if isinstance(error.schema, dict) else None
    if wanted and error.validator in ("oneOf", "anyOf", "pattern"):
        message += f" (expected: {wanted})"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise GenesisError(f"{source}: {_field_path(error.absolute_path)}: {message}{more}")


def validate_genesis(document: Any, source: str = "genesis") -> None:
    """Check a whole genesis document's shape (chain_id, initial_height, validators) and its app_state."""
    if not isinstance(document, dict):
        raise GenesisError(f"{source} must hold a JSON object")
    chain_id = document.get("chain_id")
    if not isinstance(chain_id, str) or not 0 < len(chain_id) <= 50:
        raise GenesisError(f"{source}: chain_id must be a string of 1..50 characters")
    initial = document.get("initial_height", "1")
    if not (isinstance(initial, str) and initial.isascii() and initial.isdigit() and len(initial) <= 19):
        raise GenesisError(f'{source}: initial_height must be a decimal string, e.g. "1"')
    if not isinstance(document.get("validators", []), list):
        raise GenesisError(f"{source}: validators must be a list")
    validate_app_state(document.get("app_state", {}), source)


def load_genesis(path: Path) -> dict[str, Any]:
    """Read and validate a genesis document; raises GenesisError naming the file and field."""
    document = _load_json(path)
    validate_genesis(document, str(path))
    assert isinstance(document, dict)
    return document
