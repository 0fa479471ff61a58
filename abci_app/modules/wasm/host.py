"""The host functions a task's module imports (``abi.HOST_FUNCTIONS``), over the chain's keepers.

Each call first pays ``abi.HOST_CALL_GAS`` (after the instructions run so far, see ``meter.py``), then
its bytes and whatever its store operations cost through the task's metered branch. A call that
cannot be served raises an AppError (a bad pointer, an argument out of range, an allowance exceeded,
out of gas): the execution ends there with that error and its branch is discarded.

What a module may touch is what :class:`HostEnv` gives it: its task's data, the block, the oracle's
prices (read only), the task owner's ``kv`` namespace, and sends from the owner's allowance on the
task through ``spend`` (the tasks module decides where the coins come from).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wasmtime import Caller

from abci_app.context import Context
from abci_app.modules.kv import keeper as kv
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.wasm import abi, errors
from abci_app.modules.wasm.meter import Execution
from abci_app.tx.address import from_bech32

I64_MAX = 2**63 - 1
MAX_TWAP_WINDOW_SECONDS = 10 * 366 * 86_400  # the oracle's TWAP query bound


@dataclass
class HostEnv:
    """What one execution may see and change.

    ``ctx`` is the execution's own branch, metered by its gas meter. ``spend(recipient, amount)``
    pays from the owner's allowance on the task (raising ALLOWANCE_EXCEEDED beyond it);
    ``allowance_left()`` says how much is left; ``reschedule(block)`` applies the task manager's
    reschedule rules to the running task.
    """

    ctx: Context
    owner: bytes
    task_id: str
    data: bytes
    spend: Callable[[bytes, int], None]
    allowance_left: Callable[[], int]
    reschedule: Callable[[int], None]


HostImpl = Callable[..., Any]


def _text(ex: Execution, caller: Caller, ptr: int, length: int, limit: int, what: str) -> str:
    raw = ex.read(caller, ptr, length, limit, what)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise errors.HOST_ARGUMENT(f"{what} is not valid UTF-8") from None


def _scaled(price: int, decimals: int, ctx: Context) -> int:
    """A stored price (oracle decimals) at ``decimals`` decimals, truncated; must fit an i64."""
    have = oracle.get_params(ctx).decimals
    if not 0 <= decimals <= have:
        raise errors.HOST_ARGUMENT(f"decimals {decimals} must be between 0 and the oracle's {have}")
    value: int = price // 10 ** int(have - decimals)
    if value > I64_MAX:
        raise errors.HOST_ARGUMENT(f"the price does not fit an i64 at {decimals} decimals; ask for fewer")
    return value


def task_data(ex: Execution, env: HostEnv, caller: Caller, ptr: int, cap: int) -> int:
    """Copy up to ``cap`` bytes of the task's data to ``ptr``; returns the data's full length."""
    data = env.data[: cap & 0xFFFFFFFF]
    ex.write(caller, ptr, data, "task_data buffer")
    return len(env.data)


def block_height(ex: Execution, env: HostEnv, caller: Caller) -> int:
    """The height of the block the task runs in."""
    return env.ctx.height


def block_time(ex: Execution, env: HostEnv, caller: Caller) -> int:
    """The block header's time, whole seconds since the Unix epoch."""
    return env.ctx.time_ns // 1_000_000_000


def price(ex: Execution, env: HostEnv, caller: Caller, pair_ptr: int, pair_len: int, decimals: int) -> int:
    """The pair's latest oracle price at ``decimals`` decimals (truncated); -1 before its first price."""
    pair = _text(ex, caller, pair_ptr, pair_len, abi.MAX_PAIR_BYTES, "pair")
    record = oracle.latest_price(env.ctx, pair)
    return -1 if record is None else _scaled(int(record.price), decimals, env.ctx)


def price_height(ex: Execution, env: HostEnv, caller: Caller, pair_ptr: int, pair_len: int) -> int:
    """The height at which the pair's latest price was written; -1 before its first price."""
    pair = _text(ex, caller, pair_ptr, pair_len, abi.MAX_PAIR_BYTES, "pair")
    record = oracle.latest_price(env.ctx, pair)
    return -1 if record is None else int(record.height)


def twap(
    ex: Execution, env: HostEnv, caller: Caller, pair_ptr: int, pair_len: int, window: int, decimals: int
) -> int:
    """The pair's time-weighted average over the last ``window`` seconds (0: all history); -1 if none."""
    pair = _text(ex, caller, pair_ptr, pair_len, abi.MAX_PAIR_BYTES, "pair")
    if not 0 <= window <= MAX_TWAP_WINDOW_SECONDS:
        raise errors.HOST_ARGUMENT(f"window {window} must be between 0 and {MAX_TWAP_WINDOW_SECONDS} seconds")
    ex.meter.consume(abi.HISTORY_SEEK_GAS, "wasm twap history seek")
    found = oracle.twap(env.ctx, pair, window)
    return -1 if found is None else _scaled(found[0], decimals, env.ctx)


def kv_get(
    ex: Execution, env: HostEnv, caller: Caller, key_ptr: int, key_len: int, val_ptr: int, val_cap: int
) -> int:
    """Copy up to ``val_cap`` bytes of the owner's value at the key; returns its length, -1 if absent."""
    key = ex.read(caller, key_ptr, key_len, kv.MAX_KEY, "key")
    value = kv.get(env.ctx, env.owner, key)
    if value is None:
        return -1
    ex.write(caller, val_ptr, value[: val_cap & 0xFFFFFFFF], "kv_get buffer")
    return len(value)


def kv_set(
    ex: Execution, env: HostEnv, caller: Caller, key_ptr: int, key_len: int, val_ptr: int, val_len: int
) -> None:
    """Set the key in the owner's namespace (kv's key and value limits apply)."""
    key = ex.read(caller, key_ptr, key_len, kv.MAX_KEY, "key")
    value = ex.read(caller, val_ptr, val_len, kv.MAX_VALUE, "value")
    kv.put(env.ctx, env.owner, key, value)


def kv_delete(ex: Execution, env: HostEnv, caller: Caller, key_ptr: int, key_len: int) -> int:
    """Delete the key from the owner's namespace; 1 if it was there, 0 if not."""
    key = ex.read(caller, key_ptr, key_len, kv.MAX_KEY, "key")
    if kv.get(env.ctx, env.owner, key) is None:
        return 0
    kv.delete(env.ctx, env.owner, key)
    return 1


def send(ex: Execution, env: HostEnv, caller: Caller, to_ptr: int, to_len: int, amount: int) -> None:
    """Pay ``amount`` utask to the bech32 address at ``to_ptr`` out of the owner's allowance."""
    recipient = from_bech32(_text(ex, caller, to_ptr, to_len, abi.MAX_ADDRESS_TEXT, "recipient"), "recipient")
    if amount <= 0:
        raise errors.HOST_ARGUMENT(f"amount {amount} must be positive")
    env.spend(recipient, amount)


def allowance(ex: Execution, env: HostEnv, caller: Caller) -> int:
    """What is left of the owner's send allowance on this task (utask, capped at i64's maximum)."""
    return min(env.allowance_left(), I64_MAX)


def emit(
    ex: Execution, env: HostEnv, caller: Caller, key_ptr: int, key_len: int, val_ptr: int, val_len: int
) -> None:
    """Emit ``TaskWasmEvent{task_id, key, value}`` (UTF-8 text; kept only if the execution succeeds)."""
    if ex.events >= abi.MAX_EVENTS:
        raise errors.HOST_ARGUMENT(f"at most {abi.MAX_EVENTS} events per execution")
    key = _text(ex, caller, key_ptr, key_len, abi.MAX_EVENT_KEY, "event key")
    value = _text(ex, caller, val_ptr, val_len, abi.MAX_EVENT_VALUE, "event value")
    if not key:
        raise errors.HOST_ARGUMENT("an event key may not be empty")
    ex.meter.consume(abi.RECORD_GAS_PER_BYTE * (len(key.encode()) + len(value.encode())), "wasm event")
    ex.events += 1
    env.ctx.emit("TaskWasmEvent", task_id=env.task_id, key=key, value=value)


def reschedule(ex: Execution, env: HostEnv, caller: Caller, target_block: int) -> None:
    """Ask to run again at ``target_block`` instead of counting this execution (reschedule_task rules)."""
    env.reschedule(target_block)


def set_return(ex: Execution, env: HostEnv, caller: Caller, ptr: int, length: int) -> None:
    """Set the execution's return data (replaces earlier calls'; shown in TaskExecuted.return_data)."""
    data = ex.read(caller, ptr, length, abi.MAX_RETURN_DATA, "return data")
    ex.meter.consume(abi.RECORD_GAS_PER_BYTE * len(data), "wasm return data")
    ex.return_data = data


IMPLEMENTATIONS: dict[str, HostImpl] = {
    "task_data": task_data,
    "block_height": block_height,
    "block_time": block_time,
    "price": price,
    "price_height": price_height,
    "twap": twap,
    "kv_get": kv_get,
    "kv_set": kv_set,
    "kv_delete": kv_delete,
    "send": send,
    "allowance": allowance,
    "emit": emit,
    "reschedule": reschedule,
    "set_return": set_return,
}
assert set(IMPLEMENTATIONS) == set(abi.HOST_FUNCTIONS), "every ABI entry has exactly one implementation"
