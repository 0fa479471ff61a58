"""The tasks module record: its end-of-block hook is the scheduler."""

from abci_app.modules import Module
from abci_app.modules.tasks import execution, genesis, invariants, msgs, queries
from abci_app.modules.tasks.keeper import ALLOWANCE_ACCOUNT, FEE_POOL, MODULE_ACCOUNT
from abci_app.modules.tasks.keys import STORE

MODULE = Module(
    name="tasks",
    store=STORE,
    msgs=msgs.ROUTES,
    queries=queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
    end_block=execution.end_block,
    invariants=invariants.ALL,
    accounts=(MODULE_ACCOUNT, FEE_POOL, ALLOWANCE_ACCOUNT),
)
