"""The distribution module record: no store, no messages; its end-block hook pays the proposer."""

from abci_app.modules import Module
from abci_app.modules.distribution.keeper import pay_proposer

MODULE = Module(name="distribution", store=None, end_block=pay_proposer)
