"""Wasm code and wasm tasks block by block: upload, queries, execution, allowances, failures, determinism."""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from taskmaster.tasks.v1 import tx_pb2, types_pb2
from taskmaster.wasm.v1 import wasm_pb2
from tendermint.abci import types_pb2 as abci
from wasmtime import InstancePre, WasmtimeError

from abci_app.app import SIMULATE_GAS_LIMIT
from abci_app.client import SIMULATE_PATH
from abci_app.errors import NodeFault
from abci_app.modules.auth import keeper as auth
from abci_app.modules.kv import keeper as kv
from abci_app.modules.tasks import keeper as tasks
from abci_app.modules.wasm import abi, runtime
from abci_app.modules.wasm import keeper as wasm
from abci_app.tx.address import from_bech32, to_bech32
from tests.app.wasm_driver import LOOP, TRAP, WasmChain, order_data, prices, response_of, scenario
from tests.unit.wasm.wasm_sandbox import example, module

ROOT = Path(__file__).resolve().parents[2]
SMALL = 100_000  # small tier cap x gas price 1


@pytest.fixture
def wc(tmp_path: Path) -> Iterator[WasmChain]:
    chain = WasmChain.start(str(tmp_path / "db"))
    chain.block()
    yield chain
    chain.chain.app.close()


def advance_to(wc: WasmChain, height: int) -> None:
    while wc.height < height:
        wc.block()


def test_store_code_returns_the_sha256_and_the_code_is_queryable(wc: WasmChain) -> None:
    wasm_bytes = example("counter")
    code_id = wc.store_code(0, wasm_bytes)
    assert code_id == hashlib.sha256(wasm_bytes).hexdigest()
    code, _, raw = wc.query(
        "/taskmaster.wasm.v1.Query/Code",
        wasm_pb2.QueryCodeRequest(code_id=code_id),
        wasm_pb2.QueryCodeResponse,
    )
    info = wasm_pb2.QueryCodeResponse.FromString(raw).info
    assert code == 0 and info.uploader == wc.owner(0) and info.size == len(wasm_bytes)
    assert list(info.imports) == ["kv_get", "kv_set", "set_return"] and info.height == wc.height
    code, _, raw = wc.query(
        "/taskmaster.wasm.v1.Query/CodesByUploader",
        wasm_pb2.QueryCodesByUploaderRequest(uploader=wc.owner(0)),
        wasm_pb2.QueryCodesByUploaderResponse,
    )
    assert [c.code_id for c in wasm_pb2.QueryCodesByUploaderResponse.FromString(raw).codes] == [code_id]
    stored = [e for e in wc.results[wc.height].tx_results[-1].events if e.type == "CodeStored"]
    assert [(a.key, a.value) for a in stored[0].attributes] == [
        ("code_id", code_id),
        ("uploader", wc.owner(0)),
        ("size", str(len(wasm_bytes))),
        ("new", "true"),
        ("msg_index", "0"),  # the SDK's: every event of a message's handler names the message
    ]


def upload_gas(wc: WasmChain, wasm_bytes: bytes) -> int:
    """Gas used by a tx storing ``wasm_bytes``, less its size cost (the tx carries the bytes)."""
    tx = wc.tx(0, [wasm_pb2.MsgStoreCode(sender=wc.owner(0), wasm=wasm_bytes)])
    result = wc.block([tx]).tx_results[-1]
    assert result.code == 0, result.log
    return result.gas_used - auth.get_params(wc.ctx()).gas_per_tx_byte * len(tx)


def test_storing_code_costs_gas_per_byte(wc: WasmChain) -> None:
    upload_gas(wc, module("(i32.const 1)"))  # the account's first tx costs more: not compared
    small_module = module("(i32.const 0)")
    big_module = module("(i32.const 0)", extra=f'(data (i32.const 0) "{"x" * 2000}")')
    small, big = upload_gas(wc, small_module), upload_gas(wc, big_module)
    assert wasm.DEFAULT_PARAMS.store_gas_per_byte == 500
    per_byte = wasm.DEFAULT_PARAMS.store_gas_per_byte + 30  # validation and compilation, the store write
    extra = big - small - per_byte * (len(big_module) - len(small_module))
    assert 0 <= extra <= 60  # CodeInfo.size takes a byte more


def test_storing_code_costs_gas_per_function_it_defines(wc: WasmChain) -> None:
    upload_gas(wc, module("(i32.const 1)"))
    one = module("(i32.const 0)", extra="(func $a (i64.const 1) (drop))")
    two = module("(i32.const 0)", extra="(func $a (i64.const 1) (drop)) (func $b (i64.const 2) (drop))")
    first, second = upload_gas(wc, one), upload_gas(wc, two)
    per_byte = wasm.DEFAULT_PARAMS.store_gas_per_byte + 30
    assert second - first == per_byte * (len(two) - len(one)) + abi.COMPILE_GAS_PER_FUNCTION


def test_an_upload_compiles_the_module_so_its_first_execution_does_not(
    wc: WasmChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.clear_cache()
    code_id = wc.store_code(0, example("counter"))
    assert runtime.cached(bytes.fromhex(code_id))

    def no_compiling(*args: object) -> None:
        raise AssertionError("compiled at execution")

    monkeypatch.setattr(runtime, "Module", no_compiling)
    h = wc.schedule(0, wc.wasm_task(0, code_id, wc.height + 2))
    advance_to(wc, wc.height + 1)
    assert wc.events(wc.height, "TaskExecuted")[0]["success"] == "true"
    assert wc.info(h).status == tasks.COMPLETED


def test_an_upload_compiles_nothing_in_check_tx_and_its_block_writes_the_disk_cache(
    wc: WasmChain, tmp_path: Path
) -> None:
    wasm_bytes = example("limit_order")
    code_id = hashlib.sha256(wasm_bytes).digest()
    runtime.clear_cache()
    runtime.use_artifact_dir(tmp_path / "wasm-cache")
    try:
        tx = wc.tx(0, [wasm_pb2.MsgStoreCode(sender=wc.owner(0), wasm=wasm_bytes)])
        checked = wc.chain.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.NEW))
        assert checked.code == 0 and not runtime.cached(code_id)  # CheckTx runs no message
        assert not list((tmp_path / "wasm-cache").glob("*/*"))  # a tx that may never land: no file
        assert wc.block([tx]).tx_results[-1].code == 0
        assert runtime.cached(code_id)
        assert [p.name for p in (tmp_path / "wasm-cache").glob("*/*")] == [f"{code_id.hex()}.cwasm"]
    finally:
        runtime.use_artifact_dir(None)


def test_the_same_code_stored_again_keeps_one_copy_and_lists_the_second_uploader(wc: WasmChain) -> None:
    first = wc.store_code(0, example("counter"))
    assert wc.store_code(1, example("counter")) == first
    info = wasm.code_info(wc.ctx(), bytes.fromhex(first))
    assert info is not None and info.uploader == wc.owner(0)
    assert wasm.codes_of(wc.ctx(), from_bech32(wc.owner(1)), 10) == [bytes.fromhex(first)]


@pytest.mark.parametrize(
    "wasm_bytes",
    [
        b"\x00asm\x01\x00\x00\x00\x07",
        module("(drop (f32.const 1)) (i32.const 0)"),
        # inside the subset but ill-typed (execute returns nothing): only wasmtime's compilation refuses it
        bytes.fromhex(
            "0061736d0100000001050160 00017f 03020100 070b0107657865637574650000 0a0401020000".replace(
                " ", ""
            )
        ),
    ],
)
def test_an_invalid_module_is_refused_with_nothing_stored(wc: WasmChain, wasm_bytes: bytes) -> None:
    result = wc.run(0, [wasm_pb2.MsgStoreCode(sender=wc.owner(0), wasm=wasm_bytes)])
    assert (result.codespace, result.code) == ("wasm", 2)
    assert wasm.code_info(wc.ctx(), hashlib.sha256(wasm_bytes).digest()) is None
    assert wasm.codes_of(wc.ctx(), from_bech32(wc.owner(0)), 10) == []


def test_code_queries_refuse_bad_ids_and_answer_not_found(wc: WasmChain) -> None:
    path = "/taskmaster.wasm.v1.Query/Code"
    assert wc.query(path, wasm_pb2.QueryCodeRequest(code_id="xyz"), wasm_pb2.QueryCodeResponse)[0] == 2
    assert wc.query(path, wasm_pb2.QueryCodeRequest(code_id="ab" * 32), wasm_pb2.QueryCodeResponse)[0] == 1


def test_a_recurring_counter_task_runs_its_module_at_each_execution(wc: WasmChain) -> None:
    code_id = wc.store_code(0, example("counter"))
    h = wc.schedule(0, wc.wasm_task(0, code_id, wc.height + 3, interval=2, executions=3))
    ran = []
    for _ in range(8):
        wc.block()
        for e in wc.events(wc.height, "TaskExecuted"):
            assert e["task_id"] == h and e["success"] == "true", e
            ran.append(int.from_bytes(bytes.fromhex(e["return_data"]), "little"))
    assert ran == [1, 2, 3]
    assert kv.get(wc.ctx(), from_bech32(wc.owner(0)), b"count") == (3).to_bytes(8, "little")
    assert wc.info(h).status == tasks.COMPLETED


def test_an_infinite_loop_fails_out_of_fuel_is_charged_and_the_block_goes_on(wc: WasmChain) -> None:
    loop_id, counter_id = wc.store_code(0, LOOP), wc.store_code(0, example("counter"))
    start = wc.height + 3
    nonce = wc.nonce(0)
    looping = wc.schedule(0, wc.wasm_task(0, loop_id, start, nonce=nonce))
    counting = wc.schedule(0, wc.wasm_task(0, counter_id, start, nonce=nonce + 1))
    while wc.height < start:
        wc.block()
    executed = {e["task_id"]: e for e in wc.events(start, "TaskExecuted")}
    assert executed[looping]["success"] == "false" and executed[looping]["error"].startswith("out of fuel")
    assert executed[counting]["success"] == "true"
    info = wc.info(looping)
    assert info.metrics.bond_remaining == "0" and info.metrics.fees_paid == str(SMALL)
    assert int(executed[looping]["gas_used"]) == SMALL


def test_a_trapping_module_fails_and_leaves_its_writes_undone(wc: WasmChain) -> None:
    body = "(call $kv_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)) (unreachable)"
    from tests.unit.wasm.wasm_sandbox import imp

    code_id = wc.store_code(0, module(body, imp("kv_set")))
    start = wc.height + 3
    h = wc.schedule(0, wc.wasm_task(0, code_id, start))
    advance_to(wc, start)
    (executed,) = [e for e in wc.events(start, "TaskExecuted") if e["task_id"] == h]
    assert executed["error"] == "wasm trap: the module trapped: unreachable"
    assert kv.get(wc.ctx(), from_bech32(wc.owner(0)), b"\x00") is None
    assert TRAP  # the driver's trapping module, used by the determinism scenario


def test_the_limit_order_sends_from_its_allowance_when_the_price_is_below_its_limit(wc: WasmChain) -> None:
    code_id = wc.store_code(0, example("limit_order"))
    recipient = to_bech32(b"\x42" * 20)
    data = order_data(59_000, 700, recipient)
    start = wc.height + 3
    h = wc.schedule(0, wc.wasm_task(0, code_id, start, data=data, interval=2, executions=3), "1000")
    assert wc.info(h).allowance_remaining == "1000"
    advance_to(wc, start)  # first execution: the price is 60,000, not below the limit
    assert wc.events(wc.height, "TaskExecuted")[0]["return_data"] == b"waiting".hex()
    wc.report = prices(58_000)  # reported in the next block's votes, written by the block after
    advance_to(wc, start + 2)  # second execution: fills
    executed = wc.events(wc.height, "TaskExecuted")[0]
    assert executed["return_data"] == b"filled".hex()
    assert wc.events(wc.height, "TaskWasmSend") == [{"task_id": h, "recipient": recipient, "amount": "700"}]
    assert wc.balance(recipient) == 700 and wc.info(h).allowance_remaining == "300"
    advance_to(wc, start + 4)  # third execution: 700 > 300 left, fails with nothing sent
    executed = wc.events(wc.height, "TaskExecuted")[0]
    assert executed["success"] == "false" and executed["error"].startswith("send allowance exceeded")
    info = wc.info(h)
    assert wc.balance(recipient) == 700 and info.status == tasks.COMPLETED
    assert info.allowance_remaining == "0"  # the rest went back to the owner at completion


def test_cancelling_a_wasm_task_refunds_bond_and_allowance(wc: WasmChain) -> None:
    code_id = wc.store_code(1, example("limit_order"))
    before = wc.balance(wc.owner(1))  # operator 1 is not the proposer: it receives no fees
    h = wc.schedule(1, wc.wasm_task(1, code_id, wc.height + 50), "5000")
    result = wc.run(1, [tx_pb2.MsgCancelTask(sender=wc.owner(1), task_hash=h)])
    assert result.code == 0
    refund = response_of(result, tx_pb2.MsgCancelTaskResponse()).refund
    assert refund == str(SMALL + 5000)
    assert wc.balance(wc.owner(1)) == before - 2 * 200_000  # only the two tx fees are gone


def test_wasm_task_schedule_refusals(wc: WasmChain) -> None:
    code_id = wc.store_code(0, example("counter"))

    def refused(definition: types_pb2.TaskDefinition, allowance: str = "") -> tuple[str, int]:
        msg = tx_pb2.MsgScheduleTask(sender=wc.owner(0), definition=definition, allowance=allowance)
        result = wc.run(0, [msg])
        return result.codespace, result.code

    assert refused(wc.wasm_task(0, "cd" * 32, wc.height + 5)) == ("wasm", 3)  # unknown code
    bad_env = wc.wasm_task(0, code_id, wc.height + 5)
    bad_env.task.environment = "wasm:XYZ"
    assert refused(bad_env) == ("tasks", 9)
    with_target = wc.wasm_task(0, code_id, wc.height + 5)
    with_target.task.target = "/taskmaster.kv.v1.MsgPut"
    assert refused(with_target) == ("tasks", 8)
    basic = wc.wasm_task(0, code_id, wc.height + 5)
    basic.task.environment = "basic"
    basic.task.target = "/taskmaster.kv.v1.MsgDelete"
    from taskmaster.kv.v1 import kv_pb2

    basic.task.data = kv_pb2.MsgDelete(owner=wc.owner(0), key=b"k").SerializeToString()
    assert refused(basic, "10") == ("tasks", 21)  # an allowance only for wasm tasks
    assert refused(wc.wasm_task(0, code_id, wc.height + 5), str(10**30)) == ("tasks", 14)
    assert wc.nonce(0) == 0  # nothing was scheduled


def test_a_wasm_task_can_be_executed_by_msg_execute_task(wc: WasmChain) -> None:
    code_id = wc.store_code(0, example("counter"))
    start = wc.height + 2
    h = wc.schedule(0, wc.wasm_task(0, code_id, start))
    result = wc.run(1, [tx_pb2.MsgExecuteTask(executor=wc.owner(1), task_hash=h)])
    assert result.code == 0, result.log
    response = response_of(result, tx_pb2.MsgExecuteTaskResponse())
    assert response.success and response.return_data == (1).to_bytes(8, "little")


def test_the_determinism_scenario_runs_every_kind_of_outcome(tmp_path: Path) -> None:
    _, outcomes = scenario(str(tmp_path / "db"), cold=False)  # asserts the invariants after every block
    assert len(outcomes) == 4 * 12 * 2
    assert {"ok", "out of fuel", "wasm trap", "send allowance exceeded"} <= set(outcomes)


def _run_driver(
    db: Path, seed: str, cold: bool, address_space: int | None = None, cache: Path | None = None
) -> str:
    """The driver's output in a fresh process; ``address_space`` (bytes) limits it as ``ulimit -v``;
    ``cache`` is its disk cache of compiled modules."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    argv = [sys.executable, "-m", "tests.app.wasm_driver", str(db), *(["--cold"] if cold else [])]
    argv += ["--cache", str(cache)] if cache is not None else []

    def limit() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False, preexec_fn=limit
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_block_of_wasm_tasks_gives_byte_identical_answers_across_processes_seeds_and_caches(
    tmp_path: Path,
) -> None:
    runs = [("0", False), ("4242", True), ("31337", False), ("7", True)]
    outputs = [_run_driver(tmp_path / f"db{i}", seed, cold) for i, (seed, cold) in enumerate(runs)]
    # cold blocks whose modules come from a disk cache: written by the first run, read by the second
    cache = tmp_path / "wasm-cache"
    outputs += [_run_driver(tmp_path / f"disk{i}", "99", True, cache=cache) for i in range(2)]
    assert len(list(cache.glob("*/*.cwasm"))) == 5
    assert len(outputs[0].splitlines()) >= 8
    assert all(out == outputs[0] for out in outputs[1:])


def test_a_node_under_an_address_space_limit_computes_the_same_blocks(tmp_path: Path) -> None:
    # wasmtime's default ~4 GiB reservation per memory made every instantiation fail under
    # `ulimit -v 3000000` (recorded as wasm/10: another app hash); 1 MiB is reserved now
    free = _run_driver(tmp_path / "free", "0", cold=True)
    limited = _run_driver(tmp_path / "limited", "0", cold=True, address_space=1_500_000_000)
    assert len(free.splitlines()) >= 8 and limited == free


def test_a_node_fault_in_a_task_stops_finalize_block_and_records_nothing(
    wc: WasmChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    code_id = wc.store_code(0, example("counter"))
    due = wc.height + 3
    h = wc.schedule(0, wc.wasm_task(0, code_id, due))
    advance_to(wc, due - 1)
    committed = wc.chain.app.store.last_version

    def no_address_space(self: InstancePre, store: object) -> None:
        raise WasmtimeError("failed to mmap: Cannot allocate memory (os error 12)")

    monkeypatch.setattr(InstancePre, "instantiate", no_address_space)
    with pytest.raises(NodeFault):
        wc.block()  # the task is due: its result would depend on this machine
    assert wc.chain.app.store.last_version == committed
    info = wc.info(h)
    assert info.status == tasks.ACTIVE and info.metrics.failure_count == 0 and not info.metrics.last_error


def test_a_node_fault_in_a_simulation_is_answered_with_an_error(
    wc: WasmChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CheckTx runs no message; a simulation runs MsgExecuteAndSchedule's first execution."""
    code_id = wc.store_code(0, example("counter"))
    msg = tx_pb2.MsgExecuteAndSchedule(sender=wc.owner(0), definition=wc.wasm_task(0, code_id, wc.height + 5))

    def no_address_space(self: InstancePre, store: object) -> None:
        raise WasmtimeError("failed to mmap: Cannot allocate memory (os error 12)")

    monkeypatch.setattr(InstancePre, "instantiate", no_address_space)
    tx = wc.tx(0, [msg], gas=SIMULATE_GAS_LIMIT)
    answer = wc.chain.app.query(abci.RequestQuery(path=SIMULATE_PATH, data=tx))
    assert answer.code != 0 and "node logged the cause" in answer.log
    assert wc.chain.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.NEW)).code == 0
