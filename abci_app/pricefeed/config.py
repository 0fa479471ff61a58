"""Node-local price feed configuration: ``<home>/config/pricefeed.json`` (mode 0600, never on chain).

Fields (all optional in the file; see ``docs/pricefeed.md``)::

    {
      "enabled": true,
      "plan": "demo",                 // "demo" or "pro": selects the key header and the default base URL
      "base_url": "https://api.coingecko.com/api/v3",
      "api_key": "CG-...",            // the key itself, or:
      "api_key_env": "COINGECKO_API_KEY",   // the name of an environment variable holding it
      "poll_interval_s": 10,
      "timeout_s": 5,
      "max_price_age_s": 120,
      "max_backoff_s": 60,
      "providers": {"kraken": {}, "binance": {"base_url": "https://api.binance.com"}},
      "pairs": {"bitcoin/usd": {"kraken": "XBTUSD", "binance": "BTCUSDT"}}
    }

The top-level fields configure CoinGecko (the first provider, as before ``providers`` existed: a file
without ``providers`` fetches from CoinGecko alone). ``providers`` adds the keyless exchange APIs (and
may switch CoinGecko off with ``"coingecko": {"enabled": false}``); ``pairs`` maps each chain pair id to
the other providers' names for it.

The API key never appears in ``repr``/``str`` or log lines: :func:`mask_key` replaces it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

log = logging.getLogger("abci_app.pricefeed")

Plan = Literal["demo", "pro"]
PLANS: tuple[Plan, ...] = ("demo", "pro")
DEMO_BASE_URL = "https://api.coingecko.com/api/v3"
PRO_BASE_URL = "https://pro-api.coingecko.com/api/v3"
DEFAULT_BASE_URLS: dict[str, str] = {"demo": DEMO_BASE_URL, "pro": PRO_BASE_URL}
HEADER_NAMES: dict[str, str] = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
FILE_NAME = "pricefeed.json"
PROVIDERS: tuple[str, ...] = ("coingecko", "kraken", "binance")
"""Every provider this feed knows, in the order they are listed and polled (CoinGecko first)."""
EXCHANGE_BASE_URLS: dict[str, str] = {
    "kraken": "https://api.kraken.com",
    "binance": "https://data-api.binance.vision",
}
_SYMBOL = re.compile(r"[A-Z0-9._/-]{1,32}")


class FeedConfigError(ValueError):
    """The price feed configuration is missing, malformed, or has no usable API key."""


def mask_key(key: str | None) -> str:
    """A stand-in for an API key in messages: says whether it is set, never shows any of it."""
    return "<unset>" if not key else "<redacted>"


def config_path(home: Path | str) -> Path:
    """``<home>/config/pricefeed.json``."""
    return Path(home) / "config" / FILE_NAME


def _number(name: str, value: object, *, minimum: float, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeedConfigError(f"{name} must be a number, got {value!r}")
    if integer and not isinstance(value, int):
        raise FeedConfigError(f"{name} must be a whole number of seconds, got {value!r}")
    if value < minimum:
        raise FeedConfigError(f"{name} must be at least {minimum}, got {value!r}")
    return value


def _check_providers(providers: object) -> None:
    if providers is None:
        return
    if not isinstance(providers, dict):
        raise FeedConfigError('providers must be an object, e.g. {"kraken": {}, "binance": {}}')
    for name, settings in providers.items():
        if name not in PROVIDERS:
            raise FeedConfigError(f"providers: unknown provider {name!r}; known: {', '.join(PROVIDERS)}")
        if not isinstance(settings, dict):
            raise FeedConfigError(f'providers.{name} must be an object (e.g. {{}} or {{"enabled": false}})')
        allowed = {"enabled"} if name == "coingecko" else {"enabled", "base_url"}
        unknown = sorted(set(settings) - allowed)
        if unknown:
            hint = " (CoinGecko's settings are the top-level fields)" if name == "coingecko" else ""
            raise FeedConfigError(
                f"providers.{name}: unknown field(s) {', '.join(unknown)}; known: {sorted(allowed)}{hint}"
            )
        if "enabled" in settings and not isinstance(settings["enabled"], bool):
            raise FeedConfigError(f"providers.{name}.enabled must be true or false")
        url = settings.get("base_url")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise FeedConfigError(f"providers.{name}.base_url must be an http(s) URL, got {url!r}")


def _check_pairs(pairs: object, providers: dict[str, dict[str, Any]]) -> None:
    from abci_app.pricefeed.cache import parse_pair_id

    if pairs is None:
        return
    if not isinstance(pairs, dict):
        raise FeedConfigError('pairs must be an object, e.g. {"bitcoin/usd": {"kraken": "XBTUSD"}}')
    for pid, names in pairs.items():
        try:
            parse_pair_id(str(pid))
        except ValueError as exc:
            raise FeedConfigError(f"pairs: {exc}") from None
        if not isinstance(names, dict):
            raise FeedConfigError(
                f'pairs.{pid} must be an object of provider -> name, e.g. {{"kraken": "XBTUSD"}}'
            )
        for provider, symbol in names.items():
            if provider == "coingecko":
                raise FeedConfigError(
                    f"pairs.{pid}: CoinGecko needs no name, the pair id is its coin id and currency"
                )
            if provider not in EXCHANGE_BASE_URLS:
                raise FeedConfigError(f"pairs.{pid}: unknown provider {provider!r}; known: kraken, binance")
            if provider not in providers:
                raise FeedConfigError(
                    f'pairs.{pid} names {provider}, which "providers" does not list; add "{provider}": {{}}'
                )
            if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
                raise FeedConfigError(
                    f"pairs.{pid}.{provider} must be the provider's upper-case name for the pair "
                    f"(e.g. XBTUSD, BTCUSDT), got {symbol!r}"
                )


@dataclass(frozen=True, repr=False)
class FeedConfig:
    """How this node fetches prices from CoinGecko (or the offline simulator).

    ``base_url`` defaults by plan (demo: ``https://api.coingecko.com/api/v3``, pro:
    ``https://pro-api.coingecko.com/api/v3``). Give either ``api_key`` or ``api_key_env``.
    """

    plan: Plan = "demo"
    base_url: str = ""
    api_key: str | None = field(default=None, compare=False)
    api_key_env: str | None = None
    poll_interval_s: float = 10.0
    timeout_s: float = 5.0
    max_price_age_s: int = 120
    max_backoff_s: float = 60.0
    enabled: bool = True
    providers: dict[str, dict[str, Any]] | None = None
    pairs: dict[str, dict[str, str]] | None = None

    def __post_init__(self) -> None:
        """Validate every field and fill the plan's default base URL."""
        if self.plan not in PLANS:
            raise FeedConfigError(f"plan must be 'demo' or 'pro', got {self.plan!r}")
        if not self.base_url:
            object.__setattr__(self, "base_url", DEFAULT_BASE_URLS[self.plan])
        if not isinstance(self.base_url, str) or not self.base_url.startswith(("http://", "https://")):
            raise FeedConfigError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key.strip()):
            raise FeedConfigError("api_key must be a non-empty string (or omit it and use api_key_env)")
        if self.api_key_env is not None and (
            not isinstance(self.api_key_env, str) or not self.api_key_env.strip()
        ):
            raise FeedConfigError("api_key_env must be the name of an environment variable")
        if not isinstance(self.enabled, bool):
            raise FeedConfigError(f"enabled must be true or false, got {self.enabled!r}")
        _number("poll_interval_s", self.poll_interval_s, minimum=0.01)
        _number("timeout_s", self.timeout_s, minimum=0.01)
        _number("max_price_age_s", self.max_price_age_s, minimum=1, integer=True)
        _number("max_backoff_s", self.max_backoff_s, minimum=0.01)
        _check_providers(self.providers)
        _check_pairs(self.pairs, self.providers or {})

    def enabled_providers(self) -> tuple[str, ...]:
        """The providers this node polls, in :data:`PROVIDERS` order (CoinGecko unless switched off)."""
        listed = self.providers or {}
        return tuple(
            name
            for name in PROVIDERS
            if (name == "coingecko" or name in listed) and listed.get(name, {}).get("enabled", True)
        )

    def provider_base_url(self, name: str) -> str:
        """The API root of a provider: ``base_url`` for CoinGecko, the provider's own (or default) else."""
        if name == "coingecko":
            return self.base_url
        given = (self.providers or {}).get(name, {}).get("base_url")
        return str(given or EXCHANGE_BASE_URLS[name]).rstrip("/")

    def symbols(self, provider: str, pairs: Iterable[str]) -> dict[str, str]:
        """``{pair id: the provider's name for it}`` for the pairs among ``pairs`` it has a name for."""
        mapping = self.pairs or {}
        return {p: mapping[p][provider] for p in sorted(set(pairs)) if provider in mapping.get(p, {})}

    def __repr__(self) -> str:
        """Every field, with the API key masked."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            parts.append(f"{f.name}={mask_key(value) if f.name == 'api_key' else repr(value)}")
        return f"FeedConfig({', '.join(parts)})"

    __str__ = __repr__

    @property
    def header_name(self) -> str:
        """``x-cg-demo-api-key`` or ``x-cg-pro-api-key`` according to the plan."""
        return HEADER_NAMES[self.plan]

    def resolve_key(self) -> str:
        """The API key: ``api_key`` if set, else the value of the environment variable ``api_key_env``.

        Raises :class:`FeedConfigError` naming both options when neither yields a key.
        """
        if self.api_key:
            return self.api_key
        if self.api_key_env:
            value = os.environ.get(self.api_key_env, "").strip()
            if value:
                return value
            raise FeedConfigError(
                f"no CoinGecko API key: environment variable {self.api_key_env} (named by api_key_env in "
                f'{FILE_NAME}) is not set or empty; set it, or put the key in "api_key"'
            )
        raise FeedConfigError(
            f'no CoinGecko API key: set "api_key" in <home>/config/{FILE_NAME}, or "api_key_env" to the '
            "name of an environment variable holding it"
        )

    def header(self) -> dict[str, str]:
        """The authentication header: ``{"x-cg-demo-api-key": key}`` or ``{"x-cg-pro-api-key": key}``."""
        return {self.header_name: self.resolve_key()}

    def to_json(self) -> dict[str, Any]:
        """The file form (fields left at ``None`` are omitted). Contains the key: handle with care."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: object, *, source: str = FILE_NAME) -> FeedConfig:
        """Build from the parsed file; unknown fields are an error (a typo would silently lose a key)."""
        if not isinstance(data, dict):
            raise FeedConfigError(f"{source}: expected a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FeedConfigError(f"{source}: unknown field(s) {', '.join(unknown)}; known: {sorted(known)}")
        try:
            return cls(**cast(dict[str, Any], data))
        except FeedConfigError as exc:
            raise FeedConfigError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, home: Path | str) -> FeedConfig:
        """Read ``<home>/config/pricefeed.json``; warns if the file is readable by others."""
        path = config_path(home)
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: write it (FeedConfig.save) or disable the price feed")
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("%s has mode %o; it may hold an API key, use 0600 (chmod 600 %s)", path, mode, path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise FeedConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_json(data, source=str(path))

    def save(self, home: Path | str) -> Path:
        """Write ``<home>/config/pricefeed.json`` atomically with mode 0600; return its path."""
        path = config_path(home)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".pricefeed.", dir=path.parent)  # created 0600
        try:
            with os.fdopen(fd, "w") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
