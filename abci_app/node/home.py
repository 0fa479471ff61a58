"""Creating node homes: CometBFT's config and keys, a shared genesis with our ``app_state``, app config.

A home holds ``config/config.toml``, ``config/genesis.json``, CometBFT's keys (made by ``cometbft
init``), ``config/app.json`` (this application's node-local settings), ``keyring-test/`` (the development
network's faucet and operator keys, plaintext: the ``test`` keyring backend) and
``data/`` (CometBFT's databases and ``data/app.db``, the application's RocksDB).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from abci_app.node.genesis import DEFAULT_TEMPLATE, LOCALNET_TEMPLATE, load_template, merge
from abci_app.node.keyring import Keyring
from abci_app.store.limits import MIB, StoreLimits
from abci_app.tx.address import address_from_pubkey
from abci_app.version import APP_VERSION

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class NodePorts:
    """The loopback ports of one node."""

    rpc: int = 26657
    p2p: int = 26656
    abci: int = 26658
    grpc: int = 9090
    metrics: int = 26670  # the application's Prometheus endpoint (0: off)
    api: int = 1317  # the REST gateway (0: off)


class SettingsError(ValueError):
    """``config/app.json`` is malformed; the message names the file and the setting to change."""


@dataclass(frozen=True)
class AppSettings:
    """``config/app.json``: node-local settings of the application, never consensus-critical."""

    abci_address: str = "tcp://127.0.0.1:26658"
    grpc_address: str = "127.0.0.1:9090"
    metrics_address: str = ""  # host:port of the Prometheus /metrics endpoint; empty: off
    api_address: str = "127.0.0.1:1317"  # host:port of the REST gateway (docs/rest.md); empty: off
    keep_recent: int = 0
    keep_every: int = 0
    min_retain_blocks: int = 0
    cometbft_log: str = "cometbft.log"
    snapshot_interval: int = 0  # take a state-sync snapshot every this many heights; 0: never
    snapshot_keep_recent: int = 2  # snapshots kept (older ones deleted); 0 keeps every one
    snapshot_chunk_size: int = 10 * 1024 * 1024  # bytes per snapshot chunk, at most 10 MiB
    simulate_gas_limit: int = 0  # most gas an /app/simulate tx may ask for; 0: the default, 3,000,000
    # the store's memory bounds (abci_app/store/limits.py, docs/store.md "Memory")
    store_node_cache: int = StoreLimits.node_cache_nodes  # decoded tree nodes cached, at least 2
    store_write_buffer_mib: int = StoreLimits.write_buffer_bytes // MIB  # RocksDB memtable (2 at most)
    store_block_cache_mib: int = StoreLimits.block_cache_bytes // MIB  # RocksDB block cache

    @classmethod
    def load(cls, home: Path) -> AppSettings:
        """Read ``<home>/config/app.json``; missing fields take their defaults.

        Raises :class:`SettingsError` naming the file and the setting for a file that is not a JSON
        object, an unknown setting (a typo would otherwise be ignored) or a value of the wrong type.
        """
        path = home / "config" / "app.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found; run `taskmaster init --home {home}` first")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{path} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise SettingsError(f"{path} must hold a JSON object of settings")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise SettingsError(f"{path}: unknown setting(s) {unknown}; the settings are {sorted(fields)}")
        for name, value in data.items():
            want_int = fields[name].type in ("int", int)
            if want_int and not (type(value) is int and 0 <= value < 2**63):
                raise SettingsError(f"{path}: {name} must be a whole number >= 0, got {value!r}")
            if not want_int and not isinstance(value, str):
                raise SettingsError(f"{path}: {name} must be a string, got {value!r}")
        chunk = data.get("snapshot_chunk_size", cls.snapshot_chunk_size)
        if not 0 < chunk <= cls.snapshot_chunk_size:
            raise SettingsError(
                f"{path}: snapshot_chunk_size must be 1 to {cls.snapshot_chunk_size} bytes, got {chunk}"
            )
        for name, least in (("store_node_cache", 2), ("store_write_buffer_mib", 1)):
            if data.get(name, least) < least:
                raise SettingsError(f"{path}: {name} must be at least {least}, got {data[name]}")
        return cls(**data)

    def store_limits(self) -> StoreLimits:
        """The store's memory bounds these settings ask for; ValueError when one is too small."""
        return StoreLimits(
            node_cache_nodes=self.store_node_cache,
            write_buffer_bytes=self.store_write_buffer_mib * MIB,
            block_cache_bytes=self.store_block_cache_mib * MIB,
        )

    def save(self, home: Path) -> None:
        """Write ``<home>/config/app.json``."""
        (home / "config" / "app.json").write_text(json.dumps(asdict(self), indent=2) + "\n")


def cometbft_binary() -> str:
    """The pinned CometBFT binary installed by scripts/install-cometbft.sh (or $COMETBFT)."""
    return os.environ.get("COMETBFT", str(ROOT / ".tools" / "bin" / "cometbft"))


def genesis_chain_id(home: Path) -> str:
    """The chain id of the home's ``config/genesis.json`` (empty if it cannot be read)."""
    try:
        chain_id = json.loads((home / "config" / "genesis.json").read_text()).get("chain_id", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return chain_id if isinstance(chain_id, str) else ""


def patch_toml(text: str, settings: Mapping[tuple[str, str], str]) -> str:
    """Set ``key = value`` lines inside ``[section]`` of a TOML text (section "" is the top level)."""
    section = ""
    out = []
    for line in text.splitlines():
        header = re.match(r"^\[([^\]]+)\]\s*$", line)
        if header:
            section = header.group(1)
        match = re.match(r"^([A-Za-z0-9_]+)\s*=", line)
        if match and (section, match.group(1)) in settings:
            line = f"{match.group(1)} = {settings[(section, match.group(1))]}"
        out.append(line)
    return "\n".join(out) + "\n"


def _node_id(home: Path) -> str:
    return subprocess.run(
        [cometbft_binary(), "show-node-id", "--home", str(home)], check=True, capture_output=True, text=True
    ).stdout.strip()


def init_network(
    homes: Sequence[Path],
    ports: Sequence[NodePorts],
    chain_id: str,
    *,
    timeout_commit: str = "1s",
    extra_app_state: Mapping[str, Any] | None = None,
    template: Path | None = None,
) -> dict[str, Any]:
    """Create one home per validator with a shared genesis; return the genesis document.

    The genesis starts from ``template`` (default: genesis/default.json for one home,
    genesis/localnet.json for several); each home gets a ``validator`` key (the operator, funded) and
    the first home a ``faucet`` key holding most of the supply. ``extra_app_state`` replaces whole
    module sections. Raises GenesisError for a malformed template or app_state.
    """
    if len(homes) != len(ports):
        raise ValueError("one NodePorts per home")
    chosen = load_template(template or (DEFAULT_TEMPLATE if len(homes) == 1 else LOCALNET_TEMPLATE))
    funding = chosen.funding
    for home in homes:
        if (home / "config" / "genesis.json").exists():
            raise FileExistsError(f"{home} is already initialized; remove it or choose another --home")
        subprocess.run(
            [cometbft_binary(), "init", "--home", str(home)], check=True, capture_output=True, text=True
        )
    app_state = json.loads(json.dumps(chosen.app_state))  # a deep copy: the lists below grow
    accounts = app_state.setdefault("auth", {}).setdefault("accounts", [])
    balances = app_state.setdefault("bank", {}).setdefault("balances", [])
    validators = app_state.setdefault("staking", {}).setdefault("validators", [])
    cmt_validators = []

    def coins(amount: int) -> list[dict[str, str]]:
        return [{"denom": funding.denom, "amount": str(amount)}]

    faucet = Keyring(homes[0], "test").add("faucet")
    accounts.append({"address": faucet.address})
    balances.append({"address": faucet.address, "coins": coins(funding.faucet_balance)})
    for i, home in enumerate(homes):
        pv = json.loads((home / "config" / "priv_validator_key.json").read_text())
        pubkey = base64.b64decode(pv["pub_key"]["value"])
        operator = Keyring(home, "test").add("validator")
        accounts.append({"address": operator.address})
        balances.append({"address": operator.address, "coins": coins(funding.validator_balance)})
        validators.append(
            {
                "operator_address": operator.address,
                "consensus_pubkey": pv["pub_key"]["value"],
                "tokens": str(funding.validator_tokens),
                "moniker": f"node{i}",
            }
        )
        cmt_validators.append(
            {
                "address": address_from_pubkey(pubkey).hex().upper(),
                "pub_key": pv["pub_key"],
                "power": str(funding.validator_tokens // 1_000_000),  # the default power reduction
                "name": f"node{i}",
            }
        )
    genesis: dict[str, Any] = json.loads((homes[0] / "config" / "genesis.json").read_text())
    genesis["chain_id"] = chain_id
    genesis["initial_height"] = "1"
    genesis["consensus_params"] = merge(genesis["consensus_params"], chosen.consensus_params)
    # the app version every block header carries (Info reports it); `cometbft rollback` takes it from here
    genesis["consensus_params"].setdefault("version", {})["app"] = str(APP_VERSION)
    genesis["validators"] = cmt_validators
    genesis["app_state"] = {**app_state, **(extra_app_state or {})}
    peers = ",".join(f"{_node_id(h)}@127.0.0.1:{p.p2p}" for h, p in zip(homes, ports, strict=True))
    for i, (home, port) in enumerate(zip(homes, ports, strict=True)):
        (home / "config" / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
        config = home / "config" / "config.toml"
        others = ",".join(p for j, p in enumerate(peers.split(",")) if j != i)
        config.write_text(
            patch_toml(
                config.read_text(),
                {
                    ("", "proxy_app"): f'"tcp://127.0.0.1:{port.abci}"',
                    ("", "moniker"): f'"node{i}"',
                    ("rpc", "laddr"): f'"tcp://127.0.0.1:{port.rpc}"',
                    ("p2p", "laddr"): f'"tcp://127.0.0.1:{port.p2p}"',
                    ("p2p", "persistent_peers"): f'"{others}"',
                    ("p2p", "addr_book_strict"): "false",
                    ("p2p", "allow_duplicate_ip"): "true",
                    ("consensus", "timeout_commit"): f'"{timeout_commit}"',
                    ("tx_index", "indexer"): '"kv"',
                },
            )
        )
        AppSettings(
            abci_address=f"tcp://127.0.0.1:{port.abci}",
            grpc_address=f"127.0.0.1:{port.grpc}",
            metrics_address=f"127.0.0.1:{port.metrics}" if port.metrics else "",
            api_address=f"127.0.0.1:{port.api}" if port.api else "",
        ).save(home)
    return genesis


def operator_address(home: Path) -> str:
    """The bech32 address of the home's validator operator key."""
    return Keyring(home, "test").get("validator").address
