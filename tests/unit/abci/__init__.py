"""Unit tests of the ABCI socket transport (abci_app.abci)."""
