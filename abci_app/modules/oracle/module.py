"""The oracle module record: its vote extensions, proposal injection and round (``abci.py``)."""

from abci_app.modules import Module
from abci_app.modules.oracle import abci, genesis, msgs, queries
from abci_app.modules.oracle.keys import STORE

MODULE = Module(
    name="oracle",
    store=STORE,
    msgs=msgs.ROUTES,
    queries=queries.ROUTES,
    init_genesis=genesis.init_genesis,
    export_genesis=genesis.export_genesis,
    pre_block=abci.pre_block,
    proposal=abci.PROPOSAL,
    vote_extension=abci.VOTE_EXTENSION,
)
