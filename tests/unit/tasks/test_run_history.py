"""A task's run history (docs/tasks.md, "Run history"): recorded per execution, bounded, paged, in genesis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st
from taskmaster.tasks.v1 import query_pb2 as q
from taskmaster.tasks.v1 import types_pb2

from abci_app.cli import main
from abci_app.client import RpcClient
from abci_app.modules import QUERY_NOT_FOUND
from abci_app.modules.pagination import PageRequest
from abci_app.modules.tasks import genesis as tasks_genesis
from abci_app.modules.tasks import keeper
from tests.unit.tasks.task_chain import (
    TEST_PARAMS,
    TaskChain,
    definition,
    put,
    schedule_msg,
    start,
    task_hash_of,
)

SMALL_COST = 100_000  # small tier cap x gas price 1


def _chain(tmp_path: Path, keep: int | None) -> TaskChain:
    params: dict[str, Any] = dict(TEST_PARAMS)
    if keep is not None:
        params["runHistorySize"] = str(keep)
    return start(str(tmp_path / "db"), {"params": params})


def _schedule(tc: TaskChain, call: tuple[str, bytes], start_at: int, **kw: Any) -> str:
    owner = tc.addr("user0")
    result = tc.run("user0", schedule_msg(definition(owner, call, tc.nonce("user0"), start_at, **kw)))
    assert result.code == 0, result.log
    return task_hash_of(result)


def _runs(tc: TaskChain, task_hash: str, **page: Any) -> q.QueryGetTaskRunsResponse:
    code, resp = tc.query(
        "GetTaskRuns",
        q.QueryGetTaskRunsRequest(task_hash=task_hash, pagination=PageRequest(**page)),
        q.QueryGetTaskRunsResponse,
    )
    assert code == 0, resp
    assert isinstance(resp, q.QueryGetTaskRunsResponse)
    return resp


def test_each_execution_is_recorded_with_height_outcome_gas_amount_and_error(tmp_path: Path) -> None:
    tc = _chain(tmp_path, None)  # the default bound
    assert keeper.get_params(tc.ctx()).run_history_size == keeper.DEFAULT_PARAMS.run_history_size == 20
    owner = tc.addr("user0")
    ok = _schedule(tc, put(owner, b"k", b"v"), 3)
    # fails in the target handler (oversized value; medium tier so the task bytes fit its cap)
    bad = _schedule(tc, put(owner, b"k2", b"x" * 5000), 4, gas=250_000)
    assert _runs(tc, ok).runs == []  # scheduled, not run yet
    tc.advance_to(4)
    executor = tc.addr("operator")
    (run,) = _runs(tc, ok).runs
    assert (run.sequence, run.height, run.success, run.error, run.executor) == (1, 3, True, "", executor)
    assert run.amount_paid == str(SMALL_COST)
    assert run.gas_used == int(tc.events(3, "TaskExecuted")[0]["gas_used"]) > 0
    (failed,) = _runs(tc, bad).runs
    assert (failed.height, failed.success) == (4, False)
    assert "invalid value" in failed.error and failed.error == tc.info(bad).metrics.last_error
    assert failed.amount_paid == str(250_000) and failed.gas_used > 0


def test_the_history_keeps_the_last_n_runs_and_pages(tmp_path: Path) -> None:
    tc = _chain(tmp_path, 3)
    h = _schedule(tc, put(tc.addr("user0"), b"k", b"v"), 3, interval=2, executions=6)
    tc.advance_to(13)
    runs = _runs(tc, h).runs
    assert [r.sequence for r in runs] == [4, 5, 6] and [r.height for r in runs] == [9, 11, 13]
    assert tc.info(h).status == keeper.COMPLETED  # ended: its history is kept for queries
    first = _runs(tc, h, limit=2, count_total=True)
    assert [r.sequence for r in first.runs] == [4, 5] and first.pagination.total == 3
    rest = _runs(tc, h, limit=2, key=first.pagination.next_key)
    assert [r.sequence for r in rest.runs] == [6] and rest.pagination.next_key == b""
    newest = _runs(tc, h, limit=1, reverse=True)
    assert [r.sequence for r in newest.runs] == [6]


def test_size_zero_keeps_no_history(tmp_path: Path) -> None:
    tc = _chain(tmp_path, 0)
    h = _schedule(tc, put(tc.addr("user0"), b"k", b"v"), 3)
    tc.advance_to(3)
    assert tc.info(h).metrics.success_count == 1 and _runs(tc, h).runs == []


def test_runs_of_an_unknown_task_is_not_found(tmp_path: Path) -> None:
    tc = _chain(tmp_path, None)
    code, log = tc.query(
        "GetTaskRuns", q.QueryGetTaskRunsRequest(task_hash="ab" * 32), q.QueryGetTaskRunsResponse
    )
    assert code == QUERY_NOT_FOUND.code and "no task" in log


def test_a_size_above_the_maximum_is_refused_at_genesis(tmp_path: Path) -> None:
    params = dict(TEST_PARAMS, runHistorySize=str(keeper.MAX_RUN_HISTORY + 1))
    with pytest.raises(Exception, match="run_history_size 1001 is above 1000"):
        start(str(tmp_path / "db"), {"params": params})


def test_genesis_exports_and_reimports_the_history_and_checks_it(tmp_path: Path) -> None:
    tc = _chain(tmp_path, 2)
    h = _schedule(tc, put(tc.addr("user0"), b"k", b"v"), 3, interval=2, executions=3)
    tc.advance_to(7)
    exported = tasks_genesis.export_genesis(tc.ctx())
    assert [r["run"]["sequence"] for r in exported["runs"]] == ["2", "3"]
    assert {r["task_hash"] for r in exported["runs"]} == {h}

    fresh = start(str(tmp_path / "db2"))  # a chain without tasks: import into a branch of it
    ctx = fresh.ctx()
    tasks_genesis.init_genesis(ctx, json.loads(json.dumps(exported)))
    assert tasks_genesis.export_genesis(ctx) == exported
    assert [r.sequence for r in keeper.runs_of(ctx, bytes.fromhex(h))] == [2, 3]

    def refused(edit: Any, match: str) -> None:
        state = json.loads(json.dumps(exported))
        edit(state)
        with pytest.raises(ValueError, match=match):
            tasks_genesis.init_genesis(fresh.ctx(), state)

    refused(lambda s: s["params"].update(run_history_size="1"), "more than params.run_history_size = 1")
    refused(lambda s: s["runs"].reverse(), "list a task's runs oldest first")
    refused(lambda s: s["runs"][0].update(task_hash="cd" * 32), "no such task")
    refused(lambda s: s["runs"][0]["run"].update(height="0"), "must be a height")


# -- the ring against a list model ---------------------------------------------------------------------

_MODULE_CHAIN: list[TaskChain] = []


def _shared_chain(tmp_path_factory: pytest.TempPathFactory) -> TaskChain:
    if not _MODULE_CHAIN:
        _MODULE_CHAIN.append(_chain(tmp_path_factory.mktemp("ring"), None))
    return _MODULE_CHAIN[0]


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from([b"\x01" * 32, b"\x02" * 32]), st.integers(0, 6)), max_size=40))
def test_record_run_keeps_what_a_list_model_keeps(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[bytes, int]]
) -> None:
    """Any sequence of runs, with the bound changing between them: each task's kept sequences equal
    the model's (append the next number, keep the last ``keep``; an emptied history restarts at 1)."""
    ctx = _shared_chain(tmp_path_factory).ctx()  # a fresh branch each example, never written
    model: dict[bytes, list[int]] = {}
    for height, (hash_, keep) in enumerate(ops, start=1):
        kept = model.get(hash_, [])
        sequence = (kept[-1] if kept else 0) + 1
        kept = [*kept, sequence][-keep:] if keep else []
        model[hash_] = kept
        keeper.record_run(ctx, hash_, types_pb2.TaskRun(height=height, amount_paid="1"), keep)
        for other, want in model.items():
            assert [r.sequence for r in keeper.runs_of(ctx, other)] == want
    for hash_, want in model.items():
        heights = [h for h, (x, _) in enumerate(ops, start=1) if x == hash_]
        # the kept runs are always the newest ones of that task
        assert [r.height for r in keeper.runs_of(ctx, hash_)] == heights[len(heights) - len(want) :]


def test_the_cli_lists_a_tasks_runs_from_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``query tasks runs <hash>`` asks GetTaskRuns with the page flags and prints the node's answer."""
    tc = _chain(tmp_path, 5)
    h = _schedule(tc, put(tc.addr("user0"), b"k", b"v"), 3, interval=2, executions=3)
    tc.advance_to(7)

    def answer(
        self: RpcClient, path: str, request: Message, response_type: type[Message], height: int = 0
    ) -> Message:
        assert path == "/taskmaster.tasks.v1.Query/GetTaskRuns"
        code, resp = tc.query("GetTaskRuns", request, response_type)
        assert code == 0, resp
        return resp  # type: ignore[no-any-return]

    monkeypatch.setattr(RpcClient, "query", answer)
    main(["query", "tasks", "runs", h, "--limit", "2", "--reverse", "--output", "json"])
    printed = json.loads(capsys.readouterr().out)
    assert [(r["sequence"], r["height"], r["success"]) for r in printed["runs"]] == [
        ("3", "7", True),
        ("2", "5", True),
    ]
    assert printed["pagination"]["next_key"]  # one more (the first run)
