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
looks at it. Code on the consensus path avoids such cycles (e.g. a context caches its store views
itself rather than a branch pointing at views of itself), and the policy bounds what can be stranded:
once the frozen population has grown to ``RECLAIM_GROWTH`` times what it was after the last full
collection (and is above ``RECLAIM_MIN`` objects), it unfreezes, runs one full collection and freezes
again. That full collection is the pause the policy otherwise avoids (seconds with a million resident
keys), so it comes only when memory has grown that much: a chain whose state stops growing never
pays it, stranded garbage can never exceed the live population, and a growing state pays it on each
doubling (its cost amortised over the growth). An earlier policy unfroze every 500 commits; with
1,000,000 resident keys that was an 8-second block every 500 blocks, longer than CometBFT's default
``timeout_propose``.
"""

from __future__ import annotations

import gc

FULL_COLLECTION_EVERY = 1000
RECLAIM_GROWTH = 2
RECLAIM_MIN = 200_000

_after_last_full = 0  # frozen objects right after the last full collection


def settle_after_commit() -> bool:
    """Collect the young generations, then move every surviving object out of the collector's view.

    When the frozen population has grown ``RECLAIM_GROWTH``-fold since the last full collection,
    collect everything (frozen objects included) first. Returns whether it did.
    """
    global _after_last_full
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    gc.collect(1)
    gc.freeze()
    if gc.get_freeze_count() <= max(RECLAIM_MIN, RECLAIM_GROWTH * _after_last_full):
        return False
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _after_last_full = gc.get_freeze_count()
    return True
