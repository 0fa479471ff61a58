"""``taskmaster query taskmaster tasks|task``: the built-in task monitor."""

from __future__ import annotations

import argparse

from taskmaster.taskmaster.v1 import taskmaster_pb2

from abci_app.cli_pages import add_page_flags, show_page
from abci_app.cli_support import CommandGroups, show

SERVICE = "taskmaster.taskmaster.v1.Query"


def cmd_tasks(args: argparse.Namespace) -> None:
    show_page(args, SERVICE, "Tasks", taskmaster_pb2.QueryTasksRequest(), taskmaster_pb2.QueryTasksResponse)


def cmd_task(args: argparse.Namespace) -> None:
    request = taskmaster_pb2.QueryTaskRequest(name=args.name)
    show(args, SERVICE, "Task", request, taskmaster_pb2.QueryTaskResponse)


def register(groups: CommandGroups) -> None:
    """Add the built-in task monitor's queries."""
    q = groups.add(groups.query, "taskmaster", lambda a: None, "built-in task monitor").add_subparsers(
        dest="action", required=True
    )
    add_page_flags(groups.add(q, "tasks", cmd_tasks, "status of every built-in task"))
    groups.add(q, "task", cmd_task, "status of one built-in task").add_argument("name")
