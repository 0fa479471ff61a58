"""Off-chain half of the price oracle: price providers (CoinGecko, Kraken, Binance), their pollers, the
price cache (median of the providers' fresh quotes), node-local config.

Nothing here is consensus-critical: the fetcher runs as a background task on the application's event
loop and fills :class:`PriceCache`, which ExtendVote reads without I/O. Prices are integers with 18
decimals parsed without floats (:mod:`abci_app.pricefeed.decimal18`).
"""

from typing import TYPE_CHECKING, Any

from abci_app.pricefeed.cache import PriceCache, Quote, pair_id, parse_pair_id
from abci_app.pricefeed.config import FeedConfig, FeedConfigError, mask_key
from abci_app.pricefeed.decimal18 import (
    DECIMALS,
    SCALE,
    JsonNumber,
    PriceParseError,
    format_decimal18,
    loads_no_float,
    parse_decimal18,
    parse_price,
)

if TYPE_CHECKING:
    from abci_app.pricefeed.client import PriceFetcher, ProviderPoller, parse_retry_after


def __getattr__(name: str) -> Any:
    """The HTTP client (and aiohttp under it) loads on first use: CLI commands that read feed config
    start without it."""
    if name in ("PriceFetcher", "ProviderPoller", "parse_retry_after"):
        from abci_app.pricefeed import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DECIMALS",
    "SCALE",
    "FeedConfig",
    "FeedConfigError",
    "JsonNumber",
    "PriceCache",
    "PriceFetcher",
    "PriceParseError",
    "ProviderPoller",
    "Quote",
    "format_decimal18",
    "loads_no_float",
    "mask_key",
    "pair_id",
    "parse_decimal18",
    "parse_pair_id",
    "parse_price",
    "parse_retry_after",
]
