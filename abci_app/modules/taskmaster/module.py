"""The taskmaster module record: status of built-in tasks; genesis in genesis.py."""

from __future__ import annotations

from abci_app.context import Context, run_isolated
from abci_app.modules import Module
from abci_app.modules.taskmaster import genesis, keeper, queries
from abci_app.modules.taskmaster.registry import BUILTIN_TASKS


def end_block(ctx: Context) -> None:
    """Run the migrations due at this height, then open the round of every task due in this block.

    Each is isolated on its own: a failing migration does not keep the rounds from opening.
    """
    run_isolated(ctx, "built-in task migrations", lambda c: keeper.run_migrations(c, BUILTIN_TASKS))
    run_isolated(ctx, "built-in task rounds", lambda c: keeper.open_rounds(c, BUILTIN_TASKS, c.time_ns))


MODULE = Module(
    name="taskmaster",
    store=keeper.STORE,
    queries=queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
    end_block=end_block,
)
