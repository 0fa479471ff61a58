"""Query service of the tasks module (gRPC ``taskmaster.tasks.v1.Query`` and ABCI query paths).

Range queries walk the due index, so their cost grows with the number of results only. Every query's
cost is bounded (docs/tasks.md, "Queries"): every listing (an account's tasks, a range of due tasks,
a task's cancellers) answers one page (``abci_app/modules/pagination.py``: default 100, at most 1000
items, key-based ``next_key``); a range spans at most ``MAX_RANGE_BLOCKS`` blocks and its pages stay
within it; a request names at most ``MAX_REQUEST_HASHES`` tasks. Beyond a limit the answer is
QUERY_INVALID naming it, never a silently cut list.
"""

from __future__ import annotations

from taskmaster.tasks.v1 import query_pb2 as q
from taskmaster.tasks.v1 import types_pb2

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules import QUERY_INVALID, QUERY_NOT_FOUND, QueryRoute
from abci_app.modules.pagination import Page, PageRequest, paginate
from abci_app.modules.tasks import keeper
from abci_app.modules.tasks.keys import CANCELLER_PREFIX, DUE, OWNER_PREFIX, STORE, run_prefix
from abci_app.tx.address import from_bech32, to_bech32

SERVICE = "taskmaster.tasks.v1.Query"
MAX_RANGE_BLOCKS = 100_000
MAX_REQUEST_HASHES = 500


def _hash(text: str) -> bytes:
    try:
        return keeper.parse_hash(text)
    except AppError as err:
        raise QUERY_INVALID(err.message) from err


def _info(ctx: Context, text: str) -> types_pb2.TaskInfo:
    info = keeper.get_task(ctx, _hash(text))
    if info is None:
        raise QUERY_NOT_FOUND(f"no task with hash {text}")
    return info


def _next_block(info: types_pb2.TaskInfo) -> int:
    """Next execution block; 0 for completed, cancelled or inactive tasks."""
    return info.next_block if info.status == keeper.ACTIVE else 0


def _owner_tasks(ctx: Context, account: str, page: PageRequest) -> tuple[list[bytes], Page]:
    """One page of the account's task hashes, in hash order, and the page (for its PageResponse)."""
    prefix = OWNER_PREFIX + from_bech32(account, "account")
    found = paginate(ctx.store(STORE), page, prefix)
    return [key[len(prefix) :] for key in found.keys], found


def _hashes(texts: list[str]) -> list[str]:
    if len(texts) > MAX_REQUEST_HASHES:
        raise QUERY_INVALID(f"{len(texts)} task hashes given; ask for at most {MAX_REQUEST_HASHES} at once")
    return texts


def get_account_tasks(ctx: Context, req: q.QueryGetAccountTasksRequest) -> q.QueryGetAccountTasksResponse:
    """One page of the hashes of the tasks the account scheduled, in hash order."""
    hashes, page = _owner_tasks(ctx, req.account, req.pagination)
    return q.QueryGetAccountTasksResponse(task_hashes=[h.hex() for h in hashes], pagination=page.response)


def get_task_info(ctx: Context, req: q.QueryGetTaskInfoRequest) -> q.QueryGetTaskInfoResponse:
    """Definition, metrics and state of one task."""
    return q.QueryGetTaskInfoResponse(info=_info(ctx, req.task_hash))


def get_tasks_in_range(ctx: Context, req: q.QueryGetTasksInRangeRequest) -> q.QueryGetTasksInRangeResponse:
    """One page of the due entries with ``start <= block <= end``, in execution order.

    QUERY_INVALID when ``start > end`` or the range spans more than MAX_RANGE_BLOCKS blocks; the
    pages stay within the range.
    """
    if req.start > req.end:
        raise QUERY_INVALID(f"start {req.start} is after end {req.end}; give start <= end")
    if req.end - req.start + 1 > MAX_RANGE_BLOCKS:
        raise QUERY_INVALID(
            f"range [{req.start}, {req.end}] spans {req.end - req.start + 1} blocks; ask for at most "
            f"{MAX_RANGE_BLOCKS} blocks at once"
        )
    lower = DUE.prefix + req.start.to_bytes(8, "big")
    upper = DUE.prefix + (req.end + 1).to_bytes(8, "big") if req.end + 1 < 2**64 else None
    page = paginate(ctx.store(STORE), req.pagination, DUE.prefix, lower, upper)
    out = q.QueryGetTasksInRangeResponse(pagination=page.response)
    for key in page.keys:
        entry = DUE.decode(key)
        out.tasks.add(block=entry.block, task_hash=entry.id.hex())
    return out


def get_next_execution_block_in_range(
    ctx: Context, req: q.QueryGetNextExecutionBlockInRangeRequest
) -> q.QueryGetNextExecutionBlockInRangeResponse:
    """The first block in ``[start, end]`` with a due task; 0 when none."""
    block = DUE.next_block(ctx.store(STORE), req.start, req.end)
    return q.QueryGetNextExecutionBlockInRangeResponse(block=block or 0)


def estimate_required_bond(
    ctx: Context, req: q.QueryEstimateRequiredBondRequest
) -> q.QueryEstimateRequiredBondResponse:
    """The bond MsgScheduleTask escrows for ``definition`` at ``gas_price``."""
    try:
        price = keeper.resolve_gas_price(ctx, req.gas_price)
        tier = keeper.tier_of(req.definition.task.gas)
        if req.definition.schedule.executions < 1:
            raise QUERY_INVALID("definition.schedule.executions must be at least 1")
        # refused exactly when MsgScheduleTask would refuse these task fields (the signer aside)
        keeper.validate_task_fields(ctx, req.definition.task, check_signer=False)
    except AppError as err:
        raise QUERY_INVALID(err.message) from err
    bond = keeper.required_bond(req.definition, price)
    return q.QueryEstimateRequiredBondResponse(bond=str(bond), gas_cap=tier.cap)


def estimate_cost(ctx: Context, req: q.QueryEstimateCostRequest) -> q.QueryEstimateCostResponse:
    """What one execution of a task with ``gas_limit`` costs at the params' gas price."""
    try:
        tier = keeper.tier_of(req.gas_limit)
    except AppError as err:
        raise QUERY_INVALID(err.message) from err
    if req.target_block and req.target_block <= ctx.height:
        raise QUERY_INVALID(f"target_block {req.target_block} must be after block {ctx.height}")
    cost = tier.cap * keeper.params_gas_price(ctx)
    return q.QueryEstimateCostResponse(cost=str(cost), gas_cap=tier.cap, tier=tier.name)


def get_account_nonce(ctx: Context, req: q.QueryGetAccountNonceRequest) -> q.QueryGetAccountNonceResponse:
    """The nonce the account's next task must carry."""
    return q.QueryGetAccountNonceResponse(nonce=keeper.get_nonce(ctx, from_bech32(req.account, "account")))


def get_next_execution_blocks(
    ctx: Context, req: q.QueryGetNextExecutionBlocksRequest
) -> q.QueryGetNextExecutionBlocksResponse:
    """Next blocks of the account's tasks named by hash (NOT_FOUND for a hash the account does not own)."""
    blocks = []
    for text in _hashes(list(req.task_hashes)):
        info = _info(ctx, text)
        if info.definition.task.from_address != req.account:
            raise QUERY_NOT_FOUND(f"task {text} is not a task of {req.account}")
        blocks.append(_next_block(info))
    return q.QueryGetNextExecutionBlocksResponse(blocks=blocks)


def get_account_tasks_with_blocks(
    ctx: Context, req: q.QueryGetAccountTasksWithBlocksRequest
) -> q.QueryGetAccountTasksWithBlocksResponse:
    """One page of the account's tasks with their next blocks (0 when not scheduled)."""
    hashes, page = _owner_tasks(ctx, req.account, req.pagination)
    out = q.QueryGetAccountTasksWithBlocksResponse(pagination=page.response)
    for hash_ in hashes:
        info = keeper.get_task(ctx, hash_)
        out.task_hashes.append(hash_.hex())
        out.blocks.append(_next_block(info) if info is not None else 0)
    return out


def get_next_blocks_for_tasks(
    ctx: Context, req: q.QueryGetNextBlocksForTasksRequest
) -> q.QueryGetNextBlocksForTasksResponse:
    """Next block of each task (0 for completed, cancelled or inactive ones)."""
    hashes = _hashes(list(req.task_hashes))
    return q.QueryGetNextBlocksForTasksResponse(blocks=[_next_block(_info(ctx, h)) for h in hashes])


def params(ctx: Context, req: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """The module params."""
    return q.QueryParamsResponse(params=keeper.get_params(ctx))


def get_task_cancellers(
    ctx: Context, req: q.QueryGetTaskCancellersRequest
) -> q.QueryGetTaskCancellersResponse:
    """One page of the accounts allowed to cancel this one task, in address order."""
    info = _info(ctx, req.task_hash)
    prefix = CANCELLER_PREFIX + bytes.fromhex(info.task_hash)
    page = paginate(ctx.store(STORE), req.pagination, prefix)
    return q.QueryGetTaskCancellersResponse(
        cancellers=[to_bech32(key[len(prefix) :]) for key in page.keys], pagination=page.response
    )


def get_task_runs(ctx: Context, req: q.QueryGetTaskRunsRequest) -> q.QueryGetTaskRunsResponse:
    """One page of the task's kept runs (its last ``params.run_history_size``), oldest first.

    NOT_FOUND for an unknown task; a known task that never ran (or a chain keeping no history) has
    none. ``pagination.reverse`` pages from the newest run.
    """
    info = _info(ctx, req.task_hash)
    prefix = run_prefix(bytes.fromhex(info.task_hash))
    page = paginate(ctx.store(STORE), req.pagination, prefix)
    return q.QueryGetTaskRunsResponse(
        runs=[types_pb2.TaskRun.FromString(value) for _, value in page.items], pagination=page.response
    )


def _route(method: str, req: type, resp: type, handler: object) -> QueryRoute:
    return QueryRoute(SERVICE, method, req, resp, handler)  # type: ignore[arg-type]


ROUTES = (
    _route(
        "GetAccountTasks", q.QueryGetAccountTasksRequest, q.QueryGetAccountTasksResponse, get_account_tasks
    ),
    _route("GetTaskInfo", q.QueryGetTaskInfoRequest, q.QueryGetTaskInfoResponse, get_task_info),
    _route(
        "GetTasksInRange", q.QueryGetTasksInRangeRequest, q.QueryGetTasksInRangeResponse, get_tasks_in_range
    ),
    _route(
        "GetNextExecutionBlockInRange",
        q.QueryGetNextExecutionBlockInRangeRequest,
        q.QueryGetNextExecutionBlockInRangeResponse,
        get_next_execution_block_in_range,
    ),
    _route(
        "EstimateRequiredBond",
        q.QueryEstimateRequiredBondRequest,
        q.QueryEstimateRequiredBondResponse,
        estimate_required_bond,
    ),
    _route("EstimateCost", q.QueryEstimateCostRequest, q.QueryEstimateCostResponse, estimate_cost),
    _route(
        "GetAccountNonce", q.QueryGetAccountNonceRequest, q.QueryGetAccountNonceResponse, get_account_nonce
    ),
    _route(
        "GetNextExecutionBlocks",
        q.QueryGetNextExecutionBlocksRequest,
        q.QueryGetNextExecutionBlocksResponse,
        get_next_execution_blocks,
    ),
    _route(
        "GetAccountTasksWithBlocks",
        q.QueryGetAccountTasksWithBlocksRequest,
        q.QueryGetAccountTasksWithBlocksResponse,
        get_account_tasks_with_blocks,
    ),
    _route(
        "GetNextBlocksForTasks",
        q.QueryGetNextBlocksForTasksRequest,
        q.QueryGetNextBlocksForTasksResponse,
        get_next_blocks_for_tasks,
    ),
    _route("Params", q.QueryParamsRequest, q.QueryParamsResponse, params),
    _route(
        "GetTaskCancellers",
        q.QueryGetTaskCancellersRequest,
        q.QueryGetTaskCancellersResponse,
        get_task_cancellers,
    ),
    _route("GetTaskRuns", q.QueryGetTaskRunsRequest, q.QueryGetTaskRunsResponse, get_task_runs),
)
