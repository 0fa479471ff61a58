"""Balances, transfers and total supply of every denom."""
