"""``taskmaster tx tasks ...`` and ``taskmaster query tasks ...``: definitions as flags or ``--file``.

A definition file is the JSON form of ``TaskDefinition`` (protobuf JSON names), e.g.::

    {"task": {"fromAddress": "task1...", "gas": "50000", "target": "/taskmaster.kv.v1.MsgPut",
              "data": "<base64>", "nonce": "0", "environment": "basic"},
     "schedule": {"startBlock": "120", "interval": "100", "executions": "3", "active": true}}

Flags build the same thing: ``--kv-put KEY=VALUE`` / ``--kv-delete KEY`` / ``--send TO:AMOUNT`` or
``--target URL --data-hex HEX``, or ``--wasm CODE_ID`` (environment ``wasm:<code id>``, no target) with
its input from ``--data-hex`` or ``--data-file`` and ``--allowance`` for its sends (docs/wasm.md);
``--start`` or ``--start-in N`` (blocks from now); the nonce is read from the chain unless ``--nonce``
is given.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from taskmaster.bank.v1 import bank_pb2
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import query_pb2 as q
from taskmaster.tasks.v1 import tx_pb2, types_pb2

from abci_app.cli_pages import add_page_flags, show_page
from abci_app.cli_support import (
    CliError,
    CommandGroups,
    add_signer,
    broadcast,
    emit,
    keyring,
    msg_dict,
    parse_coin,
    query,
    require_known_denom,
)
from abci_app.client import RpcClient
from abci_app.errors import AppError, shown
from abci_app.modules.tasks.keeper import task_hash

SERVICE = "taskmaster.tasks.v1.Query"
U64_MAX = 2**64 - 1
_UINT = re.compile(r"[0-9]{1,20}")  # bounded before int(): no int_max_str_digits, no huge numbers


def parse_uint(text: str, what: str, high: int = U64_MAX) -> int:
    """A decimal integer in ``[0, high]``; raises CliError naming ``what``."""
    if not _UINT.fullmatch(text) or int(text) > high:
        raise CliError(f"{what} {shown(text, 30)} must be a whole number between 0 and {high}")
    return int(text)


def _uint_type(high: int = U64_MAX) -> Any:
    """An argparse ``type`` for a bounded non-negative integer."""

    def convert(text: str) -> int:
        try:
            return parse_uint(text, "value", high)
        except CliError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    return convert


U64 = _uint_type()
U32 = _uint_type(2**32 - 1)


def _address(args: argparse.Namespace, key_name: str) -> str:
    return keyring(args).get(key_name).address


def _query(args: argparse.Namespace, method: str, request: Message, response_type: type[Message]) -> Any:
    return query(args, SERVICE, method, request, response_type)


def _call(args: argparse.Namespace, owner: str) -> tuple[str, bytes]:
    """The (target, data) chosen by the flags."""
    chosen = [f for f in ("kv_put", "kv_delete", "send", "target", "wasm") if getattr(args, f, None)]
    if len(chosen) != 1:
        raise CliError(
            "give exactly one of --kv-put, --kv-delete, --send, --target (with --data-hex), --wasm CODE_ID"
        )
    if args.wasm:
        return "", _wasm_data(args)
    if args.kv_put:
        key, sep, value = args.kv_put.partition("=")
        if not sep:
            raise CliError(f"--kv-put {args.kv_put!r} must look like KEY=VALUE")
        return "/taskmaster.kv.v1.MsgPut", kv_pb2.MsgPut(
            owner=owner, key=key.encode(), value=value.encode()
        ).SerializeToString()
    if args.kv_delete:
        msg = kv_pb2.MsgDelete(owner=owner, key=args.kv_delete.encode())
        return "/taskmaster.kv.v1.MsgDelete", msg.SerializeToString()
    if args.send:
        to, sep, amount = args.send.partition(":")
        if not sep:
            raise CliError(f"--send {args.send!r} must look like task1...:1000utask")
        coin = parse_coin(amount)
        require_known_denom(args, coin.denom)
        send = bank_pb2.MsgSend(from_address=owner, to_address=to, amount=[coin])
        return "/taskmaster.bank.v1.MsgSend", send.SerializeToString()
    try:
        return args.target, bytes.fromhex(args.data_hex or "")
    except ValueError as exc:
        raise CliError(f"--data-hex is not hex: {exc}") from exc


def _wasm_data(args: argparse.Namespace) -> bytes:
    """A wasm task's input: ``--data-file`` bytes or ``--data-hex`` (or nothing)."""
    if args.data_file and args.data_hex:
        raise CliError("give --data-file or --data-hex, not both")
    if args.data_file:
        try:
            return Path(args.data_file).read_bytes()
        except OSError as exc:
            raise CliError(f"--data-file {args.data_file}: {exc}") from exc
    try:
        return bytes.fromhex(args.data_hex or "")
    except ValueError as exc:
        raise CliError(f"--data-hex is not hex: {exc}") from exc


def _environment(args: argparse.Namespace) -> str:
    return f"wasm:{args.wasm}" if getattr(args, "wasm", None) else str(args.env)


_PRICE = re.compile(r"([0-9]{1,40})(?:\.([0-9]{1,18}))?")


def _trigger(args: argparse.Namespace) -> types_pb2.PriceTrigger | None:
    """``--trigger PAIR,above|below,PRICE`` (PRICE in whole units, up to 18 decimals) as a PriceTrigger."""
    if not getattr(args, "trigger", None):
        return None
    parts = args.trigger.split(",")
    directions = {"above": types_pb2.TRIGGER_DIRECTION_ABOVE, "below": types_pb2.TRIGGER_DIRECTION_BELOW}
    match = _PRICE.fullmatch(parts[2]) if len(parts) == 3 else None
    if match is None or parts[1] not in directions:
        raise CliError(f"--trigger {args.trigger!r} must look like bitcoin/usd,below,59000.5")
    threshold = int(match.group(1)) * 10**18 + int((match.group(2) or "").ljust(18, "0"))
    return types_pb2.PriceTrigger(
        pair=parts[0],
        direction=directions[parts[1]],
        threshold=str(threshold),
        cooldown_blocks=args.cooldown,
        expiry_block=args.expiry,
    )


DEFAULT_START_IN = 3
MIN_START_IN = 2
"""``--start-in`` counts from the latest committed height H. The tx lands in block H+1 at the earliest,
and the chain takes only a start block after the block that includes the tx: so at least H+2."""


def _start_in_type(text: str) -> int:
    """An argparse ``type`` for ``--start-in``: a block count the chain can accept (at least 2)."""
    try:
        value = parse_uint(text, "--start-in", 2**32 - 1)
    except CliError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    if value < MIN_START_IN:
        raise argparse.ArgumentTypeError(
            f"--start-in {value} can never be accepted: the tx lands in the next block at the earliest and "
            f"the start must come after the block that includes it; use --start-in {MIN_START_IN} or more "
            f"(default {DEFAULT_START_IN})"
        )
    return value


def _start_block(args: argparse.Namespace) -> int:
    """``--start`` or, read from the node right now, the latest height plus ``--start-in`` (3)."""
    if args.start:
        return parse_uint(args.start, "--start")
    start_in = DEFAULT_START_IN if args.start_in is None else args.start_in
    return min(RpcClient(args.node).height() + start_in, U64_MAX)


def _definition_file(path: str) -> tuple[types_pb2.TaskDefinition, dict[str, Any]]:
    """A TaskDefinition JSON file and its ``task`` object as written; a malformed one (or a number out of
    range) is a CliError."""
    try:
        raw = json.loads(Path(path).read_text())
        parsed = json_format.ParseDict(raw, types_pb2.TaskDefinition())
    except (OSError, ValueError, json_format.ParseError) as exc:
        raise CliError(f"--file {path}: not a TaskDefinition JSON file: {exc}") from exc
    task = raw.get("task") if isinstance(raw, dict) else None
    return parsed, task if isinstance(task, dict) else {}


def _account_nonce(args: argparse.Namespace, owner: str) -> int:
    """The owner's next task nonce, read from the chain."""
    request = q.QueryGetAccountNonceRequest(account=owner)
    resp = _query(args, "GetAccountNonce", request, q.QueryGetAccountNonceResponse)
    return int(resp.nonce)


def _filled_file(args: argparse.Namespace, owner: str) -> types_pb2.TaskDefinition:
    """The ``--file`` definition with what the file leaves out filled in as the flags would: the owner's
    address (``fromAddress``) and the task nonce from the chain (``nonce``, unless ``--nonce``)."""
    d, written = _definition_file(args.file)
    if "fromAddress" not in written and "from_address" not in written:
        d.task.from_address = owner
    if args.nonce is not None:
        d.task.nonce = args.nonce
    elif "nonce" not in written:
        d.task.nonce = _account_nonce(args, d.task.from_address)
    return d


def _definition(args: argparse.Namespace, owner: str) -> types_pb2.TaskDefinition:
    """The definition from ``--file`` or from the flags (nonce from the chain unless given)."""
    if args.file:
        return _filled_file(args, owner)
    target, data_bytes = _call(args, owner)
    nonce = _account_nonce(args, owner) if args.nonce is None else args.nonce
    return types_pb2.TaskDefinition(
        trigger=_trigger(args),
        task=types_pb2.Task(
            from_address=owner,
            gas=args.task_gas,
            target=target,
            data=data_bytes,
            nonce=nonce,
            environment=_environment(args),
        ),
        schedule=types_pb2.TaskSchedule(
            start_block=_start_block(args),
            interval=args.interval,
            executions=args.executions,
            active=True,
            deadline=args.deadline,
        ),
    )


def cmd_schedule(args: argparse.Namespace) -> None:
    owner = _address(args, args.from_key)
    d = _definition(args, owner)
    msg = tx_pb2.MsgScheduleTask(
        sender=owner, definition=d, gas_price=args.gas_price, allowance=_allowance(args)
    )
    broadcast(args, args.from_key, [msg], _task_hash_outcome(d))


def _task_hash_outcome(d: types_pb2.TaskDefinition) -> dict[str, str]:
    """``{"task_hash": ...}``: the hash the chain will name the task by (docs/tasks.md, "task_hash"),
    computed from the definition as ``tx wasm store`` computes a code id; empty if the definition is
    one the chain refuses anyway (its error is then what is shown)."""
    try:
        return {"task_hash": task_hash(d.task).hex()}
    except (AppError, ValueError):
        return {}


def _allowance(args: argparse.Namespace) -> str:
    if not args.allowance:
        return ""
    coin = parse_coin(args.allowance)
    if coin.denom != "utask":
        raise CliError(f"allowances are in utask, not {coin.denom}")
    return coin.amount


def cmd_execute_and_schedule(args: argparse.Namespace) -> None:
    owner = _address(args, args.from_key)
    d = _definition(args, owner)
    msg = tx_pb2.MsgExecuteAndSchedule(
        sender=owner, definition=d, gas_price=args.gas_price, allowance=_allowance(args)
    )
    broadcast(args, args.from_key, [msg], _task_hash_outcome(d))


def cmd_update(args: argparse.Namespace) -> None:
    owner = _address(args, args.from_key)
    if args.file:
        d, _ = _definition_file(args.file)
    else:
        info = _query(
            args, "GetTaskInfo", q.QueryGetTaskInfoRequest(task_hash=args.hash), q.QueryGetTaskInfoResponse
        )
        d = _updated_definition(args, info.info, lambda: RpcClient(args.node).height())
    broadcast(
        args, args.from_key, [tx_pb2.MsgUpdateTaskSchedule(sender=owner, task_hash=args.hash, definition=d)]
    )


UPDATE_HELP = """\
MsgUpdateTaskSchedule replaces the whole schedule; this command sends the stored one with only the
fields you name changed, so the next execution stays where it is unless you move it:
  --start / --start-in   move the next execution to that block (the recurrence goes on from there)
  --interval             blocks between executions after the next one
  --executions           how many executions are left, the next one included (the bond is topped up
                         from the owner if it lacks)
  --deadline             the informational deadline
  --active false|true    pause the task / resume an inactive one (at --start or --start-in; default:
                         its stored start if still ahead, else 3 blocks from now); without it the task
                         stays as it is, and a schedule change of an inactive task must say which
A triggered task takes one update only: the resume of an inactive one (no schedule flags).
"""


def _updated_definition(
    args: argparse.Namespace, info: types_pb2.TaskInfo, height: Callable[[], int]
) -> types_pb2.TaskDefinition:
    """The stored definition of ``info`` with only the named schedule flags changed.

    The message replaces the whole schedule and counts ``executions`` from ``start_block`` on, so a
    field not named is sent as the task has it now: the start is the task's next due block and the
    executions are the ones left. ``height`` (the node's latest height) is read only when the task's
    next block must be compared with it. A triggered task's one update is a resume with its
    schedule unchanged.
    """
    d = types_pb2.TaskDefinition()
    d.CopyFrom(info.definition)
    s = d.schedule
    moved = bool(args.start) or args.start_in is not None
    changes = [args.interval, args.executions, args.deadline]
    if d.HasField("trigger"):
        if moved or any(c is not None for c in changes) or args.active == "false":
            raise CliError(
                "a triggered task's schedule cannot change and it cannot be paused: the one update it takes "
                "resumes an inactive one (give no schedule flags); cancel it and schedule it again instead"
            )
        s.active = True
        return d
    active_now = info.status == types_pb2.TASK_STATUS_ACTIVE
    active = active_now if args.active is None else args.active == "true"
    named = moved or any(c is not None for c in changes)
    if not named and active == active_now:
        state = "active" if active_now else "inactive"
        raise CliError(
            f"nothing to change: task {info.task_hash} is {state}; name --start/--start-in, --interval, "
            "--executions, --deadline or --active"
        )
    if named and not active_now and args.active is None:
        raise CliError(
            f"task {info.task_hash} is inactive ({info.inactive_reason or 'paused'}): add --active true to "
            "resume it with this schedule, or --active false to change it and keep it paused"
        )
    if moved:
        s.start_block = _start_block(args)
    else:
        s.start_block = _kept_start(info, active, height)
    s.executions = info.executions_left if args.executions is None else args.executions
    if args.interval is not None:
        s.interval = args.interval
    if args.deadline is not None:
        s.deadline = args.deadline
    s.active = active
    return d


def _kept_start(info: types_pb2.TaskInfo, active: bool, height: Callable[[], int]) -> int:
    """The start block of an update that does not move the task: its next due block.

    The chain takes only a start after the block the update lands in (the next one at the earliest).
    A task due that soon cannot keep its place through an update; an inactive task keeps its stored
    start while it is still ahead, else resumes 3 blocks from now (a pause of a task due that soon
    stores such a start too: the task is not due while paused).
    """
    latest = height()
    place = info.next_block or info.definition.schedule.start_block  # an inactive task: its stored start
    if place > latest + 1:
        return place
    if info.next_block and active:
        raise CliError(
            f"task {info.task_hash} is due at block {info.next_block} and the chain is at {latest}: an "
            "update lands after that, so it cannot keep the task's place; give --start or --start-in "
            "to say where its next execution goes"
        )
    return min(latest + DEFAULT_START_IN, U64_MAX)


def cmd_cancel(args: argparse.Namespace) -> None:
    sender = _address(args, args.from_key)
    broadcast(args, args.from_key, [tx_pb2.MsgCancelTask(sender=sender, task_hash=args.hash)])


def cmd_add_canceller(args: argparse.Namespace) -> None:
    sender = _address(args, args.from_key)
    msg = tx_pb2.MsgAddTaskCanceller(sender=sender, task_hash=args.hash, canceller=args.canceller)
    broadcast(args, args.from_key, [msg])


def cmd_remove_canceller(args: argparse.Namespace) -> None:
    sender = _address(args, args.from_key)
    msg = tx_pb2.MsgRemoveTaskCanceller(sender=sender, task_hash=args.hash, canceller=args.canceller)
    broadcast(args, args.from_key, [msg])


def cmd_add_env_canceller(args: argparse.Namespace) -> None:
    sender = _address(args, args.from_key)
    msg = tx_pb2.MsgAddEnvironmentCanceller(
        sender=sender, environment=args.environment, canceller=args.canceller
    )
    broadcast(args, args.from_key, [msg])


def cmd_remove_env_canceller(args: argparse.Namespace) -> None:
    sender = _address(args, args.from_key)
    msg = tx_pb2.MsgRemoveEnvironmentCanceller(
        sender=sender, environment=args.environment, canceller=args.canceller
    )
    broadcast(args, args.from_key, [msg])


def cmd_execute_queued(args: argparse.Namespace) -> None:
    executor = _address(args, args.from_key)
    msg = tx_pb2.MsgExecuteQueuedTasks(executor=executor, target_gas_reserve=args.reserve)
    broadcast(args, args.from_key, [msg])


def cmd_execute(args: argparse.Namespace) -> None:
    executor = _address(args, args.from_key)
    broadcast(args, args.from_key, [tx_pb2.MsgExecuteTask(executor=executor, task_hash=args.hash)])


def cmd_bond(args: argparse.Namespace) -> None:
    sender = _address(args, args.from_key)
    amount = parse_coin(args.amount)
    if amount.denom != "utask":
        raise CliError(f"bonds are in utask, not {amount.denom}")
    broadcast(
        args, args.from_key, [tx_pb2.MsgBondTask(sender=sender, task_hash=args.hash, amount=amount.amount)]
    )


# -- queries --------------------------------------------------------------------------------------------


def _show(args: argparse.Namespace, method: str, request: Message, response_type: type[Message]) -> None:
    emit(args, msg_dict(_query(args, method, request, response_type)))


def cmd_info(args: argparse.Namespace) -> None:
    _show(args, "GetTaskInfo", q.QueryGetTaskInfoRequest(task_hash=args.hash), q.QueryGetTaskInfoResponse)


def cmd_account(args: argparse.Namespace) -> None:
    """One page of the account's tasks, in hash order (with their next blocks when asked)."""
    if args.with_blocks:
        req: Message = q.QueryGetAccountTasksWithBlocksRequest(account=args.address)
        show_page(args, SERVICE, "GetAccountTasksWithBlocks", req, q.QueryGetAccountTasksWithBlocksResponse)
    else:
        req = q.QueryGetAccountTasksRequest(account=args.address)
        show_page(args, SERVICE, "GetAccountTasks", req, q.QueryGetAccountTasksResponse)


def cmd_range(args: argparse.Namespace) -> None:
    req = q.QueryGetTasksInRangeRequest(start=args.start, end=args.end)
    show_page(args, SERVICE, "GetTasksInRange", req, q.QueryGetTasksInRangeResponse)


def cmd_next(args: argparse.Namespace) -> None:
    req = q.QueryGetNextExecutionBlockInRangeRequest(start=args.start, end=args.end)
    resp = _query(args, "GetNextExecutionBlockInRange", req, q.QueryGetNextExecutionBlockInRangeResponse)
    emit(args, msg_dict(resp), str(resp.block))


def cmd_next_blocks(args: argparse.Namespace) -> None:
    if args.account:
        req: Message = q.QueryGetNextExecutionBlocksRequest(account=args.account, task_hashes=args.hashes)
        _show(args, "GetNextExecutionBlocks", req, q.QueryGetNextExecutionBlocksResponse)
    else:
        req = q.QueryGetNextBlocksForTasksRequest(task_hashes=args.hashes)
        _show(args, "GetNextBlocksForTasks", req, q.QueryGetNextBlocksForTasksResponse)


def cmd_estimate_bond(args: argparse.Namespace) -> None:
    owner = args.owner or _address(args, args.from_key)
    if not args.start and not args.file:
        args.start = "1"
    d = _definition(args, owner)
    req = q.QueryEstimateRequiredBondRequest(definition=d, gas_price=args.gas_price)
    _show(args, "EstimateRequiredBond", req, q.QueryEstimateRequiredBondResponse)


def cmd_estimate_cost(args: argparse.Namespace) -> None:
    req = q.QueryEstimateCostRequest(target_block=args.target_block, gas_limit=args.task_gas)
    _show(args, "EstimateCost", req, q.QueryEstimateCostResponse)


def cmd_nonce(args: argparse.Namespace) -> None:
    resp = _query(
        args,
        "GetAccountNonce",
        q.QueryGetAccountNonceRequest(account=args.address),
        q.QueryGetAccountNonceResponse,
    )
    emit(args, msg_dict(resp), str(resp.nonce))


def cmd_params(args: argparse.Namespace) -> None:
    _show(args, "Params", q.QueryParamsRequest(), q.QueryParamsResponse)


def cmd_cancellers(args: argparse.Namespace) -> None:
    req = q.QueryGetTaskCancellersRequest(task_hash=args.hash)
    show_page(args, SERVICE, "GetTaskCancellers", req, q.QueryGetTaskCancellersResponse)


def cmd_runs(args: argparse.Namespace) -> None:
    req = q.QueryGetTaskRunsRequest(task_hash=args.hash)
    show_page(args, SERVICE, "GetTaskRuns", req, q.QueryGetTaskRunsResponse)


# -- wiring ------------------------------------------------------------------------------------------------


def _definition_flags(p: argparse.ArgumentParser, with_from: bool = True) -> None:
    if with_from:
        add_signer(p)
    p.add_argument("--file", help="TaskDefinition JSON file (replaces the flags below)")
    p.add_argument("--kv-put", help="task target: put KEY=VALUE in the owner's kv namespace")
    p.add_argument("--kv-delete", help="task target: delete KEY from the owner's kv namespace")
    p.add_argument("--send", help="task target: send TO:AMOUNT from the owner")
    p.add_argument("--target", help="task target type URL (with --data-hex)")
    p.add_argument("--data-hex", help="task target message bytes in hex (a wasm task: its input)")
    p.add_argument("--wasm", metavar="CODE_ID", help="run stored code: environment wasm:CODE_ID, no target")
    p.add_argument("--data-file", help="a wasm task's input, read from a file")
    p.add_argument("--allowance", help="a wasm task's send allowance, escrowed (e.g. 5000utask)")
    p.add_argument(
        "--trigger", help="run when a price crosses: PAIR,above|below,PRICE (bitcoin/usd,below,59000)"
    )
    p.add_argument(
        "--cooldown", type=U64, default=0, help="with --trigger: blocks after an execution to skip"
    )
    p.add_argument("--expiry", type=U64, default=0, help="with --trigger: last block it may fire (0 = never)")
    p.add_argument("--task-gas", type=U64, default=50_000, help="task gas limit (tier: <=100k small, ...)")
    p.add_argument("--start", help="first execution block (absolute)")
    p.add_argument(
        "--start-in",
        type=_start_in_type,
        help=f"first execution block, blocks from now (at least {MIN_START_IN}, default {DEFAULT_START_IN})",
    )
    p.add_argument("--interval", type=U64, default=0)
    p.add_argument("--executions", type=U64, default=1)
    p.add_argument("--deadline", type=U64, default=0)
    p.add_argument("--env", default="basic", choices=["basic", "rescheduling", "minimal"])
    p.add_argument("--nonce", type=U64, help="task nonce (default: read from the chain)")
    p.add_argument("--gas-price", default="", help="utask per task gas (default: the params' price)")


def register(groups: CommandGroups) -> None:
    """Add ``tx tasks ...`` and ``query tasks ...``."""
    tx = groups.add(groups.tx, "tasks", lambda a: None, "task manager txs").add_subparsers(
        dest="action", required=True
    )
    _definition_flags(groups.add(tx, "schedule", cmd_schedule, "schedule a task", True))
    _definition_flags(
        groups.add(
            tx, "execute-and-schedule", cmd_execute_and_schedule, "run now and schedule the rest", True
        )
    )
    p = groups.add(
        tx,
        "update",
        cmd_update,
        "change the named fields of a task's schedule, or resume an inactive task (owner)",
        True,
        description=UPDATE_HELP,
    )
    add_signer(p)
    p.add_argument("hash")
    p.add_argument("--file", help="full TaskDefinition JSON, sent as it is (task fields must be unchanged)")
    p.add_argument("--start", help="move the next execution to this block")
    p.add_argument("--start-in", type=_start_in_type, help="move the next execution to N blocks from now")
    p.add_argument("--interval", type=U64, help="blocks between executions after the next one")
    p.add_argument("--executions", type=U64, help="executions left, the next one included")
    p.add_argument("--deadline", type=U64, help="the informational deadline")
    p.add_argument(
        "--active",
        choices=["true", "false"],
        default=None,
        help="false pauses, true resumes (default: as now)",
    )
    for name, func, help_ in [
        ("cancel", cmd_cancel, "cancel a task (owner, environment or task canceller)"),
        ("execute", cmd_execute, "execute one due task now (you are reimbursed)"),
    ]:
        p = groups.add(tx, name, func, help_, True)
        add_signer(p)
        p.add_argument("hash")
    for name, func in [("add-canceller", cmd_add_canceller), ("remove-canceller", cmd_remove_canceller)]:
        p = groups.add(tx, name, func, f"{name.split('-')[0]} a task canceller (owner)", True)
        add_signer(p)
        p.add_argument("hash")
        p.add_argument("canceller")
    for name, func in [
        ("add-env-canceller", cmd_add_env_canceller),
        ("remove-env-canceller", cmd_remove_env_canceller),
    ]:
        p = groups.add(tx, name, func, f"{name.split('-')[0]} an environment canceller", True)
        add_signer(p)
        p.add_argument("environment", help="basic, rescheduling, minimal or wasm:<code id>")
        p.add_argument("canceller")
    p = groups.add(tx, "execute-queued", cmd_execute_queued, "execute due tasks in this tx", True)
    add_signer(p)
    p.add_argument("--reserve", type=U64, default=100_000, help="tx gas to keep back")
    p = groups.add(tx, "bond", cmd_bond, "top up a task's bond", True)
    add_signer(p)
    p.add_argument("hash")
    p.add_argument("amount", help="e.g. 500000utask")

    qs = groups.add(groups.query, "tasks", lambda a: None, "task manager queries").add_subparsers(
        dest="action", required=True
    )
    groups.add(qs, "info", cmd_info, "a task's definition and metrics").add_argument("hash")
    p = groups.add(qs, "account", cmd_account, "an account's tasks")
    p.add_argument("address")
    p.add_argument("--with-blocks", action="store_true")
    add_page_flags(p)
    p = groups.add(qs, "range", cmd_range, "due tasks in [start, end]")
    p.add_argument("start", type=U64)
    p.add_argument("end", type=U64)
    add_page_flags(p)
    p = groups.add(qs, "next", cmd_next, "first block with a due task in [start, end] (0 = none)")
    p.add_argument("start", type=U64)
    p.add_argument("end", type=U64)
    p = groups.add(qs, "next-blocks", cmd_next_blocks, "next blocks of tasks (0 = not scheduled)")
    p.add_argument("hashes", nargs="+")
    p.add_argument("--account", help="check that the tasks belong to this account")
    p = groups.add(qs, "estimate-bond", cmd_estimate_bond, "bond a definition needs")
    _definition_flags(p, with_from=False)
    p.add_argument("--owner", help="owner address (default: --from-key's address)")
    p.add_argument("--from-key", default="faucet")
    p = groups.add(qs, "estimate-cost", cmd_estimate_cost, "cost of one execution")
    p.add_argument("--task-gas", type=U64, required=True)
    p.add_argument("--target-block", type=U64, default=0)
    groups.add(qs, "nonce", cmd_nonce, "an account's next task nonce").add_argument("address")
    groups.add(qs, "params", cmd_params, "module params")
    p = groups.add(qs, "cancellers", cmd_cancellers, "a task's cancellers")
    p.add_argument("hash")
    add_page_flags(p)
    p = groups.add(qs, "runs", cmd_runs, "a task's last runs (params.run_history_size), oldest first")
    p.add_argument("hash")
    add_page_flags(p)
