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
    expiry_key,
    trigger_key,
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


def one_trigger_entry_per_open_triggered_task(ctx: Context) -> None:
    """Each active or inactive triggered task has its trigger entry (and expiry entry); nothing else does."""
    want: set[bytes] = set()
    for info in _tasks(ctx):
        if keeper.has_trigger(info.definition) and info.status in (keeper.ACTIVE, keeper.INACTIVE):
            hash_ = bytes.fromhex(info.task_hash)
            t = info.definition.trigger
            want.add(trigger_key(t.pair, t.direction, keeper.stored_decimal(t.threshold, "threshold"), hash_))
            if t.expiry_block:
                want.add(expiry_key(t.expiry_block, hash_))
    store = ctx.store(STORE)
    have = {k for k, _ in store.iterate_prefix(TRIGGER_PREFIX)} | {
        k for k, _ in store.iterate_prefix(EXPIRY_PREFIX)
    }
    if have != want:
        raise InvariantBroken(f"trigger entries differ: {len(have - want)} extra, {len(want - have)} missing")


ALL = (
    bonds_match_module_account,
    allowances_match_escrow,
    one_due_entry_per_active_task,
    one_trigger_entry_per_open_triggered_task,
)
