"""A chain holding every kind of state exports to a genesis that validates and starts an identical chain.

The old chain is ``tests/app/every_state.py``'s: tasks of every environment, wasm codes and wasm tasks
with allowances, price triggers waiting, armed, fired and expired, delegations and an unbonding entry,
a jailed validator, oracle history. The new chain starts from the export at the next height and must
answer every query route the router exposes byte-identically (or with the same error) at its start,
hold the same store entries, and export the same document again.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from taskmaster.taskmaster.v1 import taskmaster_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules.taskmaster import keeper as taskmaster
from abci_app.modules.tasks import invariants
from abci_app.node.export import export_app_state, genesis_document, module_states
from abci_app.node.genesis import GenesisError, check_genesis, validate_app_state
from tests.app.every_state import EveryState, build
from tests.app.genesis_queries import requests_for
from tests.app.oracle_driver import CHAIN_ID

PAIRS_OF_ANSWERS = dict[str, list[Any]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, EveryState]:
    db = str(tmp_path_factory.mktemp("every-state") / "db")
    return db, build(db)


@pytest.fixture(scope="module")
def old(built: tuple[str, EveryState]) -> Iterator[Application]:
    app = Application(AppConfig(db_path=built[0]))
    yield app
    app.close()


@pytest.fixture(scope="module")
def exported(old: Application) -> dict[str, Any]:
    return export_app_state(old.store, old.router.modules, old.chain_id, old.store.last_version)


@pytest.fixture(scope="module")
def new(
    old: Application, exported: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Application]:
    """The chain started from the export, continuing at the exported height + 1 (InitChain only)."""
    app = Application(AppConfig(db_path=str(tmp_path_factory.mktemp("new") / "db")))
    app.init_chain(
        abci.RequestInitChain(
            chain_id=CHAIN_ID,
            initial_height=old.store.last_version + 1,
            app_state_bytes=json.dumps(exported).encode(),
            time=Timestamp(seconds=1_700_000_100),
        )
    )
    yield app
    app.close()


def _old_ctx(app: Application) -> Context:
    height = app.store.last_version
    return Context(branch=app.store.branch(height), chain_id=app.chain_id, height=height)


def _start_ctx(app: Application) -> Context:
    """The new chain's state at its start (InitChain's, staged for its first block)."""
    return Context(branch=app._block_branch(), chain_id=app.chain_id, height=app.initial_height - 1)


def _no_pending_round(status: taskmaster_pb2.TaskStatus) -> None:
    status.pending_round = 0  # opened at the exported height; an export drops it (docs/genesis.md)


def _answers(app: Application, ctx: Context, state: dict[str, Any]) -> PAIRS_OF_ANSWERS:
    """Every query route's answers (bytes, or the error) to requests built from the export."""
    out: PAIRS_OF_ANSWERS = {}
    for path, route in sorted(app.router.queries.items()):
        answers: list[Any] = []
        for request in requests_for(route.request_type, state):
            try:
                response = route.handler(ctx, request)
            except AppError as err:
                answers.append((err.codespace, err.code, err.message))
                continue
            if isinstance(response, taskmaster_pb2.QueryTasksResponse):
                for status in response.tasks:
                    _no_pending_round(status)
            if isinstance(response, taskmaster_pb2.QueryTaskResponse):
                _no_pending_round(response.task)
            answers.append(response.SerializeToString(deterministic=True))
        out[path] = answers
    return out


def test_the_export_of_a_chain_with_wasm_and_triggered_tasks_validates(exported: dict[str, Any]) -> None:
    environments = {t["definition"]["task"]["environment"].split(":")[0] for t in exported["tasks"]["tasks"]}
    assert "wasm" in environments
    assert any(t["definition"].get("trigger") for t in exported["tasks"]["tasks"])
    validate_app_state(exported)  # the hand-kept schema refused both (issue 20, finding 4)


def test_the_export_holds_every_kind_of_state(
    built: tuple[str, EveryState], exported: dict[str, Any]
) -> None:
    scenario = built[1]
    tasks = {t["task_hash"]: t for t in exported["tasks"]["tasks"]}
    named = {name: tasks[h] for name, h in scenario.hashes.items()}
    environments = {t["definition"]["task"]["environment"].split(":")[0] for t in tasks.values()}
    assert environments == {"basic", "rescheduling", "minimal", "wasm"}
    assert int(named["wasm order with allowance"]["allowance_remaining"]) > 0
    assert int(named["wasm order with allowance"]["metrics"]["success_count"]) > 0
    assert int(named["rescheduling"]["retries"]) > 0
    assert named["cancelled"]["status"] == "TASK_STATUS_CANCELLED"
    assert named["trigger expired"]["status"] == "TASK_STATUS_COMPLETED"
    for armed in ("trigger armed", "trigger waiting for its start", "trigger fired, in its cooldown"):
        assert named[armed]["status"] == "TASK_STATUS_ACTIVE", armed
    assert int(named["trigger fired, in its cooldown"]["metrics"]["success_count"]) == 1
    assert int(named["trigger fired, armed again"]["metrics"]["success_count"]) >= 2
    assert int(named["trigger armed"]["metrics"]["success_count"]) == 0
    assert exported["tasks"]["task_cancellers"] and exported["tasks"]["environment_cancellers"]
    runs = exported["tasks"]["runs"]  # the run history, failed runs included (docs/tasks.md)
    assert {r["run"]["success"] for r in runs} == {True, False}
    assert {r["task_hash"] for r in runs} >= {named["trigger fired, armed again"]["task_hash"]}
    assert len(exported["wasm"]["codes"]) == len(scenario.codes)
    staking = exported["staking"]
    assert any(d["delegator_address"] != d["validator_address"] for d in staking["delegations"])
    assert staking["unbonding_entries"]
    assert [v["jailed"] for v in staking["validators"]].count(True) == 1
    oracle = exported["oracle"]
    assert oracle["history"] and oracle["miss_counters"] and oracle["round_counts"]
    assert any(r["active"] for r in oracle["jail_records"])
    assert exported["kv"]["entries"] and exported["taskmaster"]["statuses"]


def test_a_chain_started_from_the_export_answers_every_query_byte_identically(
    old: Application, new: Application, exported: dict[str, Any]
) -> None:
    before = _answers(old, _old_ctx(old), exported)
    after = _answers(new, _start_ctx(new), exported)
    assert set(after) == set(new.router.queries) == set(old.router.queries)
    for path in sorted(before):
        assert after[path] == before[path], path
    silent = sorted(path for path, got in before.items() if not any(isinstance(a, bytes) and a for a in got))
    assert silent == [], f"these routes answered nothing to compare: {silent}"


def test_a_chain_started_from_the_export_holds_the_same_store_entries(
    old: Application, new: Application
) -> None:
    before, after = _old_ctx(old), _start_ctx(new)
    for name in old.router.store_names:
        old_entries = list(before.store(name).iterate())
        new_entries = list(after.store(name).iterate())
        if name == taskmaster.STORE:
            old_entries = [
                (k, _dropped_round(v) if k.startswith(taskmaster.STATUS_PREFIX) else v)
                for k, v in old_entries
            ]
        assert new_entries == old_entries, name
    for check in invariants.ALL:
        check(after)


def _dropped_round(raw: bytes) -> bytes:
    status = taskmaster_pb2.TaskStatus.FromString(raw)
    _no_pending_round(status)
    return status.SerializeToString(deterministic=True)


def test_an_export_of_the_new_chain_is_the_export(new: Application, exported: dict[str, Any]) -> None:
    assert module_states(_start_ctx(new), new.router.modules) == exported


def test_the_export_as_a_genesis_document_passes_initchain_on_a_scratch_store(
    old: Application, exported: dict[str, Any]
) -> None:
    document = genesis_document(
        exported,
        chain_id=CHAIN_ID,
        height=old.store.last_version,
        consensus_params={},
        genesis_time="2027-01-01T00:00:00Z",
    )
    check_genesis(document, "export")
    broken = copy.deepcopy(document)
    broken["app_state"]["wasm"]["codes"].append(broken["app_state"]["wasm"]["codes"][0])
    with pytest.raises(
        GenesisError, match=r"export: InitChain refuses it: wasm genesis codes\[2\]: .* listed twice"
    ):
        check_genesis(broken, "export")


def test_validation_follows_the_protos_for_wasm_and_trigger_fields(exported: dict[str, Any]) -> None:
    state = copy.deepcopy(exported)
    index = next(i for i, t in enumerate(state["tasks"]["tasks"]) if t["definition"].get("trigger"))
    trigger = state["tasks"]["tasks"][index]["definition"]["trigger"]
    trigger["direction"] = "DOWN"
    trigger["cooldown"] = "3"
    where = rf"app_state\.tasks\.tasks\[{index}\]\.definition\.trigger"
    with pytest.raises(GenesisError) as refused:
        validate_app_state(state, "g.json")
    message = str(refused.value)
    assert message.startswith(f"g.json: app_state.tasks.tasks[{index}].definition.trigger")
    assert "'DOWN' is not a TriggerDirection; give one of" in message
    assert "unknown field 'cooldown'; did you mean 'cooldown_blocks'?" in message
    with pytest.raises(GenesisError, match=where):
        validate_app_state(state)
