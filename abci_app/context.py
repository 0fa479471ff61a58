"""The execution context handed to message handlers, keepers and end-of-block hooks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from tendermint.abci import types_pb2 as abci

from abci_app.store import Branch, KVStore
from abci_app.tx.gas import GasMeter

if TYPE_CHECKING:
    from abci_app.modules import MsgRoute

log = logging.getLogger("abci_app.block")
T = TypeVar("T")


@dataclass
class Context:
    """Where a piece of state-changing logic runs: a store branch plus block facts.

    ``time_ns`` is the block header's time (never the wall clock); ``events`` collects ABCI events in
    the order they happen; ``gas`` is the meter of the tx or task running, if any; ``routes`` lets
    module logic (scheduled tasks) run chain messages on an account's behalf.
    """

    branch: Branch
    chain_id: str
    height: int
    time_ns: int = 0
    proposer: bytes = b""
    gas: GasMeter | None = None
    events: list[abci.Event] = field(default_factory=list)
    routes: Mapping[str, MsgRoute] = field(default_factory=dict)  # type URL -> route, to run messages
    record_events: bool = True  # False in CheckTx: nothing reads mempool events, so none are built
    speculative: bool = False  # CheckTx and simulation: state thrown away, so no node-local side effects
    blocked_recipients: frozenset[bytes] = frozenset()  # module accounts: MsgSend may not pay into them
    # node-local actions (filling a cache) to run once this context's writes are kept for good: the tx
    # runner runs its message context's when the tx succeeds; a context nobody runs them for drops them
    on_success: list[Callable[[], None]] = field(default_factory=list, repr=False, compare=False)
    _stores: dict[str, KVStore] = field(default_factory=dict, repr=False, compare=False)

    def store(self, name: str) -> KVStore:
        """The module store ``name`` as seen through this context's branch."""
        view = self._stores.get(name)
        if view is None:
            # cached here, not on the branch: a branch caching views of itself would be a reference
            # cycle, freed only by the cyclic GC (and never once frozen, see store/gcpolicy.py)
            view = self._stores[name] = self.branch.store(name)
        return view

    def child(self, gas: GasMeter | None = None) -> Context:
        """A context over a nested branch with its own event list (written back by the caller)."""
        meter = gas if gas is not None else self.gas
        return Context(
            branch=self.branch.branch(gas=meter),
            chain_id=self.chain_id,
            height=self.height,
            time_ns=self.time_ns,
            proposer=self.proposer,
            gas=meter,
            routes=self.routes,
            record_events=self.record_events,
            speculative=self.speculative,
            blocked_recipients=self.blocked_recipients,
        )

    def emit(self, kind: str, **attributes: str) -> None:
        """Record an indexed event; attribute keys keep the given order."""
        if not self.record_events:
            return
        event = abci.Event(type=kind)
        add = event.attributes.add  # twice as fast as building EventAttribute objects (hot in big blocks)
        for key, value in attributes.items():
            add(key=key, value=value, index=True)
        self.events.append(event)


def run_isolated(ctx: Context, name: str, step: Callable[[Context], T]) -> T | None:
    """Run one block-level step on a child branch of ``ctx``; a step that raises changes nothing.

    Keeps a bug in one module's block logic from stopping every node: the step's writes and events are
    dropped, a ``block_step_failed`` event names the step, and the block goes on. The outcome depends
    only on the block and the state, so every node drops the same step.
    """
    child = ctx.child()
    try:
        value = step(child)
    except Exception as exc:
        log.exception("block step %r raised at height %d; its changes are discarded", name, ctx.height)
        child.branch.discard()
        ctx.emit("block_step_failed", step=name, error=type(exc).__name__)
        return None
    child.branch.write()
    ctx.events.extend(child.events)
    return value
