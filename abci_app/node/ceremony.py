"""The genesis ceremony, as operators of Cosmos chains know it (x/genutil's commands).

1. every operator: ``init --no-validator`` (a home whose genesis has no account and no validator),
   ``keys add``, ``add-genesis-account``, ``gentx`` (a signed MsgCreateValidator into
   ``config/gentx/``, its memo ``<node id>@<host>:<port>`` telling the others where to dial);
2. the coordinator: ``add-genesis-account`` for every operator, the gentx files into its
   ``config/gentx/``, ``collect-gentxs`` (checks each, puts them into ``app_state.staking.gen_txs``,
   writes ``persistent_peers``), ``validate-genesis``, and hands out ``config/genesis.json``;
3. every operator: the shared genesis into ``config/``, ``validate-genesis``, ``config
   --persistent-peers``, ``start``.

InitChain delivers the gentxs (``staking.genesis.deliver_gentx``, ante checks and the create-validator
handler, as genutil's DeliverGenTxs) and answers CometBFT with the resulting set, so the genesis
document itself lists no validators. ``validate-genesis`` runs that very InitChain on a scratch store.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from taskmaster.staking.v1 import staking_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.cli_support import CliError
from abci_app.errors import AppError
from abci_app.node.genesis import DEFAULT_TEMPLATE, GenesisError, load_genesis, load_template, merge
from abci_app.node.home import AppSettings, cometbft_binary, patch_toml
from abci_app.node.node_config import check_peers, host_port
from abci_app.tx.address import from_bech32
from abci_app.version import APP_VERSION

GENTX_DIR = Path("config") / "gentx"


class CeremonyError(CliError):
    """A ceremony step that cannot be done; the message says what to change."""


def genesis_path(home: Path) -> Path:
    """The home's ``config/genesis.json``."""
    return home / "config" / "genesis.json"


def read_genesis(home: Path) -> dict[str, Any]:
    """The home's genesis, checked against the app_state schema."""
    try:
        return load_genesis(genesis_path(home))
    except GenesisError as exc:
        raise CeremonyError(str(exc)) from exc


def write_genesis(home: Path, genesis: dict[str, Any]) -> None:
    """Write the home's genesis (2-space JSON, as CometBFT and ``init`` write it)."""
    path = genesis_path(home)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(genesis, indent=2) + "\n")
    tmp.replace(path)


def node_id(home: Path) -> str:
    """The CometBFT node id of a home: hex of the first 20 bytes of SHA-256 of its node key."""
    key = json.loads((home / "config" / "node_key.json").read_text())
    public = base64.b64decode(key["priv_key"]["value"])[32:]
    return hashlib.sha256(public).digest()[:20].hex()


def consensus_key(home: Path) -> dict[str, str]:
    """The home's validator public key as CometBFT writes it (``type``, base64 ``value``)."""
    key: dict[str, str] = json.loads((home / "config" / "priv_validator_key.json").read_text())["pub_key"]
    return key


# -- init --------------------------------------------------------------------------------------------


def init_home(home: Path, chain_id: str, moniker: str) -> dict[str, Any]:
    """A home for the ceremony: CometBFT's keys and config, a genesis with no account and no validator.

    Servers listen on loopback (RPC 26657, P2P 26656, ABCI 26658, gRPC 9090, metrics 26670) until
    ``taskmaster config`` says otherwise. Raises CeremonyError for an initialized home or a bad chain id.
    """
    if not 0 < len(chain_id) <= 50 or not chain_id.isprintable() or any(c in chain_id for c in ' "\\'):
        raise CeremonyError(
            f"--chain-id {chain_id!r} must be 1..50 printable characters, no spaces or quotes"
        )
    if genesis_path(home).exists():
        raise CeremonyError(f"{home} is already initialized; remove it or choose another --home")
    subprocess.run([cometbft_binary(), "init", "--home", str(home)], check=True, capture_output=True)
    template = load_template(DEFAULT_TEMPLATE)
    genesis: dict[str, Any] = json.loads(genesis_path(home).read_text())
    genesis["chain_id"] = chain_id
    genesis["initial_height"] = "1"
    genesis["consensus_params"] = merge(genesis["consensus_params"], template.consensus_params)
    genesis["consensus_params"].setdefault("version", {})["app"] = str(APP_VERSION)
    genesis["validators"] = []  # InitChain's answer: the gentxs' validators
    genesis["app_state"] = json.loads(json.dumps(template.app_state))
    write_genesis(home, genesis)
    config = home / "config" / "config.toml"
    config.write_text(
        patch_toml(
            config.read_text(),
            {
                ("", "moniker"): json.dumps(moniker),
                ("p2p", "laddr"): '"tcp://127.0.0.1:26656"',
                ("tx_index", "indexer"): '"kv"',
            },
        )
    )
    AppSettings(metrics_address="127.0.0.1:26670").save(home)
    return genesis


# -- accounts ----------------------------------------------------------------------------------------


def _coins(genesis: dict[str, Any], address: str) -> dict[str, int]:
    for entry in genesis["app_state"].get("bank", {}).get("balances", []):
        if entry.get("address") == address:
            return {c["denom"]: int(c["amount"]) for c in entry.get("coins", [])}
    return {}


def _has_account(genesis: dict[str, Any], address: str) -> bool:
    accounts = genesis["app_state"].get("auth", {}).get("accounts", [])
    return any(a.get("address") == address for a in accounts)


def add_genesis_account(home: Path, address: str, coins: dict[str, int]) -> dict[str, Any]:
    """Add an account holding ``coins`` (denom -> amount) to the home's genesis; the new genesis.

    Raises CeremonyError for a malformed address or an account the genesis already has.
    """
    try:
        from_bech32(address, "address")
    except AppError as exc:
        raise CeremonyError(f"{address!r} is not an account address (task1...): {exc.message}") from exc
    genesis = read_genesis(home)
    if _has_account(genesis, address) or _coins(genesis, address):
        raise CeremonyError(f"{address} is already in {genesis_path(home)}; each account is added once")
    app_state = genesis["app_state"]
    app_state.setdefault("auth", {}).setdefault("accounts", []).append({"address": address})
    listed = [{"denom": d, "amount": str(a)} for d, a in sorted(coins.items())]
    app_state.setdefault("bank", {}).setdefault("balances", []).append({"address": address, "coins": listed})
    try:
        load_genesis_document(genesis, str(genesis_path(home)))
    except GenesisError as exc:
        raise CeremonyError(str(exc)) from exc
    write_genesis(home, genesis)
    return genesis


def load_genesis_document(document: dict[str, Any], source: str) -> None:
    """Schema checks of a genesis held in memory (as :func:`load_genesis` does for a file)."""
    from abci_app.node.genesis import validate_genesis

    validate_genesis(document, source)


# -- gentx -------------------------------------------------------------------------------------------


def peer_address(home: Path, ip: str = "") -> str:
    """``<node id>@<host>:<port>`` of this home: ``ip`` or the external address or the P2P laddr host."""
    import tomllib

    p2p = tomllib.loads((home / "config" / "config.toml").read_text()).get("p2p", {})
    laddr = host_port(p2p.get("laddr", ""), "[p2p] laddr", scheme=False)
    external = p2p.get("external_address", "")
    where = host_port(external, "[p2p] external_address", scheme=False) if external else laddr
    host, port = where.rsplit(":", 1)
    if ip:
        host = ip
    if host in ("0.0.0.0", "::", "[::]"):
        raise CeremonyError(
            f"the node listens on {laddr}, which peers cannot dial; give --ip or set "
            "`taskmaster config --external-address HOST:PORT`"
        )
    return f"{node_id(home)}@{host}:{port}"


def check_gentx_funds(genesis: dict[str, Any], message: staking_pb2.MsgCreateValidator, fee: int) -> None:
    """The gentx's account is in the genesis and holds its self-bond plus its fee (utask)."""
    operator = message.operator_address
    if not _has_account(genesis, operator):
        raise CeremonyError(
            f"account {operator} is not in the genesis; run `taskmaster add-genesis-account {operator} "
            "<amount>utask` first (the coordinator too, before collect-gentxs)"
        )
    held = _coins(genesis, operator).get("utask", 0)
    need = int(message.self_bond) + fee
    if held < need:
        raise CeremonyError(
            f"account {operator} holds {held}utask in the genesis, but its gentx bonds {message.self_bond}"
            f"utask and pays a fee of {fee}utask: fund it with at least {need}utask"
        )


def write_gentx(home: Path, raw: bytes, message: staking_pb2.MsgCreateValidator, memo: str) -> Path:
    """Save a signed gentx as ``config/gentx/gentx-<node id>.json`` (only ``tx`` is ever read back)."""
    folder = home / GENTX_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"gentx-{node_id(home)}.json"
    document = {
        "tx": base64.b64encode(raw).decode(),
        "readable": {  # for people; collect-gentxs decodes and checks the signed tx alone
            "operator_address": message.operator_address,
            "moniker": message.description.moniker,
            "self_bond": message.self_bond,
            "consensus_pubkey": base64.b64encode(message.consensus_pubkey).decode(),
            "memo": memo,
        },
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


# -- collect-gentxs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Collected:
    """What collect-gentxs put into the genesis."""

    files: tuple[str, ...]
    validators: tuple[tuple[str, str, int], ...]  # (moniker, operator, power), InitChain's answer
    peers: str  # persistent_peers of every gentx memo but this home's own


def _gentx_bytes(path: Path) -> bytes:
    try:
        data = json.loads(path.read_text())
        return base64.b64decode(data["tx"], validate=True)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CeremonyError(f"{path} is not a gentx file (a JSON object with a base64 tx): {exc}") from exc


def collect_gentxs(home: Path, folder: Path) -> Collected:
    """Check every ``*.json`` gentx in ``folder`` and make them the genesis's gen_txs; write peers.

    Refused, naming the file: a gentx that does not decode or whose signature fails, one for another
    chain, two for one operator or one consensus key, an account missing from the genesis or unable to
    pay its bond and fee. Then InitChain runs on a scratch store; its refusal is reported too.
    """
    from abci_app.modules.staking.genesis import read_gentx

    genesis = read_genesis(home)
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise CeremonyError(f"no gentx (*.json) in {folder}; copy every operator's gentx file there")
    staking = genesis["app_state"].setdefault("staking", {})
    operators = {v.get("operator_address"): "the genesis validators" for v in staking.get("validators", [])}
    keys = {v.get("consensus_pubkey"): "the genesis validators" for v in staking.get("validators", [])}
    peers: list[str] = []
    raws: list[str] = []
    for path in paths:
        raw = _gentx_bytes(path)
        try:
            gentx = read_gentx(raw, genesis["chain_id"])
        except AppError as exc:
            raise CeremonyError(f"{path.name}: {exc.message}") from exc
        message = gentx.message
        key = base64.b64encode(message.consensus_pubkey).decode()
        for seen, value, what in (
            (operators, message.operator_address, f"operator {message.operator_address}"),
            (keys, key, f"consensus key {key}"),
        ):
            if value in seen:
                raise CeremonyError(
                    f"{path.name}: a second validator for {what} (the first is in {seen[value]}); "
                    "each operator sends one gentx, each node has its own consensus key"
                )
            seen[value] = path.name
        try:
            check_gentx_funds(genesis, message, gentx.fee)
        except CeremonyError as exc:
            raise CeremonyError(f"{path.name}: {exc}") from exc
        if gentx.memo:
            peers.append(check_peers(gentx.memo, f"{path.name} memo"))
        raws.append(base64.b64encode(raw).decode())
    staking["gen_txs"] = raws
    genesis["validators"] = []
    names = tuple(p.name for p in paths)
    validators = dry_run(genesis, gentx_files=names)
    write_genesis(home, genesis)
    own = node_id(home)
    others = ",".join(p for p in peers if not p.startswith(own + "@"))
    config = home / "config" / "config.toml"
    config.write_text(patch_toml(config.read_text(), {("p2p", "persistent_peers"): json.dumps(others)}))
    return Collected(names, validators, others)


# -- validate-genesis ---------------------------------------------------------------------------------


def dry_run(genesis: dict[str, Any], gentx_files: tuple[str, ...] = ()) -> tuple[tuple[str, str, int], ...]:
    """Run InitChain on ``genesis`` in a scratch store; the validator set, as (moniker, operator, power).

    Raises CeremonyError with InitChain's reason (a gentx named by its file when ``gentx_files`` given),
    or when the chain would start with no validator, or when the genesis lists validators that differ
    from the set InitChain gives (CometBFT would take InitChain's).
    """
    from abci_app.app import AppConfig, Application
    from abci_app.modules.staking import keeper

    time = Timestamp()
    try:
        time.FromJsonString(genesis.get("genesis_time") or "1970-01-01T00:00:00Z")
    except ValueError as exc:
        raise CeremonyError(f"genesis_time {genesis.get('genesis_time')!r} is not an RFC 3339 time") from exc
    request = abci.RequestInitChain(
        chain_id=genesis["chain_id"],
        initial_height=int(genesis.get("initial_height") or "1"),
        app_state_bytes=json.dumps(genesis.get("app_state", {})).encode(),
        time=time,
    )
    with tempfile.TemporaryDirectory(prefix="taskmaster-validate-") as scratch:
        app = Application(AppConfig(db_path=str(Path(scratch) / "app.db")))
        try:
            response = app.init_chain(request)
            ctx = app._context(app._block_branch(), app.initial_height)
            members = []
            for operator, power in keeper.active_set(ctx):
                validator = keeper.require_validator(ctx, operator)
                members.append(
                    (validator.moniker, validator.operator_address, power, validator.consensus_pubkey)
                )
        except Exception as exc:
            reason = str(exc)
            for i, name in enumerate(gentx_files):
                reason = reason.replace(f"gen_txs[{i}]", f"gen_txs[{i}] ({name})")
            raise CeremonyError(f"InitChain refuses this genesis: {reason}") from exc
        finally:
            app.close()
    if not response.validators and not genesis.get("validators"):
        raise CeremonyError(
            "the chain would start with no validator: collect at least one gentx (`taskmaster "
            "collect-gentxs`) or list staking validators in app_state"
        )
    listed = genesis.get("validators") or []
    if listed:
        given = sorted((v["pub_key"]["value"], int(v["power"])) for v in listed)
        answered = sorted((base64.b64encode(m[3]).decode(), m[2]) for m in members)
        if given != answered:
            raise CeremonyError(
                "the genesis lists validators that differ from the set InitChain gives (CometBFT takes "
                'InitChain\'s): set "validators": [] and let staking decide'
            )
    return tuple((m[0], m[1], m[2]) for m in members)


def validate_genesis_file(path: Path) -> dict[str, Any]:
    """Schema checks, then InitChain on a scratch store; a summary of the chain it would start."""
    try:
        genesis = load_genesis(path)
    except GenesisError as exc:
        raise CeremonyError(str(exc)) from exc
    validators = dry_run(genesis)
    app_state = genesis.get("app_state", {})
    ve_height = int(
        genesis.get("consensus_params", {}).get("abci", {}).get("vote_extensions_enable_height", 0)
    )
    if ve_height <= 0:
        raise CeremonyError(
            "consensus_params.abci.vote_extensions_enable_height is 0: the oracle needs vote extensions; "
            'set it to "1" (taskmaster init does)'
        )
    return {
        "file": str(path),
        "chain_id": genesis["chain_id"],
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "accounts": len(app_state.get("auth", {}).get("accounts", [])),
        "gen_txs": len(app_state.get("staking", {}).get("gen_txs", [])),
        "validators": [{"moniker": m, "operator": o, "power": p} for m, o, p in validators],
        "total_power": sum(p for _, _, p in validators),
    }
