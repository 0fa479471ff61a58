"""The registry of modules: message routes by type URL, query routes by path, stores, genesis order."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

from abci_app.context import Context
from abci_app.modules import Module, MsgRoute, QueryRoute


class Router:
    """Wiring of a fixed, ordered list of modules (genesis and end-block run in this order)."""

    def __init__(self, modules: Sequence[Module]) -> None:
        self.modules = tuple(modules)
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
        return tuple(sorted({m.store for m in self.modules}))

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
    from abci_app.modules.kv.module import MODULE as KV
    from abci_app.modules.oracle.module import MODULE as ORACLE
    from abci_app.modules.staking.module import MODULE as STAKING
    from abci_app.modules.taskmaster.module import MODULE as TASKMASTER
    from abci_app.modules.tasks.module import MODULE as TASKS

    # the taskmaster comes last: its genesis reads the params of the modules whose tasks it schedules
    return [AUTH, BANK, STAKING, ORACLE, KV, TASKS, TASKMASTER]
