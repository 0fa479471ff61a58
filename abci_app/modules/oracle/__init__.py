"""The price oracle: validators' CoinGecko quotes in vote extensions, stake-weighted medians on chain."""
