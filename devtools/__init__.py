"""Developer tooling, not part of a node: the localnet runner and the CoinGecko simulator.

The runtime package ``abci_app`` never imports this package when it is imported; only the dev-only
``taskmaster run-dev`` (prices from a simulator) imports :mod:`devtools.coingecko_simulator`, lazily.
Entry points: ``scripts/localnet.sh`` (``python -m devtools.localnet``) and ``scripts/coingecko_sim.py``.
"""
