"""Task monitoring queries: last run, last result or error, counts, next due block or time."""

from __future__ import annotations

from taskmaster.taskmaster.v1 import taskmaster_pb2

from abci_app.context import Context
from abci_app.modules import QUERY_NOT_FOUND, QueryRoute
from abci_app.modules.pagination import paginate
from abci_app.modules.taskmaster import keeper
from abci_app.modules.taskmaster.keeper import STATUS_PREFIX, STORE

SERVICE = "taskmaster.taskmaster.v1.Query"


def query_tasks(ctx: Context, req: taskmaster_pb2.QueryTasksRequest) -> taskmaster_pb2.QueryTasksResponse:
    """One page of the built-in tasks' statuses, by name."""
    page = paginate(ctx.store(STORE), req.pagination, STATUS_PREFIX)
    return taskmaster_pb2.QueryTasksResponse(
        tasks=[taskmaster_pb2.TaskStatus.FromString(v) for _, v in page.items], pagination=page.response
    )


def query_task(ctx: Context, req: taskmaster_pb2.QueryTaskRequest) -> taskmaster_pb2.QueryTaskResponse:
    """One task's status; NOT_FOUND for an unknown name."""
    record = keeper.status(ctx, req.name)
    if record is None:
        raise QUERY_NOT_FOUND(f"no built-in task named {req.name!r}")
    return taskmaster_pb2.QueryTaskResponse(task=record)


ROUTES = (
    QueryRoute(
        SERVICE, "Tasks", taskmaster_pb2.QueryTasksRequest, taskmaster_pb2.QueryTasksResponse, query_tasks
    ),
    QueryRoute(
        SERVICE, "Task", taskmaster_pb2.QueryTaskRequest, taskmaster_pb2.QueryTaskResponse, query_task
    ),
)
