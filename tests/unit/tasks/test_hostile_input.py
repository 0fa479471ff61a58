"""The tasks module against hostile input: padded or oversized task data, numbers of any length,
unbounded queries and bookkeeping that raises. Each behaviour fails with its code, never the node."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import query_pb2 as q
from taskmaster.tasks.v1 import tx_pb2

from abci_app.modules.pagination import MAX_LIMIT, PageRequest
from abci_app.modules.tasks import keeper, queries
from abci_app.tx.address import from_bech32
from tests.unit.tasks.task_chain import TaskChain, definition, put, schedule_msg, start, task_hash_of

QUERY_INVALID = 2  # codespace "query"


@pytest.fixture
def tc(tmp_path: Path) -> TaskChain:
    return start(str(tmp_path / "db"))


@pytest.fixture(params=[0, 4300], ids=["unlimited-int-digits", "default-int-digits"])
def int_digits(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under two ``int_max_str_digits`` settings: the results must not differ."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(request.param)
    try:
        yield request.param
    finally:
        sys.set_int_max_str_digits(before)


def _padded(data: bytes, unknown: int) -> bytes:
    """``data`` followed by an unknown length-delimited field 15 of ``unknown`` bytes."""
    size, length = unknown, b""
    while True:
        byte = size & 0x7F
        size >>= 7
        length += bytes((byte | (0x80 if size else 0),))
        if not size:
            return data + b"\x7a" + length + b"\x00" * unknown


def _schedule_result(tc: TaskChain, call: tuple[str, bytes], **kw: object) -> tuple[int, str]:
    owner = tc.addr("user0")
    d = definition(owner, call, tc.nonce("user0"), tc.height + 5, **kw)  # type: ignore[arg-type]
    result = tc.run("user0", schedule_msg(d), gas=5_000_000)
    return result.code, result.log


# -- task data ----------------------------------------------------------------------------------------------


def test_task_data_with_unknown_fields_is_refused_as_non_canonical(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    target, data = put(owner, b"k", b"v")
    code, log = _schedule_result(tc, (target, _padded(data, 100)), gas=750_000)
    assert code == 28 and "canonical encoding of a /taskmaster.kv.v1.MsgPut" in log
    assert tc.nonce("user0") == 0 and keeper.owner_tasks(tc.ctx(), from_bech32(owner)) == []


def test_task_data_above_the_size_limit_is_refused_before_it_is_decoded(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    target, data = put(owner, b"k", b"v")
    code, log = _schedule_result(tc, (target, _padded(data, 240_000)), gas=750_000)
    assert code == 29 and f"at most {keeper.MAX_TASK_DATA_BYTES} bytes" in log


def test_data_that_does_not_decode_names_its_size_without_parser_text(tc: TaskChain) -> None:
    code, log = _schedule_result(tc, ("/taskmaster.kv.v1.MsgPut", b"\xff\xff"))
    assert code == 10 and "data (2 bytes) does not decode as a /taskmaster.kv.v1.MsgPut" in log


def test_small_tier_refuses_a_task_whose_bytes_its_cap_cannot_pay(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    code, log = _schedule_result(tc, put(owner, b"k", b"x" * 3000), gas=50_000)
    assert code == 2 and "raise gas to the medium tier" in log


def test_each_execution_consumes_gas_for_the_task_bytes(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"x" * 3000), 0, 4, gas=250_000)
    result = tc.run("user0", schedule_msg(d))
    assert result.code == 0, result.log
    tc.advance_to(4)
    info = tc.info(task_hash_of(result))
    assert info.metrics.success_count == 1
    # the record's bytes at 36 gas each, then the kv write of 3,000 bytes at 30 gas each
    assert info.metrics.total_gas_used >= keeper.task_byte_gas(d.task) + 30 * 3000
    assert keeper.task_byte_gas(d.task) >= 36 * 3000


@pytest.mark.parametrize("environment", ["", "basic", "rescheduling"])
def test_task_byte_gas_is_36_per_byte_of_the_stored_tasks_canonical_encoding(
    tc: TaskChain, environment: str
) -> None:
    from abci_app.canonical import canonical_bytes

    owner = tc.addr("user0")
    task = definition(owner, put(owner, b"k", b"x" * 700), 9, 10, environment=environment).task
    stored = keeper.stored_task(task)
    assert stored.environment == (environment or "basic")
    assert keeper.task_byte_gas(task) == 36 * len(canonical_bytes(stored))


def test_estimate_required_bond_refuses_what_schedule_refuses_and_matches_its_bond(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    target, data = put(owner, b"k", b"v")
    bad = definition(owner, (target, _padded(data, 10)), 0, 10, gas=750_000)
    code, log = tc.query(
        "EstimateRequiredBond",
        q.QueryEstimateRequiredBondRequest(definition=bad),
        q.QueryEstimateRequiredBondResponse,
    )
    assert code == QUERY_INVALID and "canonical" in log
    good = definition(owner, put(owner, b"k", b"x" * 2000), 0, 10, gas=200_000, interval=2, executions=3)
    code, estimate = tc.query(
        "EstimateRequiredBond",
        q.QueryEstimateRequiredBondRequest(definition=good, gas_price="7"),
        q.QueryEstimateRequiredBondResponse,
    )
    assert code == 0, estimate
    result = tc.run("user0", schedule_msg(good, gas_price="7"))
    assert result.code == 0, result.log
    assert tc.info(task_hash_of(result)).metrics.bond_remaining == estimate.bond


# -- numbers from outside -----------------------------------------------------------------------------------


def test_gas_price_of_5000_digits_is_an_invalid_gas_price_under_any_int_digit_limit(
    tc: TaskChain, int_digits: int
) -> None:
    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"v"), 0, 10)
    result = tc.run("user0", schedule_msg(d, gas_price="9" * 5000))
    assert (result.codespace, result.code) == ("tasks", 22), result.log
    assert "at most 39 digits" in result.log and len(result.log) < 400


def test_gas_price_of_2_to_the_128_is_out_of_range(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    d = definition(owner, put(owner, b"k", b"v"), 0, 10)
    result = tc.run("user0", schedule_msg(d, gas_price=str(2**128)))
    assert (result.codespace, result.code) == ("tasks", 22) and "between" in result.log


def test_estimate_required_bond_with_a_5000_digit_gas_price_answers_query_invalid(
    tc: TaskChain, int_digits: int
) -> None:
    owner = tc.addr("user0")
    request = q.QueryEstimateRequiredBondRequest(
        definition=definition(owner, put(owner, b"k", b"v"), 0, 10), gas_price="1" * 5000
    )
    code, log = tc.query("EstimateRequiredBond", request, q.QueryEstimateRequiredBondResponse)
    assert code == QUERY_INVALID and "gas_price" in log


def test_bond_amount_of_5000_digits_is_an_invalid_amount(tc: TaskChain, int_digits: int) -> None:
    owner = tc.addr("user0")
    h = task_hash_of(tc.run("user0", schedule_msg(definition(owner, put(owner, b"k", b"v"), 0, 20))))
    result = tc.run("user0", tx_pb2.MsgBondTask(sender=owner, task_hash=h, amount="5" * 5000))
    assert (result.codespace, result.code) == ("tasks", 21), result.log


def test_exhausted_task_nonce_is_a_wrong_nonce(tmp_path: Path) -> None:
    from tests.unit.tasks.task_chain import TEST_PARAMS

    probe = start(str(tmp_path / "probe"))
    owner = probe.addr("user0")
    genesis = {"params": TEST_PARAMS, "nonces": [{"account": owner, "nonce": str(2**64 - 1)}]}
    tc = start(str(tmp_path / "db"), genesis)
    d = definition(owner, put(owner, b"k", b"v"), 2**64 - 1, 10)
    result = tc.run("user0", schedule_msg(d))
    assert (result.codespace, result.code) == ("tasks", 6) and "exhausted" in result.log


# -- bounded queries ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start_block", "end_block", "limit", "needle"),
    [
        (0, queries.MAX_RANGE_BLOCKS, 0, "spans"),
        (0, 2**64 - 1, 0, "spans"),
        (5, 4, 0, "after end"),
        (0, 10, MAX_LIMIT + 1, "limit"),
    ],
)
def test_tasks_in_range_beyond_its_limits_is_query_invalid(
    tc: TaskChain, start_block: int, end_block: int, limit: int, needle: str
) -> None:
    request = q.QueryGetTasksInRangeRequest(
        start=start_block, end=end_block, pagination=PageRequest(limit=limit)
    )
    code, log = tc.query("GetTasksInRange", request, q.QueryGetTasksInRangeResponse)
    assert code == QUERY_INVALID and needle in log


def test_tasks_in_range_at_its_limits_answers(tc: TaskChain) -> None:
    for start_block, end_block in [
        (1, queries.MAX_RANGE_BLOCKS),
        (2**64 - queries.MAX_RANGE_BLOCKS, 2**64 - 1),
    ]:
        request = q.QueryGetTasksInRangeRequest(
            start=start_block, end=end_block, pagination=PageRequest(limit=MAX_LIMIT)
        )
        code, response = tc.query("GetTasksInRange", request, q.QueryGetTasksInRangeResponse)
        assert code == 0 and list(response.tasks) == [] and response.pagination.next_key == b""


def test_queries_naming_too_many_hashes_are_query_invalid(tc: TaskChain) -> None:
    hashes = ["ab" * 32] * (queries.MAX_REQUEST_HASHES + 1)
    code, log = tc.query(
        "GetNextBlocksForTasks",
        q.QueryGetNextBlocksForTasksRequest(task_hashes=hashes),
        q.QueryGetNextBlocksForTasksResponse,
    )
    assert code == QUERY_INVALID and f"at most {queries.MAX_REQUEST_HASHES}" in log
    code, log = tc.query(
        "GetNextExecutionBlocks",
        q.QueryGetNextExecutionBlocksRequest(account=tc.addr("user0"), task_hashes=hashes),
        q.QueryGetNextExecutionBlocksResponse,
    )
    assert code == QUERY_INVALID


def test_account_listing_beyond_its_page_size_says_where_the_next_page_starts(tc: TaskChain) -> None:
    owner = tc.addr("user0")
    msgs = [schedule_msg(definition(owner, put(owner, b"k%d" % i, b"v"), i, 30)) for i in range(3)]
    assert tc.block([tc.tx("user0", msgs)]).tx_results[0].code == 0
    hashes = [h.hex() for h in keeper.owner_tasks(tc.ctx(), from_bech32(owner))]
    for method, request, response in [
        ("GetAccountTasks", q.QueryGetAccountTasksRequest, q.QueryGetAccountTasksResponse),
        (
            "GetAccountTasksWithBlocks",
            q.QueryGetAccountTasksWithBlocksRequest,
            q.QueryGetAccountTasksWithBlocksResponse,
        ),
    ]:
        code, page = tc.query(method, request(account=owner), response)
        assert code == 0 and list(page.task_hashes) == hashes and page.pagination.next_key == b""
        code, page = tc.query(method, request(account=owner, pagination=PageRequest(limit=2)), response)
        assert code == 0 and list(page.task_hashes) == hashes[:2]
        assert page.pagination.next_key == bytes.fromhex(hashes[2])
    code, log = tc.query(
        "GetAccountTasks",
        q.QueryGetAccountTasksRequest(account=owner, pagination=PageRequest(limit=MAX_LIMIT + 1)),
        q.QueryGetAccountTasksResponse,
    )
    assert code == QUERY_INVALID and f"above the maximum {MAX_LIMIT}" in log


# -- exceptions ---------------------------------------------------------------------------------------------


def test_exception_in_task_bookkeeping_fails_that_task_and_not_the_block(
    tc: TaskChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = tc.addr("user0")
    msgs = [schedule_msg(definition(owner, put(owner, b"k%d" % i, b"v"), i, 4)) for i in range(2)]
    assert tc.block([tc.tx("user0", msgs)]).tx_results[0].code == 0
    hashes = [h.hex() for h in keeper.owner_tasks(tc.ctx(), from_bech32(owner))]
    real_refund = keeper.refund

    def refund(ctx: object, info: object) -> int:
        if getattr(info, "task_hash", "") == hashes[0]:
            raise ZeroDivisionError("bug at 0x7f00deadbeef")
        return real_refund(ctx, info)  # type: ignore[arg-type]

    monkeypatch.setattr(keeper, "refund", refund)
    tc.advance_to(4)  # checks the invariants after the block: bonds still match the module account
    broken, fine = tc.info(hashes[0]), tc.info(hashes[1])
    assert broken.status == keeper.INACTIVE and broken.inactive_reason == "internal: ZeroDivisionError"
    broken_key = kv_pb2.MsgPut.FromString(broken.definition.task.data).key
    fine_key = kv_pb2.MsgPut.FromString(fine.definition.task.data).key
    assert broken.metrics.bond_remaining == "100000" and tc.kv("user0", broken_key) is None  # rolled back
    assert fine.status == keeper.COMPLETED and tc.kv("user0", fine_key) == b"v"
    aborted = tc.events(4, "TaskExecutionAborted")
    assert aborted == [{"task_id": hashes[0], "block": "4", "error": "internal: ZeroDivisionError"}]
    assert tc.events(4, "TasksExecuted")[0]["executed"] == "1"
