"""Transactions: encoding, addresses, signing, the gas meter and the ante checks."""
