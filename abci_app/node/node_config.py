"""``taskmaster config``: a node's listen addresses, peers and price feed, in the files that hold them.

An operator sets every address a node listens on or announces with one command (also accepted by
``taskmaster init``), instead of editing CometBFT's ``config.toml`` and our ``app.json`` by hand:

============================  =========================================================================
flag                          where it goes
============================  =========================================================================
``--moniker``                 ``config.toml`` ``moniker``
``--p2p-laddr``               ``config.toml`` ``[p2p] laddr`` (peers connect here)
``--external-address``        ``config.toml`` ``[p2p] external_address`` (what peers are told to dial)
``--persistent-peers``        ``config.toml`` ``[p2p] persistent_peers`` (``id@host:port,...``)
``--peers-from-genesis``      the same, from the signed memos of the genesis's gentxs (but our own)
``--rpc-laddr``               ``config.toml`` ``[rpc] laddr`` (CometBFT's RPC)
``--abci-laddr``              ``config.toml`` ``proxy_app`` and ``app.json`` ``abci_address`` (kept equal)
``--grpc-laddr``              ``app.json`` ``grpc_address`` (our query services)
``--metrics-laddr``           ``app.json`` ``metrics_address`` (our Prometheus endpoint; ``""``: off)
``--api-laddr``               ``app.json`` ``api_address`` (the REST gateway, docs/rest.md; ``""``: off)
``--allow-duplicate-ip``      ``config.toml`` ``[p2p] allow_duplicate_ip`` (several nodes on one IP)
``--addr-book-strict``        ``config.toml`` ``[p2p] addr_book_strict`` (false: private addresses ok)
``--timeout-commit``          ``config.toml`` ``[consensus] timeout_commit``
``--pricefeed-*``             ``config/pricefeed.json`` (0600): base URL, plan, API key (from stdin or
                              an environment variable's name: never on the command line), poll interval
``--pricefeed-provider``      ``pricefeed.json`` ``providers``: ``kraken``, ``binance=<root>``,
                              ``coingecko=off``, ``kraken=off`` (repeatable)
``--pricefeed-pair``          ``pricefeed.json`` ``pairs``: ``bitcoin/usd:kraken=XBTUSD,binance=BTCUSDT``
                              (repeatable; ``kraken=`` removes a name)
============================  =========================================================================

Every value is checked before any file is written; a wrong one is an error naming the flag.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

from abci_app.cli_support import CliError, emit
from abci_app.errors import AppError
from abci_app.node.home import AppSettings, patch_toml
from abci_app.pricefeed.config import PLANS, PROVIDERS, FeedConfig, FeedConfigError, config_path

_HOST_PORT = re.compile(r"^(?:tcp://)?(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):([0-9]{1,5})$")
_PEER = re.compile(r"^[0-9a-f]{40}@(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):([0-9]{1,5})$")
_DURATION = re.compile(r"^[0-9]+(ms|s|m)$")

# flag dest -> (config.toml section, key), written as a TOML string
_TOML_STRINGS = {
    "moniker": ("", "moniker"),
    "p2p_laddr": ("p2p", "laddr"),
    "external_address": ("p2p", "external_address"),
    "persistent_peers": ("p2p", "persistent_peers"),
    "rpc_laddr": ("rpc", "laddr"),
    "timeout_commit": ("consensus", "timeout_commit"),
}
_TOML_BOOLS = {
    "allow_duplicate_ip": ("p2p", "allow_duplicate_ip"),
    "addr_book_strict": ("p2p", "addr_book_strict"),
}


def host_port(value: str, flag: str, *, scheme: bool) -> str:
    """``host:port`` (or ``tcp://host:port`` when ``scheme``) from either form; CliError naming ``flag``."""
    match = _HOST_PORT.match(value)
    if match is None or not 0 < int(match.group(2)) < 65536:
        raise CliError(f"{flag} {value!r} must be host:port (e.g. 127.0.0.1:26656), port 1..65535")
    bare = f"{match.group(1)}:{match.group(2)}"
    return f"tcp://{bare}" if scheme else bare


def check_peers(value: str, flag: str = "--persistent-peers") -> str:
    """A comma-separated list of ``<40 hex node id>@host:port`` (empty: none)."""
    peers = [p.strip() for p in value.split(",") if p.strip()]
    for peer in peers:
        match = _PEER.match(peer)
        if match is None or not 0 < int(match.group(2)) < 65536:
            raise CliError(
                f"{flag}: {peer!r} must be <node id>@host:port; a node id is 40 lower-case hex digits "
                "(`cometbft show-node-id --home H` or the gentx memo)"
            )
    return ",".join(peers)


def _bool(value: str, flag: str) -> bool:
    if value not in ("true", "false"):
        raise CliError(f"{flag} must be true or false, got {value!r}")
    return value == "true"


def add_flags(p: argparse.ArgumentParser) -> None:
    """The address, peer and price feed flags (``taskmaster config`` and ``taskmaster init``)."""
    p.add_argument("--moniker", help="the node's name in CometBFT")
    p.add_argument("--p2p-laddr", help="P2P listen address, e.g. 0.0.0.0:26656")
    p.add_argument("--external-address", help="P2P address peers should dial, e.g. 203.0.113.7:26656")
    p.add_argument("--persistent-peers", help="id@host:port,... (empty string: none)")
    p.add_argument(
        "--peers-from-genesis",
        action="store_true",
        help="persistent_peers = every gentx memo of config/genesis.json but this node's own",
    )
    p.add_argument("--rpc-laddr", help="CometBFT RPC listen address, e.g. 127.0.0.1:26657")
    p.add_argument("--abci-laddr", help="ABCI address between CometBFT and the app, e.g. 127.0.0.1:26658")
    p.add_argument("--grpc-laddr", help="gRPC query listen address, e.g. 127.0.0.1:9090")
    p.add_argument("--metrics-laddr", help='Prometheus /metrics listen address ("" turns it off)')
    p.add_argument("--api-laddr", help='REST gateway listen address, e.g. 127.0.0.1:1317 ("" turns it off)')
    p.add_argument("--allow-duplicate-ip", help="true: accept several peers from one IP (one-host tests)")
    p.add_argument("--addr-book-strict", help="false: accept peers on private addresses (LAN, namespaces)")
    p.add_argument("--timeout-commit", help="CometBFT's pause after a commit, e.g. 1s or 500ms")
    p.add_argument("--pricefeed-base-url", help="CoinGecko API root (or a simulator's .../api/v3)")
    p.add_argument("--pricefeed-plan", choices=PLANS, help="CoinGecko plan: demo or pro")
    p.add_argument("--pricefeed-api-key-env", help="name of an environment variable holding the API key")
    p.add_argument(
        "--pricefeed-api-key-stdin", action="store_true", help="read the API key from the first line of stdin"
    )
    p.add_argument("--pricefeed-poll-interval", type=float, help="seconds between polls")
    p.add_argument("--pricefeed-enabled", help="false: this node reports no prices")
    p.add_argument(
        "--pricefeed-provider",
        action="append",
        metavar="NAME[=ROOT|off]",
        help="add a price provider (kraken, binance), optionally with its API root; NAME=off removes it "
        "(coingecko=off stops polling CoinGecko); repeatable",
    )
    p.add_argument(
        "--pricefeed-pair",
        action="append",
        metavar="PAIR:PROVIDER=NAME,...",
        help="the providers' names for a chain pair, e.g. bitcoin/usd:kraken=XBTUSD,binance=BTCUSDT; "
        "PROVIDER= (empty) removes one; repeatable",
    )


def peers_from_genesis(home: Path) -> str:
    """The signed memos (``id@host:port``) of the genesis's gentxs, this home's own node left out."""
    import json

    from abci_app.modules.staking.genesis import read_gentx
    from abci_app.node.ceremony import node_id

    genesis = json.loads((home / "config" / "genesis.json").read_text())
    own = node_id(home)
    peers = []
    for i, text in enumerate(genesis.get("app_state", {}).get("staking", {}).get("gen_txs", [])):
        try:
            memo = read_gentx(base64.b64decode(text), genesis["chain_id"]).memo
        except (AppError, ValueError) as exc:
            raise CliError(
                f"--peers-from-genesis: gen_txs[{i}] of the genesis is not a valid gentx: {exc}"
            ) from exc
        if memo and not memo.startswith(own + "@"):
            peers.append(check_peers(memo, f"--peers-from-genesis: gen_txs[{i}] memo"))
    if not peers:
        raise CliError(
            "--peers-from-genesis: the genesis holds no gentx of another node; give --persistent-peers"
        )
    return ",".join(peers)


def _toml_changes(args: argparse.Namespace, home: Path) -> dict[tuple[str, str], str]:
    changes: dict[tuple[str, str], str] = {}
    for dest, where in _TOML_STRINGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        flag = "--" + dest.replace("_", "-")
        if dest in ("p2p_laddr", "rpc_laddr"):
            value = host_port(value, flag, scheme=True)
        elif dest == "external_address":
            value = host_port(value, flag, scheme=False) if value else ""
        elif dest == "persistent_peers":
            value = check_peers(value)
        elif dest == "timeout_commit" and not _DURATION.match(value):
            raise CliError(f"--timeout-commit {value!r} must be a duration such as 1s or 500ms")
        elif dest == "moniker" and (not value.isprintable() or '"' in value or "\\" in value):
            raise CliError("--moniker must be printable, without quotes or backslashes")
        changes[where] = f'"{value}"'
    for dest, where in _TOML_BOOLS.items():
        value = getattr(args, dest, None)
        if value is not None:
            changes[where] = "true" if _bool(value, "--" + dest.replace("_", "-")) else "false"
    if getattr(args, "peers_from_genesis", False):
        changes[("p2p", "persistent_peers")] = f'"{peers_from_genesis(home)}"'
    if getattr(args, "abci_laddr", None) is not None:
        changes[("", "proxy_app")] = f'"{host_port(args.abci_laddr, "--abci-laddr", scheme=True)}"'
    return changes


def _settings_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if getattr(args, "abci_laddr", None) is not None:
        changes["abci_address"] = host_port(args.abci_laddr, "--abci-laddr", scheme=True)
    if getattr(args, "grpc_laddr", None) is not None:
        changes["grpc_address"] = host_port(args.grpc_laddr, "--grpc-laddr", scheme=False)
    if getattr(args, "metrics_laddr", None) is not None:
        metrics = args.metrics_laddr
        changes["metrics_address"] = host_port(metrics, "--metrics-laddr", scheme=False) if metrics else ""
    if getattr(args, "api_laddr", None) is not None:
        api = args.api_laddr
        changes["api_address"] = host_port(api, "--api-laddr", scheme=False) if api else ""
    return changes


def _provider_changes(values: list[str], current: dict[str, Any]) -> dict[str, Any]:
    """``providers`` after ``--pricefeed-provider`` values (NAME, NAME=ROOT, NAME=off)."""
    providers: dict[str, Any] = {k: dict(v) for k, v in (current or {}).items()}
    for value in values:
        name, sep, arg = value.partition("=")
        name = name.strip().lower()
        if name not in PROVIDERS:
            raise CliError(
                f"--pricefeed-provider {value!r}: the provider must be one of {', '.join(PROVIDERS)}"
            )
        if arg == "off":
            if name == "coingecko":
                providers["coingecko"] = {"enabled": False}
            else:
                providers.pop(name, None)
        elif name == "coingecko":
            if sep:
                raise CliError("--pricefeed-provider coingecko takes no root here; use --pricefeed-base-url")
            providers.pop("coingecko", None)
        else:
            providers[name] = {"base_url": arg} if arg else {}
    return providers


def _pair_changes(values: list[str], current: dict[str, Any]) -> dict[str, Any]:
    """``pairs`` after ``--pricefeed-pair`` values (PAIR:PROVIDER=NAME,...)."""
    pairs: dict[str, Any] = {k: dict(v) for k, v in (current or {}).items()}
    for value in values:
        pid, sep, names = value.partition(":")
        if not sep or not names:
            raise CliError(
                f"--pricefeed-pair {value!r} must be PAIR:PROVIDER=NAME,..., e.g. bitcoin/usd:kraken=XBTUSD"
            )
        entry = pairs.setdefault(pid.strip(), {})
        for item in names.split(","):
            provider, eq, name = item.partition("=")
            if not eq:
                raise CliError(f"--pricefeed-pair {value!r}: {item!r} must be PROVIDER=NAME")
            if name.strip():
                entry[provider.strip().lower()] = name.strip()
            else:
                entry.pop(provider.strip().lower(), None)
        if not entry:
            pairs.pop(pid.strip())
    return pairs


def _feed_changes(args: argparse.Namespace, home: Path) -> FeedConfig | None:
    given = {
        "base_url": getattr(args, "pricefeed_base_url", None),
        "plan": getattr(args, "pricefeed_plan", None),
        "api_key_env": getattr(args, "pricefeed_api_key_env", None),
        "poll_interval_s": getattr(args, "pricefeed_poll_interval", None),
    }
    enabled = getattr(args, "pricefeed_enabled", None)
    if enabled is not None:
        given["enabled"] = _bool(enabled, "--pricefeed-enabled")
    if getattr(args, "pricefeed_api_key_stdin", False):
        key = sys.stdin.readline().strip()
        if not key:
            raise CliError("--pricefeed-api-key-stdin: the first line of stdin holds no key")
        given["api_key"] = key
    given = {k: v for k, v in given.items() if v is not None}
    provider_flags = getattr(args, "pricefeed_provider", None) or []
    pair_flags = getattr(args, "pricefeed_pair", None) or []
    if not given and not provider_flags and not pair_flags:
        return None
    current: dict[str, Any] = FeedConfig.load(home).to_json() if config_path(home).exists() else {}
    if provider_flags:
        given["providers"] = _provider_changes(provider_flags, current.get("providers") or {}) or None
    if pair_flags:
        given["pairs"] = _pair_changes(pair_flags, current.get("pairs") or {}) or None
    if "plan" in given and "base_url" not in given and current.get("plan") != given["plan"]:
        current.pop("base_url", None)  # the new plan's default root
    try:
        merged = {k: v for k, v in {**current, **given}.items() if v is not None}
        return FeedConfig.from_json(merged, source="--pricefeed-* flags")
    except FeedConfigError as exc:
        raise CliError(str(exc)) from exc


def apply(args: argparse.Namespace, home: Path) -> bool:
    """Write every setting given in ``args`` into ``home``'s files; False when none was given."""
    toml_path = home / "config" / "config.toml"
    if not toml_path.exists():
        raise CliError(f"{toml_path} not found; run `taskmaster init --home {home}` first")
    toml = _toml_changes(args, home)
    settings = _settings_changes(args)
    feed = _feed_changes(args, home)
    if toml:
        toml_path.write_text(patch_toml(toml_path.read_text(), toml))
    if settings:
        dataclasses.replace(AppSettings.load(home), **settings).save(home)
    if feed is not None:
        feed.save(home)
    return bool(toml or settings or feed is not None)


def current(home: Path) -> dict[str, Any]:
    """The settings ``taskmaster config`` manages, as the node's files hold them now."""
    toml = tomllib.loads((home / "config" / "config.toml").read_text())
    settings = AppSettings.load(home)
    p2p, rpc = toml.get("p2p", {}), toml.get("rpc", {})
    feed: dict[str, Any] | None = None
    if config_path(home).exists():
        loaded = FeedConfig.load(home)
        feed = {
            "base_url": loaded.base_url,
            "plan": loaded.plan,
            "api_key": "<set>" if loaded.api_key else "",
            "api_key_env": loaded.api_key_env or "",
            "poll_interval_s": loaded.poll_interval_s,
            "enabled": loaded.enabled,
            "providers": {name: loaded.provider_base_url(name) for name in loaded.enabled_providers()},
            "pairs": loaded.pairs or {},
        }
    return {
        "moniker": toml.get("moniker", ""),
        "p2p_laddr": p2p.get("laddr", ""),
        "external_address": p2p.get("external_address", ""),
        "persistent_peers": p2p.get("persistent_peers", ""),
        "allow_duplicate_ip": p2p.get("allow_duplicate_ip"),
        "addr_book_strict": p2p.get("addr_book_strict"),
        "rpc_laddr": rpc.get("laddr", ""),
        "abci_laddr": toml.get("proxy_app", ""),
        "grpc_laddr": settings.grpc_address,
        "metrics_laddr": settings.metrics_address,
        "api_laddr": settings.api_address,
        "timeout_commit": toml.get("consensus", {}).get("timeout_commit", ""),
        "pricefeed": feed,
    }


def cmd_config(args: argparse.Namespace) -> None:
    """``taskmaster config [flags]``: set the given settings, then print them all."""
    home = Path(args.home)
    apply(args, home)
    shown = current(home)
    emit(args, shown, "\n".join(f"{k} = {v}" for k, v in shown.items()))
