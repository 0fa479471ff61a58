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
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from taskmaster.bank.v1 import bank_pb2
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import query_pb2 as q
from taskmaster.tasks.v1 import tx_pb2, types_pb2

from abci_app.cli_pages import add_page_flags, show_page
from abci_app.cli_support import CliError, CommandGroups, broadcast, emit, msg_dict, parse_coin, query
from abci_app.client import RpcClient
from abci_app.errors import shown
from abci_app.node.keyring import Keyring

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
    return Keyring(args.home).get(key_name).address


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
        send = bank_pb2.MsgSend(from_address=owner, to_address=to, amount=[parse_coin(amount)])
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


def _start_block(args: argparse.Namespace) -> int:
    """``--start`` or, read from the node right now, the latest height plus ``--start-in`` (3)."""
    if args.start:
        return parse_uint(args.start, "--start")
    return min(RpcClient(args.node).height() + (args.start_in or 3), U64_MAX)


def _definition_file(path: str) -> types_pb2.TaskDefinition:
    """A TaskDefinition JSON file; a malformed one (or a number out of range) is a CliError."""
    try:
        return json_format.ParseDict(json.loads(Path(path).read_text()), types_pb2.TaskDefinition())
    except (OSError, ValueError, json_format.ParseError) as exc:
        raise CliError(f"--file {path}: not a TaskDefinition JSON file: {exc}") from exc


def _definition(args: argparse.Namespace, owner: str) -> types_pb2.TaskDefinition:
    """The definition from ``--file`` or from the flags (nonce from the chain unless given)."""
    if args.file:
        return _definition_file(args.file)
    target, data_bytes = _call(args, owner)
    nonce = args.nonce
    if nonce is None:
        resp = _query(
            args,
            "GetAccountNonce",
            q.QueryGetAccountNonceRequest(account=owner),
            q.QueryGetAccountNonceResponse,
        )
        nonce = resp.nonce
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
    broadcast(args, args.from_key, [msg])


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
    broadcast(args, args.from_key, [msg])


def cmd_update(args: argparse.Namespace) -> None:
    owner = _address(args, args.from_key)
    if args.file:
        d = _definition_file(args.file)
    else:
        info = _query(
            args, "GetTaskInfo", q.QueryGetTaskInfoRequest(task_hash=args.hash), q.QueryGetTaskInfoResponse
        )
        d = _updated_definition(args, info.info.definition)
    broadcast(
        args, args.from_key, [tx_pb2.MsgUpdateTaskSchedule(sender=owner, task_hash=args.hash, definition=d)]
    )


def _updated_definition(args: argparse.Namespace, d: types_pb2.TaskDefinition) -> types_pb2.TaskDefinition:
    """The stored definition ``d`` with the schedule flags applied (the start block read from the node
    when neither --start nor --start-in is given). A triggered task's one update is a resume with its
    schedule unchanged: without schedule flags it keeps the stored one and only sets active."""
    s = d.schedule
    flags = (args.interval, args.executions, args.deadline, args.start_in)
    if args.start or any(flag is not None for flag in flags) or not d.HasField("trigger"):
        s.start_block = _start_block(args)
        if args.interval is not None:
            s.interval = args.interval
        if args.executions is not None:
            s.executions = args.executions
        if args.deadline is not None:
            s.deadline = args.deadline
    s.active = args.active != "false"
    return d


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


# -- wiring ------------------------------------------------------------------------------------------------


def _definition_flags(p: argparse.ArgumentParser, with_from: bool = True) -> None:
    if with_from:
        p.add_argument("from_key", help="name of the signing key (the task owner)")
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
    p.add_argument("--start-in", type=U32, help="first execution block, in blocks from now (default 3)")
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
        "replace a task's schedule, or resume an inactive triggered task (owner)",
        True,
    )
    p.add_argument("from_key")
    p.add_argument("hash")
    p.add_argument("--file", help="full TaskDefinition JSON (task fields must be unchanged)")
    p.add_argument("--start")
    p.add_argument("--start-in", type=U32)
    p.add_argument("--interval", type=U64)
    p.add_argument("--executions", type=U64)
    p.add_argument("--deadline", type=U64)
    p.add_argument("--active", choices=["true", "false"], default="true")
    for name, func, help_ in [
        ("cancel", cmd_cancel, "cancel a task (owner, environment or task canceller)"),
        ("execute", cmd_execute, "execute one due task now (you are reimbursed)"),
    ]:
        p = groups.add(tx, name, func, help_, True)
        p.add_argument("from_key")
        p.add_argument("hash")
    for name, func in [("add-canceller", cmd_add_canceller), ("remove-canceller", cmd_remove_canceller)]:
        p = groups.add(tx, name, func, f"{name.split('-')[0]} a task canceller (owner)", True)
        p.add_argument("from_key")
        p.add_argument("hash")
        p.add_argument("canceller")
    for name, func in [
        ("add-env-canceller", cmd_add_env_canceller),
        ("remove-env-canceller", cmd_remove_env_canceller),
    ]:
        p = groups.add(tx, name, func, f"{name.split('-')[0]} an environment canceller", True)
        p.add_argument("from_key")
        p.add_argument("environment", help="basic, rescheduling, minimal or wasm:<code id>")
        p.add_argument("canceller")
    p = groups.add(tx, "execute-queued", cmd_execute_queued, "execute due tasks in this tx", True)
    p.add_argument("from_key")
    p.add_argument("--reserve", type=U64, default=100_000, help="tx gas to keep back")
    p = groups.add(tx, "bond", cmd_bond, "top up a task's bond", True)
    p.add_argument("from_key")
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
