"""Keeping CPython's full garbage collections off the committed tree.

A store holding a large tree keeps millions of node objects alive. CPython 3.11 runs a full (oldest
generation) collection whenever the objects promoted since the last one exceed a quarter of the
long-lived ones, and a full collection walks every tracked object: with 1,000,000 keys resident that is
a pause of about 5 seconds every few large blocks. Committed nodes never form reference cycles (a tree
links only downwards), so scanning them finds nothing.

:func:`settle_after_commit` collects the two young generations (cheap: only objects created since
the previous collection) and then freezes every surviving object, so later collections never scan
them again. It also makes full collections rarer (one per 1,000 middle-generation collections instead
of 10): with the tree frozen a full collection only sees what the current block created, which the
next commit freezes anyway.

Frozen objects are still freed by reference counting when their last reference goes (pruned or
replaced nodes). What freezing can strand is a reference cycle that is alive at a commit and dies
later (a structure that lives across blocks: a connection, a long request): the collector no longer
looks at it. Two things bound that: code on the consensus path avoids such cycles (e.g. a context
caches its store views itself rather than a branch pointing at views of itself), and every
``UNFREEZE_EVERY`` commits the policy unfreezes, runs one full collection and freezes again. That
full collection is the pause the policy otherwise avoids (seconds with a million resident keys), so
it is rare: with one-second blocks, about every eight minutes.
"""

from __future__ import annotations

import gc

FULL_COLLECTION_EVERY = 1000
UNFREEZE_EVERY = 500

_commits = 0


def settle_after_commit() -> None:
    """Collect the young generations, then move every surviving object out of the collector's view.

    Every ``UNFREEZE_EVERY`` calls, collect everything (frozen objects included) first.
    """
    global _commits
    _commits += 1
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    if _commits % UNFREEZE_EVERY == 0:
        gc.unfreeze()
        gc.collect()
    else:
        gc.collect(1)
    gc.freeze()
