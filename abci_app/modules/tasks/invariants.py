"""Tasks invariants, run by tests after blocks."""

from __future__ import annotations

from taskmaster.tasks.v1 import types_pb2

from abci_app.context import Context
from abci_app.modules.bank import keeper as bank
from abci_app.modules.bank.invariants import InvariantBroken
from abci_app.modules.tasks import keeper
from abci_app.modules.tasks.keys import DUE, STORE, TASK_PREFIX


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
        expected = [info.next_block] if info.status == keeper.ACTIVE else []
        if found != expected:
            raise InvariantBroken(
                f"task {info.task_hash} ({types_pb2.TaskStatus.Name(info.status)}) has due entries {found}, "
                f"expected {expected}"
            )
    if entries:
        raise InvariantBroken(f"due entries without a task: {sorted(h.hex() for h in entries)}")


ALL = (bonds_match_module_account, allowances_match_escrow, one_due_entry_per_active_task)
