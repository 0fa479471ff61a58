"""Taskmaster chain: a Python ABCI 2.0 application for CometBFT v0.38."""
