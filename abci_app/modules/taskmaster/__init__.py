"""Built-in recurring tasks ("Taskmaster"): hard-coded logic the chain runs on a schedule.

A task (``task.py``) has a definition (name, params from chain state), a schedule (every n blocks or
every n seconds of block time, from a start height), ``on_finish`` / ``on_fail`` hooks, its own store
in the multistore (so its results are provable with ``abci_query``) and numbered store migrations run
at a configured upgrade height. Block schedules go through the same due-block index as user tasks.
"""
