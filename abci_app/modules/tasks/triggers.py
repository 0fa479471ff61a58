"""Price triggers: after an oracle round writes prices, the tasks whose condition became true are due.

A trigger fires on a crossing (docs/tasks.md, "Price triggers"): the round's price ``P`` of the pair
satisfies the condition and the pair's previous price ``Q`` did not (a pair's first price counts as a
crossing). The index ``0x08 | pair | direction | threshold | task`` orders triggers by threshold, so:

- BELOW (``price < threshold``) fires for thresholds in ``(P, Q]`` (no ``Q``: every threshold above P);
- ABOVE (``price > threshold``) fires for thresholds in ``[Q, P)`` (no ``Q``: every threshold below P);

each a single range of the index: ``O(log n + k)`` for ``k`` fired, whatever the number of triggers.

Only triggers that can fire at this height's crossing are in that index: an active task that waits
for a crossing and whose arm block (``start_block``, or the end of its cooldown after an execution)
has come. One whose arm block is still ahead waits in ``0x0A | arm_block | task``, and the end-block
moves the entries of its height into ``0x08`` first (``release``): each move was paid for by the
schedule or the execution that parked it, and a crossing never reads a trigger that cannot fire. A due
or inactive task has neither entry.

A fired task that is active and not expired gets a due entry at this block: it then runs with this
block's due tasks, in the due index's order (due block, tier, task hash) and within the same task-gas
budget; what does not fit stays due and runs first next block. Expired triggers complete their task
(bond and allowance refunded) first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from taskmaster.tasks.v1 import types_pb2

from abci_app.context import Context
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.tasks import keeper
from abci_app.modules.tasks.keys import EXPIRY_PREFIX, STORE, TRIGGER_PREFIX, WAITING_PREFIX, trigger_prefix
from abci_app.store.branch import prefix_end

log = logging.getLogger("abci_app.tasks")

U256 = 2**256


def _bound(prefix: bytes, threshold: int) -> bytes | None:
    """The index key where ``threshold`` starts (None: past every threshold)."""
    return prefix + threshold.to_bytes(32, "big") if threshold < U256 else prefix_end(prefix)


def _range(prefix: bytes, low: int, high: int | None) -> tuple[bytes, bytes | None]:
    """Keys of thresholds in ``[low, high)`` (``high`` None: no upper bound)."""
    start = _bound(prefix, max(0, low)) or prefix
    end = prefix_end(prefix) if high is None else _bound(prefix, max(0, high))
    return start, end


def crossed_keys(ctx: Context, pair: str, price: int, previous: int | None) -> list[bytes]:
    """Index keys of the triggers of ``pair`` that a move from ``previous`` to ``price`` fires, BELOW
    first, each in threshold then task hash order."""
    store = ctx.store(STORE)
    fired: list[bytes] = []
    below = trigger_prefix(pair, keeper.BELOW)
    ranges = [(below, *_range(below, price + 1, None if previous is None else previous + 1))]
    above = trigger_prefix(pair, keeper.ABOVE)
    ranges.append((above, *_range(above, 0 if previous is None else previous, price)))
    for _prefix, start, end in ranges:
        if end is not None and start >= end:
            continue
        fired.extend(key for key, _ in store.iterate(start, end))
    return fired


def crossed(ctx: Context, pair: str, price: int, previous: int | None) -> list[bytes]:
    """Hashes of the tasks of :func:`crossed_keys`, in the same order."""
    return [key[-32:] for key in crossed_keys(ctx, pair, price, previous)]


def _armed(info: types_pb2.TaskInfo, height: int) -> bool:
    """What the trigger index holds: an active task waiting for a crossing, armed, not expired."""
    expiry = info.definition.trigger.expiry_block
    return (
        keeper.waits_for_crossing(info)
        and height >= keeper.arm_block(info)
        and (expiry == 0 or height <= expiry)
    )


def release(ctx: Context) -> int:
    """Move the waiting triggers whose arm block is this height or earlier into the trigger index
    (each entry's value is its trigger key: no record is read); returns how many."""
    store = ctx.store(STORE)
    end = WAITING_PREFIX + (ctx.height + 1).to_bytes(8, "big")
    moved = list(store.iterate(WAITING_PREFIX, end))
    for key, trigger in moved:
        store.delete(key)
        if trigger.startswith(TRIGGER_PREFIX):
            store.set(trigger, b"")
    return len(moved)


def fire(ctx: Context) -> int:
    """Make due every armed task whose trigger this block's oracle prices crossed; returns how many.

    Each task is handled on its own branch: one whose handling raises is quarantined
    (:func:`_quarantine`) and the others fire.
    """
    made_due = 0
    for pair in oracle.pair_ids_configured(ctx):
        records = oracle.latest_two(ctx, pair)
        if not records or records[0].height != ctx.height:
            continue  # no new price for this pair in this block
        price = keeper.stored_decimal(records[0].price, "oracle price")
        previous = keeper.stored_decimal(records[1].price, "oracle price") if len(records) > 1 else None
        fire_one = partial(_fire_one, pair=pair, price=price)
        for key in crossed_keys(ctx, pair, price, previous):
            made_due += _per_task(ctx, key, "fire", fire_one)
    return made_due


def _fire_one(ctx: Context, key: bytes, *, pair: str, price: int) -> bool:
    """Make the task of one crossed index entry due at this height; whether it was made due."""
    info = keeper.get_task(ctx, key[-32:])
    if info is None or not keeper.waits_for_crossing(info):
        ctx.store(STORE).delete(key)  # no task waits on it: no later crossing should read it again
        return False
    if not _armed(info, ctx.height):
        return False
    keeper.unpark_trigger(ctx, info)  # due now: out of the trigger index until it waits again
    keeper.set_due(ctx, info, ctx.height)
    keeper.put_task(ctx, info)
    ctx.emit(
        "TaskTriggered",
        task_id=info.task_hash,
        pair=pair,
        price=str(price),
        threshold=info.definition.trigger.threshold,
        direction=types_pb2.TriggerDirection.Name(info.definition.trigger.direction),
    )
    return True


def expire(ctx: Context) -> int:
    """Complete the triggered tasks whose expiry block has passed (refunding bond and allowance), each
    on its own branch (one whose handling raises is quarantined); returns how many."""
    end = EXPIRY_PREFIX + ctx.height.to_bytes(8, "big")  # expiry_block < height
    keys = [k for k, _ in ctx.store(STORE).iterate(EXPIRY_PREFIX, end)]
    return sum(_per_task(ctx, key, "expire", _expire_one) for key in keys)


def _expire_one(ctx: Context, key: bytes) -> bool:
    """Complete the task of one passed expiry entry; whether it was open."""
    info = keeper.get_task(ctx, key[-32:])
    if info is None or info.status not in (keeper.ACTIVE, keeper.INACTIVE):
        ctx.store(STORE).delete(key)
        return False
    keeper.disarm_trigger(ctx, info)  # every entry, this one included
    keeper.set_due(ctx, info, 0)
    info.status = keeper.COMPLETED
    refunded = keeper.refund(ctx, info)
    keeper.put_task(ctx, info)
    ctx.emit("TaskTriggerExpired", task_id=info.task_hash, refund=str(refunded))
    return True


def _per_task(ctx: Context, key: bytes, step: str, work: Callable[[Context, bytes], bool]) -> bool:
    """Run one task's part of a trigger step on its own branch: written when it returns, discarded
    and the task quarantined when it raises (a bug, or a malformed record), so one task cannot stop
    the step, nor the end-block, for every other."""
    task_ctx = ctx.child()
    try:
        done = work(task_ctx, key)
    except Exception as exc:
        task_ctx.branch.discard()
        _quarantine(ctx, key, step, exc)
        return False
    task_ctx.branch.write()
    ctx.events.extend(task_ctx.events)
    return done


def _quarantine(ctx: Context, key: bytes, step: str, exc: Exception) -> None:
    """Drop the index entry whose handling raised (so it is not retried at every crossing or block)
    and make its task INACTIVE with a deterministic reason; emit TaskTriggerAborted."""
    hash_ = key[-32:]
    reason = f"internal: {type(exc).__name__}"  # the class name only: messages may differ between nodes
    log.warning("task %s trigger %s raised %s; made inactive", hash_.hex(), step, type(exc).__name__)
    ctx.store(STORE).delete(key)
    fix_ctx = ctx.child()
    try:
        info = keeper.get_task(fix_ctx, hash_)
        if info is not None and info.status in (keeper.ACTIVE, keeper.INACTIVE):
            keeper.make_inactive(fix_ctx, info, reason)  # off the due and trigger indexes
            info.metrics.last_error = reason
            keeper.put_task(fix_ctx, info)
    except Exception:  # a record not even that can handle: its entry is gone, the record stays as it is
        fix_ctx.branch.discard()
    else:
        fix_ctx.branch.write()
    ctx.emit("TaskTriggerAborted", task_id=hash_.hex(), block=str(ctx.height), step=step, error=reason)
