"""``taskmaster export``: a node's state at a retained height as a genesis document a new chain starts from.

The node must be stopped (the application's database is opened exclusively). The document's
``app_state`` holds every module's full state (each module's ``export_genesis``); its CometBFT part
continues the old chain: ``initial_height`` is the exported height + 1 (heights recorded in state,
such as jail periods, due blocks and oracle rounds, are absolute and keep their meaning), the
validators are staking's active set, and the consensus params are those of the home's genesis.
Starting a chain from the export answers every query as the old chain did at the exported height;
before it is written, the document is checked as ``validate-genesis`` would (its shape against the
genesis protos, then InitChain on a scratch store).
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abci_app.node.genesis import GenesisError, check_genesis
from abci_app.tx.address import address_from_pubkey
from abci_app.version import APP_VERSION

if TYPE_CHECKING:  # the store and modules load only when an export runs: `taskmaster --help` stays quick
    from abci_app.context import Context
    from abci_app.modules import Module
    from abci_app.store import MultiStore

ED25519 = "tendermint/PubKeyEd25519"


class ExportError(RuntimeError):
    """The export cannot be made; the message says why and what to do."""


def module_states(ctx: Context, modules: Sequence[Module]) -> dict[str, Any]:
    """Every module's genesis section as ``ctx`` sees the state, in module order.

    Raises ExportError when the state breaks an invariant (an export of a corrupt state would not
    start: InitChain checks the same invariants).
    """
    for module in modules:
        for invariant in module.invariants:
            try:
                invariant(ctx)
            except AssertionError as exc:
                raise ExportError(f"the state breaks a {module.name} invariant: {exc}") from exc
    return {m.name: m.export_genesis(ctx) for m in modules if m.export_genesis is not None}


def export_app_state(
    store: MultiStore, modules: Sequence[Module], chain_id: str, height: int
) -> dict[str, Any]:
    """Every module's genesis section at committed ``height``; ExportError if it is not retained."""
    from abci_app.context import Context

    versions = store.versions()
    if height not in versions:
        shown = f"{versions[0]}..{versions[-1]}" if versions else "none"
        raise ExportError(f"height {height} is not retained; the retained heights are {shown}")
    return module_states(Context(branch=store.branch(height), chain_id=chain_id, height=height), modules)


def cometbft_validators(app_state: dict[str, Any]) -> list[dict[str, Any]]:
    """CometBFT's genesis validators: staking's active set (unjailed, power > 0), by operator address."""
    out = []
    for v in app_state.get("staking", {}).get("validators", []):
        power = int(v.get("power", 0))
        if v.get("jailed") or power <= 0:
            continue
        key = base64.b64decode(v["consensus_pubkey"])
        out.append(
            {
                "address": address_from_pubkey(key).hex().upper(),
                "pub_key": {"type": ED25519, "value": v["consensus_pubkey"]},
                "power": str(power),
                "name": v.get("moniker", ""),
            }
        )
    return out


def genesis_document(
    app_state: dict[str, Any],
    *,
    chain_id: str,
    height: int,
    consensus_params: dict[str, Any],
    genesis_time: str,
) -> dict[str, Any]:
    """The CometBFT genesis document that continues a chain exported at ``height``."""
    params = json.loads(json.dumps(consensus_params))
    params.setdefault("version", {})["app"] = str(APP_VERSION)
    return {
        "genesis_time": genesis_time,
        "chain_id": chain_id,
        "initial_height": str(height + 1),
        "consensus_params": params,
        "validators": cometbft_validators(app_state),
        "app_hash": "",
        "app_state": app_state,
    }


def _home_genesis(home: Path) -> dict[str, Any]:
    path = home / "config" / "genesis.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ExportError(f"{path} not found; is {home} a node home?") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("consensus_params"), dict):
        raise ExportError(f"{path} has no consensus_params object")
    return document


def _check_time(text: str) -> None:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.utcoffset() is None or len(text) > 40:
        raise ExportError(
            f"--genesis-time {text[:40]!r} must be RFC 3339 with a zone, e.g. 2026-01-02T03:04:05Z"
        )


def now_rfc3339() -> str:
    """The current UTC time as CometBFT writes genesis_time."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def export_home(home: Path, height: int = 0, *, chain_id: str = "", genesis_time: str = "") -> dict[str, Any]:
    """The genesis document of ``home``'s state at ``height`` (0: the latest committed height).

    ``chain_id`` defaults to the exported chain's, ``genesis_time`` to now. Raises ExportError saying
    what to do (stop the node, pick a retained height).
    """
    from abci_app.app import AppConfig, Application

    if len(chain_id) > 50:
        raise ExportError(f"--chain-id {chain_id[:60]!r} is longer than CometBFT's 50 characters")
    if genesis_time:
        _check_time(genesis_time)
    db = home / "data" / "app.db"
    if not db.exists():
        raise ExportError(f"no application database at {db}; is {home} a node home?")
    previous = _home_genesis(home)
    try:
        app = Application(AppConfig(db_path=str(db)))
    except Exception as exc:
        if "lock" in str(exc).lower():
            raise ExportError(f"the application database {db} is in use: stop the node first") from exc
        raise ExportError(f"cannot open the application database {db}: {exc}") from exc
    try:
        latest = app.store.last_version
        if latest == 0:
            raise ExportError(f"{home} has no committed block to export")
        if not 0 <= height <= latest:
            raise ExportError(f"--height {height}: give 0 (the latest) or a height from 1 to {latest}")
        chosen = height or latest
        app_state = export_app_state(app.store, app.router.modules, app.chain_id, chosen)
        document = genesis_document(
            app_state,
            chain_id=chain_id or app.chain_id or str(previous.get("chain_id", "")),
            height=chosen,
            consensus_params=previous["consensus_params"],
            genesis_time=genesis_time or now_rfc3339(),
        )
    finally:
        app.close()
    try:
        check_genesis(document, f"export of {home} at height {chosen}")
    except GenesisError as exc:
        raise ExportError(f"the export would not start a chain (please report this): {exc}") from exc
    return document


def write_export(document: dict[str, Any], output_file: str = "") -> None:
    """Write the document as indented JSON to ``output_file`` (stdout when empty)."""
    text = json.dumps(document, indent=2) + "\n"
    if output_file:
        Path(output_file).write_text(text)
    else:
        import sys

        sys.stdout.write(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``taskmaster export`` (``--home`` and ``--height`` are the common ones)."""
    parser.add_argument("--output-file", default="", help="write the genesis here (default: stdout)")
    parser.add_argument("--chain-id", default="", help="chain id of the new chain (default: the old one)")
    parser.add_argument("--genesis-time", default="", help="genesis_time, RFC 3339 in UTC (default: now)")


def cmd_export(args: argparse.Namespace) -> None:
    """``taskmaster export --home H [--height N] [--output-file F]``: ExportError becomes a CLI error."""
    from abci_app.cli_support import CliError

    try:
        document = export_home(
            Path(args.home), args.height, chain_id=args.chain_id, genesis_time=args.genesis_time
        )
        write_export(document, args.output_file)
    except (ExportError, OSError) as exc:
        raise CliError(str(exc)) from exc
