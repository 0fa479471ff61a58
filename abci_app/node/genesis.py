"""Genesis documents: the templates under ``genesis/`` and validation of ``app_state`` against its schema.

``genesis/default.json`` is what ``taskmaster init`` (and ``make run``) starts from, and
``genesis/localnet.json`` what a localnet of several validators starts from: each is a fragment of a
CometBFT genesis document (``consensus_params`` merged into CometBFT's defaults, an ``app_state``
skeleton) plus a ``funding`` section saying how much the generated keys get.

The shape of ``app_state`` has one source of truth, the protobuf definitions: section ``<m>`` is the
JSON form of module ``<m>``'s ``taskmaster.<m>.v1.GenesisState``, the very message its InitChain
parses. :func:`validate_app_state` checks a document against those descriptors and names every field
that is wrong and what to give; :func:`check_genesis` then runs InitChain itself on a scratch store,
so each module's own genesis checks (duplicates, keys, pools, invariants) speak too. docs/genesis.md
describes each section.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from abci_app.modules.genesis_json import Problem

ROOT = Path(__file__).resolve().parents[2]
GENESIS_DIR = ROOT / "genesis"
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


SHOWN_PROBLEMS = 5
"""Problems a GenesisError lists one per line; it counts the rest."""


def genesis_types() -> dict[str, type[Message]]:
    """Each module's ``app_state`` section name and the GenesisState message its InitChain parses.

    Derived, not listed: the chain's modules (:func:`abci_app.router.default_modules`) that have a
    genesis, each with ``taskmaster.<name>.v1.GenesisState`` from the generated protobuf descriptors.
    """
    from google.protobuf import descriptor_pool, message_factory

    from abci_app.router import default_modules  # lazily: the modules load only when a genesis is read

    pool = descriptor_pool.Default()
    types: dict[str, type[Message]] = {}
    for module in default_modules():
        if module.init_genesis is not None:
            descriptor = pool.FindMessageTypeByName(f"taskmaster.{module.name}.v1.GenesisState")
            types[module.name] = message_factory.GetMessageClass(descriptor)
    return types


def _report(source: str, problems: Sequence[object]) -> str:
    """``source: first problem`` and the next ones one per line, the rest counted."""
    lines = [f"{source}: {problems[0]}"]
    lines += [f"  {p}" for p in problems[1:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"  (and {len(problems) - SHOWN_PROBLEMS} more problem(s))")
    return "\n".join(lines)


def app_state_problems(app_state: Any) -> list[Problem]:
    """Every way ``app_state`` is not the JSON form of the modules' GenesisState messages."""
    from google.protobuf import json_format

    from abci_app.modules.genesis_json import Problem, check_json, descriptor_of

    if not isinstance(app_state, Mapping):
        return [Problem("app_state", "must be a JSON object with one section per module")]
    types = genesis_types()
    problems: list[Problem] = []
    for name, section in app_state.items():
        genesis_type = types.get(name)
        if genesis_type is None:
            close = difflib.get_close_matches(str(name), list(types), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(
                Problem("app_state", f"unknown section {name!r}; {hint}the sections are: {', '.join(types)}")
            )
            continue
        found = check_json(section, descriptor_of(genesis_type), f"app_state.{name}")
        if not found:  # the parser InitChain uses has the last word (it should never disagree)
            try:
                json_format.ParseDict(section, genesis_type(), ignore_unknown_fields=False)
            except json_format.ParseError as exc:
                found = [Problem(f"app_state.{name}", str(exc))]
        problems += found
    return problems


def validate_app_state(app_state: Any, source: str = "genesis") -> None:
    """Check ``app_state`` against the modules' GenesisState protobuf messages.

    Raises GenesisError naming ``source`` and each wrong field (e.g.
    ``app_state.tasks.tasks[0].definition.trigger.direction``) with what to give instead.
    """
    problems = app_state_problems(app_state)
    if problems:
        raise GenesisError(_report(source, problems))


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


def check_genesis(document: Any, source: str = "genesis") -> None:
    """:func:`validate_genesis`, then the chain's own InitChain on ``document`` in a scratch store.

    InitChain runs every module's genesis checks and every invariant: what passes here starts a
    chain. Raises GenesisError naming ``source`` and InitChain's reason (which names the section,
    entry and field).
    """
    import tempfile

    from google.protobuf.timestamp_pb2 import Timestamp
    from tendermint.abci import types_pb2 as abci

    from abci_app.app import AppConfig, Application

    validate_genesis(document, source)
    time = Timestamp()
    try:
        time.FromJsonString(document.get("genesis_time") or "1970-01-01T00:00:00Z")
    except ValueError as exc:
        raise GenesisError(
            f"{source}: genesis_time {document.get('genesis_time')!r} is not RFC 3339"
        ) from exc
    request = abci.RequestInitChain(
        chain_id=document["chain_id"],
        initial_height=int(document.get("initial_height") or "1"),
        app_state_bytes=json.dumps(document.get("app_state", {})).encode(),
        time=time,
    )
    with tempfile.TemporaryDirectory(prefix="taskmaster-genesis-") as scratch:
        app = Application(AppConfig(db_path=str(Path(scratch) / "app.db")))
        try:
            app.init_chain(request)
        except Exception as exc:  # any refusal of InitChain is the genesis's fault, reported as such
            raise GenesisError(f"{source}: InitChain refuses it: {exc}") from exc
        finally:
            app.close()
