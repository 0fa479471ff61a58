"""Accounts: account numbers, sequences (replay protection) and public keys; tx-level params."""
