"""The registry of modules: message routes by type URL, query routes by path, stores, hook order."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

from abci_app.context import Context
from abci_app.modules import Module, MsgRoute, QueryRoute, VoteExtensionHooks


class Router:
    """Wiring of a fixed, ordered list of modules.

    Genesis, pre-block, begin-block and the proposal hooks run in module order; end-block runs the
    modules named in ``end_block_order`` first, in that order, then any other module with an
    end-block hook in module order (as Cosmos SDK's ``SetOrderEndBlockers``).
    """

    def __init__(self, modules: Sequence[Module], end_block_order: Sequence[str] = ()) -> None:
        self.modules = tuple(modules)
        names = [m.name for m in self.modules]
        if len(set(names)) != len(names):
            raise ValueError(f"module names must be unique, got {names}")
        unknown = [n for n in end_block_order if n not in names]
        if unknown:
            raise ValueError(f"end_block_order names modules that are not wired: {unknown}")
        by_name = {m.name: m for m in self.modules}
        first = [by_name[n] for n in end_block_order]
        self.end_blockers = tuple(
            m for m in [*first, *(m for m in self.modules if m not in first)] if m.end_block is not None
        )
        extenders = [m for m in self.modules if m.vote_extension is not None]
        if len(extenders) > 1:
            raise ValueError(
                f"CometBFT carries one vote extension per vote; {[m.name for m in extenders]} all extend"
            )
        self.vote_extension: VoteExtensionHooks | None = extenders[0].vote_extension if extenders else None
        self.msgs: dict[str, MsgRoute] = {}
        self.queries: dict[str, QueryRoute] = {}
        for module in self.modules:
            for route in module.msgs:
                self.msgs["/" + route.msg_type.DESCRIPTOR.full_name] = route
            for query in module.queries:
                self.queries[query.path] = query
        self.module_accounts = frozenset(a for m in self.modules for a in m.accounts)

    @property
    def store_names(self) -> tuple[str, ...]:
        """Every module's store, sorted (the multistore's leaves)."""
        return tuple(sorted({m.store for m in self.modules if m.store is not None}))

    def check_invariants(self, ctx: Context) -> None:
        """Run every module's invariants on ``ctx``; an AssertionError names the module."""
        for module in self.modules:
            for invariant in module.invariants:
                try:
                    invariant(ctx)
                except AssertionError as exc:
                    raise AssertionError(f"{module.name} invariant: {exc}") from exc

    def resolve(self, type_url: str) -> type[Message] | None:
        """The message class of a type URL, or None when no module handles it."""
        route = self.msgs.get(type_url)
        return route.msg_type if route is not None else None


def default_modules() -> list[Module]:
    """The modules this chain ships, in genesis order."""
    from abci_app.modules.auth.module import MODULE as AUTH
    from abci_app.modules.bank.module import MODULE as BANK
    from abci_app.modules.distribution.module import MODULE as DISTRIBUTION
    from abci_app.modules.kv.module import MODULE as KV
    from abci_app.modules.oracle.module import MODULE as ORACLE
    from abci_app.modules.staking.module import MODULE as STAKING
    from abci_app.modules.taskmaster.module import MODULE as TASKMASTER
    from abci_app.modules.tasks.module import MODULE as TASKS
    from abci_app.modules.wasm.module import MODULE as WASM

    # the taskmaster comes last: its genesis reads the params of the modules whose tasks it schedules;
    # wasm before tasks: a task's environment may name stored code
    return [AUTH, BANK, STAKING, DISTRIBUTION, ORACLE, KV, WASM, TASKS, TASKMASTER]


END_BLOCK_ORDER = ("distribution", "tasks", "taskmaster", "staking")
"""The proposer is paid the block's fees before tasks run; built-in rounds open after the tasks;
staking goes last, so its validator updates include every power change of the block."""


def default_router() -> Router:
    """The chain's modules wired in their hook order."""
    return Router(default_modules(), END_BLOCK_ORDER)
