"""The price provider interface, and CoinGecko as the first provider.

A provider knows one public price API's documented contract: the request for a set of pair ids
(:meth:`Provider.request`), how to read its 200 answer (:meth:`Provider.parse`, pure, hostile-input safe)
and its error bodies (:meth:`Provider.error_detail`). The HTTP work, the back-off and the logging are the
poller's (:mod:`abci_app.pricefeed.client`), the same for every provider.

Pair ids are the chain's (``"<coingecko id>/<quote currency>"``); each provider maps them to its own
names (a Kraken pair such as ``XBTUSD``, a Binance symbol such as ``BTCUSDT``) from ``pricefeed.json``'s
``pairs`` (:mod:`abci_app.pricefeed.config`). CoinGecko needs no mapping: the pair id is its coin id.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from abci_app.pricefeed.cache import parse_pair_id
from abci_app.pricefeed.config import FeedConfig, mask_key
from abci_app.pricefeed.simple_price import SimplePriceAnswer, error_detail, parse_answer, request_query

ProviderAnswer = SimplePriceAnswer
"""Every provider's parser gives the usable quotes, and a reason for each other requested pair."""


@dataclass(frozen=True)
class ProviderRequest:
    """One HTTP GET: the full URL and the headers (a key among them is never logged)."""

    url: str
    headers: dict[str, str]
    secret: str | None = None
    """The API key sent, so log lines can redact it (None for keyless APIs)."""


class Provider(abc.ABC):
    """One price API. Subclasses set :attr:`name` (config and metric label) and :attr:`title` (logs)."""

    name: str = ""
    title: str = ""

    def __init__(self, base_url: str, symbols: Mapping[str, str] | None = None) -> None:
        """``symbols`` maps the chain's pair ids to this provider's names (None: the provider needs none)."""
        self.base_url = base_url.rstrip("/")
        self.symbols: dict[str, str] = dict(sorted((symbols or {}).items()))

    def __repr__(self) -> str:
        """Name, root and mapped pairs (never a key)."""
        return f"{type(self).__name__}(base_url={self.base_url!r}, pairs={sorted(self.symbols)})"

    def serves(self, pairs: Sequence[str]) -> tuple[str, ...]:
        """The pairs among ``pairs`` this provider has a name for, sorted."""
        return tuple(sorted(p for p in set(pairs) if p in self.symbols))

    @abc.abstractmethod
    def request(self, pairs: Sequence[str]) -> ProviderRequest:
        """The request for ``pairs`` (all served); may raise ``FeedConfigError`` (e.g. no API key)."""

    @abc.abstractmethod
    def parse(self, raw: bytes, content_type: str, pairs: Sequence[str], now: int) -> ProviderAnswer:
        """Read a 200 answer: each pair a quote or a reason; ``AnswerError`` when it is no answer at all.

        ``now`` (unix seconds) dates quotes of APIs whose answer carries no time of its own.
        """

    def error_detail(self, raw: bytes) -> str:
        """A short, printable description of an error body."""
        return error_detail(raw)

    def auth_message(self, status: int, detail: str, secret: str | None) -> str:
        """The log line of a 401/403 answer (the key, if any, already masked)."""
        return (
            f"{self.title} at {self.base_url} refused the request (HTTP {status}): {detail}; "
            "check that this host may reach it"
        )


class CoinGecko(Provider):
    """CoinGecko's ``/simple/price`` with this validator's own key (see ``simple_price.py``)."""

    name = "coingecko"
    title = "CoinGecko"

    def __init__(self, config: FeedConfig, pairs: Sequence[str] = ()) -> None:
        """Serves every pair: the pair id's coin is CoinGecko's id."""
        super().__init__(config.base_url, {p: parse_pair_id(p)[0] for p in pairs})
        self.config = config

    def serves(self, pairs: Sequence[str]) -> tuple[str, ...]:
        """Every pair (a pair id is a CoinGecko id and currency by definition)."""
        return tuple(sorted(set(pairs)))

    def request(self, pairs: Sequence[str]) -> ProviderRequest:
        """``GET {root}/simple/price?...`` with the key header of the plan."""
        split = [parse_pair_id(p) for p in pairs]
        coins = sorted({c for c, _ in split})
        quotes = sorted({q for _, q in split})
        headers = self.config.header()
        secret = next(iter(headers.values()))
        return ProviderRequest(
            f"{self.base_url}/simple/price?{request_query(coins, quotes)}", headers, secret
        )

    def parse(self, raw: bytes, content_type: str, pairs: Sequence[str], now: int) -> ProviderAnswer:
        """CoinGecko dates each coin itself (``last_updated_at``); ``now`` is not used."""
        return parse_answer(raw, content_type, pairs)

    def auth_message(self, status: int, detail: str, secret: str | None) -> str:
        """CoinGecko's key and plan advice."""
        sent = f"key {mask_key(secret)} sent in {self.config.header_name}"
        if status == 401:
            return (
                f"API key rejected by CoinGecko at {self.base_url} (HTTP 401, {sent}): {detail}; "
                "check api_key/api_key_env and plan in pricefeed.json"
            )
        return (
            f"CoinGecko at {self.base_url} blocked the request (HTTP 403, {sent}): {detail}; check the key's "
            "plan and that this host may reach CoinGecko (its CDN answers 403/1020 to blocked addresses)"
        )


def build_providers(config: FeedConfig, pairs: Sequence[str]) -> list[Provider]:
    """The providers ``config`` enables, CoinGecko first, each with its names for ``pairs``."""
    from abci_app.pricefeed.binance import Binance
    from abci_app.pricefeed.kraken import Kraken

    out: list[Provider] = []
    for name in config.enabled_providers():
        if name == "coingecko":
            out.append(CoinGecko(config, pairs))
            continue
        cls: type[Kraken | Binance] = Kraken if name == "kraken" else Binance
        out.append(cls(config.provider_base_url(name), config.symbols(name, pairs)))
    return out
