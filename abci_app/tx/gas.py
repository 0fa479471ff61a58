"""The deterministic gas meter: flat costs per tx byte, signature and message, per-byte store costs.

The meter implements the store's ``GasObserver`` so every read, write, delete and iteration step of a
branch created with it is charged. Exceeding the limit raises :class:`OutOfGas` at once, so no handler
can keep working past its budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from abci_app.errors import OUT_OF_GAS, AppError


@dataclass(frozen=True)
class GasCosts:
    """Gas schedule (the Cosmos SDK's KV costs, which users of those chains know)."""

    read_flat: int = 1000
    read_per_byte: int = 3
    write_flat: int = 2000
    write_per_byte: int = 30
    delete_flat: int = 1000
    iter_next_flat: int = 30
    iter_per_byte: int = 3


DEFAULT_COSTS = GasCosts()


class OutOfGas(AppError):
    """Raised by the meter when consumption would pass the limit."""


class GasMeter:
    """Counts gas against a limit; ``limit=None`` counts without a limit (block-level metering)."""

    def __init__(self, limit: int | None, costs: GasCosts = DEFAULT_COSTS) -> None:
        self.limit = limit
        self.consumed = 0
        self.costs = costs

    def consume(self, amount: int, descriptor: str) -> None:
        """Add ``amount``; raise OutOfGas naming ``descriptor`` when the limit is passed."""
        self.consumed += amount
        if self.limit is not None and self.consumed > self.limit:
            raise OutOfGas(
                OUT_OF_GAS,
                # the SDK's wording, which cosmpy parses (gasWanted: N, gasUsed: M); gasUsed is what was
                # needed so far, above the limit: the tx needs at least that
                f"out of gas in location: {descriptor}; gasWanted: {self.limit}, gasUsed: {self.consumed}",
            )

    def on_read(self, key_len: int, value_len: int) -> None:
        """Charge a store read."""
        c = self.costs
        self.consume(c.read_flat + c.read_per_byte * (key_len + value_len), "store read")

    def on_write(self, key_len: int, value_len: int) -> None:
        """Charge a store write."""
        c = self.costs
        self.consume(c.write_flat + c.write_per_byte * (key_len + value_len), "store write")

    def on_delete(self, key_len: int) -> None:
        """Charge a store delete."""
        self.consume(self.costs.delete_flat, "store delete")

    def on_iterate(self, key_len: int, value_len: int) -> None:
        """Charge one step of an iterator."""
        c = self.costs
        self.consume(c.iter_next_flat + c.iter_per_byte * (key_len + value_len), "store iteration")
