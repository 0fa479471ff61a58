"""Running WAT modules on a real chain state, outside any task (tests of the runtime and host API)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime
from taskmaster.oracle.v1 import oracle_pb2

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.wasm import host, runtime, validation
from abci_app.tx.gas import GasMeter
from tests.app.driver import Chain

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "wasm"
OWNER = bytes(range(1, 21))
TASK_ID = "ab" * 32
MAX_BYTES = 128 * 1024


def wat(source: str) -> bytes:
    """The binary of a WAT module."""
    return bytes(wasmtime.wat2wasm(source))


def example(name: str) -> bytes:
    """The binary of ``examples/wasm/<name>.wat``."""
    return wat((EXAMPLES / f"{name}.wat").read_text())


def code_of(wasm: bytes) -> runtime.Code:
    """A Code record for ``wasm`` (validated first, as an upload would)."""
    validation.validate(wasm, MAX_BYTES)
    return runtime.Code(hashlib.sha256(wasm).digest(), len(wasm), lambda: wasm)


@dataclass
class Sandbox:
    """One chain state; every :meth:`run` gets its own metered branch and records the callbacks."""

    ctx: Context
    allowance: int = 0
    sent: list[tuple[bytes, int]] = field(default_factory=list)
    rescheduled: list[int] = field(default_factory=list)
    data: bytes = b""

    def spend(self, recipient: bytes, amount: int) -> None:
        if amount > self.allowance:
            from abci_app.modules.wasm import errors

            raise errors.ALLOWANCE_EXCEEDED(f"{amount} > {self.allowance}")
        self.allowance -= amount
        self.sent.append((recipient, amount))

    def env(self, ctx: Context) -> host.HostEnv:
        return host.HostEnv(
            ctx=ctx,
            owner=OWNER,
            task_id=TASK_ID,
            data=self.data,
            spend=self.spend,
            allowance_left=lambda: self.allowance,
            reschedule=self.rescheduled.append,
        )

    def run(self, wasm: bytes, gas: int = 100_000, keep: bool = True) -> Outcome:
        """Run ``wasm`` on a child branch with a ``gas`` meter; on success the branch is kept if ``keep``."""
        meter = GasMeter(gas)
        child = self.ctx.child(gas=meter)
        try:
            data = runtime.run(code_of(wasm), self.env(child), meter)
        except AppError as err:
            child.branch.discard()
            return Outcome(False, b"", err, meter.consumed, [])
        if keep:
            child.branch.write()
        events = [(e.type, {a.key: a.value for a in e.attributes}) for e in child.events]
        return Outcome(True, data, None, meter.consumed, events)

    def write_price(self, pair: str, price: int, height: int, time_s: int) -> None:
        """Store an oracle record as a round would (18 decimals)."""
        record = oracle_pb2.PriceRecord(
            pair=pair, price=str(price), height=height, block_time_ns=time_s * 10**9
        )
        oracle.write_price(self.ctx, record, 100)


@dataclass
class Outcome:
    """What one run gave."""

    ok: bool
    data: bytes
    error: AppError | None
    gas: int
    events: list[tuple[str, dict[str, str]]]

    def key(self) -> tuple[object, ...]:
        """Everything observable about the outcome, comparable between runs."""
        message = self.error.log if self.error is not None else ""
        return (self.ok, self.data, self.code, message, self.gas, self.events)

    @property
    def code(self) -> str:
        """``codespace/code`` of the error ("" on success)."""
        return f"{self.error.codespace}/{self.error.code}" if self.error is not None else ""


@contextmanager
def sandbox(tmp: Path, height: int = 7, time_s: int = 1_700_000_100) -> Iterator[Sandbox]:
    """A sandbox over a fresh single-validator chain's state, seen at ``height`` and block ``time_s``."""
    chain = Chain.start(str(tmp / "db"))
    chain.block([])
    try:
        ctx = chain.app._context(chain.app.store.branch(), height, time_ns=time_s * 10**9)
        yield Sandbox(ctx)
    finally:
        chain.app.close()


def module(body: str, imports: str = "", memory: bool = True, extra: str = "") -> bytes:
    """A module whose ``execute`` has ``body``; ``imports`` are (import ...) lines."""
    mem = '(memory (export "memory") 1)' if memory else ""
    return wat(f'(module {imports} {mem} {extra} (func (export "execute") (result i32) {body}))')


def imp(name: str) -> str:
    """The (import ...) of one host function, with its ABI type."""
    from abci_app.modules.wasm.abi import HOST_FUNCTIONS

    spec = HOST_FUNCTIONS[name]
    params = f"(param {' '.join(spec.params)})" if spec.params else ""
    results = f"(result {' '.join(spec.results)})" if spec.results else ""
    return f'(import "taskmaster" "{name}" (func ${name} {params} {results}))'
