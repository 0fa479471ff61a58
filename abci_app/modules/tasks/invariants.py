"""Tasks invariants, run by tests after blocks."""

from __future__ import annotations

from taskmaster.tasks.v1 import types_pb2

from abci_app.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.bank.invariants import InvariantBroken
from abci_app.modules.tasks import keeper
from abci_app.modules.tasks.keys import (
    DUE,
    EXPIRY_PREFIX,
    STORE,
    TASK_PREFIX,
    TRIGGER_PREFIX,
    WAITING_PREFIX,
    expiry_key,
    trigger_key,
    waiting_key,
)


def _tasks(ctx: Context) -> list[types_pb2.TaskInfo]:
    return [types_pb2.TaskInfo.FromString(v) for _, v in ctx.store(STORE).iterate_prefix(TASK_PREFIX)]


def bonds_match_module_account(ctx: Context) -> None:
    """The tasks module account holds exactly the sum of all task bonds."""
    total = sum(keeper.bond_of(info) for info in _tasks(ctx))
    held = bank.balance(ctx, keeper.MODULE_ACCOUNT, keeper.DENOM)
    if total != held:
        raise InvariantBroken(f"sum of task bonds {total} != tasks module account balance {held}")


def allowances_match_escrow(ctx: Context) -> None:
    """The allowance escrow holds exactly the sum of what is left of every wasm task's allowance."""
    total = sum(keeper.allowance_of(info) for info in _tasks(ctx))
    held = bank.balance(ctx, keeper.ALLOWANCE_ACCOUNT, keeper.DENOM)
    if total != held:
        raise InvariantBroken(f"sum of task allowances {total} != allowance escrow balance {held}")


def one_due_entry_per_active_task(ctx: Context) -> None:
    """Each active task has exactly one due entry, at its next_block; no other task has any."""
    entries: dict[bytes, list[int]] = {}
    for entry in DUE.in_range(ctx.store(STORE), 0, 2**64 - 1):
        entries.setdefault(entry.id, []).append(entry.block)
    for info in _tasks(ctx):
        found = entries.pop(bytes.fromhex(info.task_hash), [])
        waiting = keeper.has_trigger(info.definition) and info.next_block == 0  # for its price crossing
        expected = [info.next_block] if info.status == keeper.ACTIVE and not waiting else []
        if found != expected:
            raise InvariantBroken(
                f"task {info.task_hash} ({types_pb2.TaskStatus.Name(info.status)}) has due entries {found}, "
                f"expected {expected}"
            )
    if entries:
        raise InvariantBroken(f"due entries without a task: {sorted(h.hex() for h in entries)}")


def trigger_entries_match_task_states(ctx: Context) -> None:
    """Every trigger entry is one that its task's state implies, and every implied entry is there.

    An open (active or inactive) triggered task has its expiry entry if it has an expiry (one the
    end-block quarantined after its expiry raised may have lost it: ``triggers._quarantine``). An active one
    waiting for a crossing (no due entry) has exactly one more: its trigger key once its arm block is
    before this height, its waiting key (valued with the trigger key) once the arm block is after it,
    either at this height (before or after this height's end-block moved it). A due, inactive or
    finished task has neither.
    """
    store = ctx.store(STORE)
    triggers = {k for k, _ in store.iterate_prefix(TRIGGER_PREFIX)}
    waiting = dict(store.iterate_prefix(WAITING_PREFIX))
    expiries = {k for k, _ in store.iterate_prefix(EXPIRY_PREFIX)}
    want_triggers: set[bytes] = set()
    want_waiting: dict[bytes, bytes] = {}
    want_expiries: set[bytes] = set()
    for info in _tasks(ctx):
        if not keeper.has_trigger(info.definition) or info.status not in (keeper.ACTIVE, keeper.INACTIVE):
            continue
        hash_ = bytes.fromhex(info.task_hash)
        t = info.definition.trigger
        expiry = expiry_key(t.expiry_block, hash_) if t.expiry_block else None
        quarantined = info.status == keeper.INACTIVE and info.inactive_reason.startswith("internal: ")
        if expiry is not None and not (quarantined and expiry not in expiries):
            want_expiries.add(expiry)
        if not keeper.waits_for_crossing(info):
            continue
        index = trigger_key(t.pair, t.direction, keeper.stored_decimal(t.threshold, "threshold"), hash_)
        block = keeper.arm_block(info)
        parked = waiting_key(block, hash_)
        in_index = block < ctx.height or (block == ctx.height and index in triggers)
        if in_index:
            want_triggers.add(index)
        else:
            want_waiting[parked] = index
    for kind, have, want in (
        ("trigger", triggers, want_triggers),
        ("waiting", set(waiting.items()), set(want_waiting.items())),
        ("expiry", expiries, want_expiries),
    ):
        if have != want:
            raise InvariantBroken(
                f"{kind} entries differ from the task states: {len(have - want)} extra, "
                f"{len(want - have)} missing"
            )


ALL = (
    bonds_match_module_account,
    allowances_match_escrow,
    one_due_entry_per_active_task,
    trigger_entries_match_task_states,
)
