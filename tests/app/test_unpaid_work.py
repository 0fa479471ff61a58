"""No input makes a node do costly work nobody pays for (issue 20, finding 1).

CheckTx runs decoding and the ante checks only, as the Cosmos SDK does; messages run in blocks, where a
failing tx pays its fee. ``/app/simulate`` runs messages for free, so it is bounded by a node-local gas
limit and never compiles an upload. A compiled upload is cached only when its tx succeeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from taskmaster.bank.v1 import bank_pb2
from taskmaster.wasm.v1 import wasm_pb2
from tendermint.abci import types_pb2 as abci
from wasmtime import Module

from abci_app.app import SIMULATE_GAS_LIMIT
from abci_app.client import SIMULATE_PATH
from abci_app.errors import (
    INSUFFICIENT_FEE_FUNDS,
    INVALID_REQUEST,
    OUT_OF_GAS,
    TX_TOO_LARGE,
    WRONG_SEQUENCE,
    AppError,
)
from abci_app.modules.auth import keeper as auth
from abci_app.modules.bank.keeper import INSUFFICIENT_FUNDS
from abci_app.modules.wasm import keeper as wasm
from abci_app.modules.wasm import runtime
from abci_app.modules.wasm.errors import NOT_COMPILED
from abci_app.tx.address import from_bech32
from benchmarks.wasm_shapes import locals_in_nested_loops
from tests.app.driver import Chain, address_of, seeded_key
from tests.app.wasm_driver import WasmChain
from tests.unit.wasm.wasm_sandbox import example

COSTLY = locals_in_nested_loops()  # the costliest accepted shape found, ~128 KB (benchmarks/wasm_shapes.py)
UPLOAD_GAS = 80_000_000  # enough for COSTLY: 500 gas a byte, 4,000 a function, the writes


@pytest.fixture
def wc(tmp_path: Path) -> Iterator[WasmChain]:
    chain = WasmChain.start(str(tmp_path / "db"))
    chain.block()
    yield chain
    chain.chain.app.close()


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The sizes of the modules wasmtime compiles from bytes while the test runs (none cached before)."""
    seen: list[int] = []

    class Counting(Module):
        def __init__(self, engine: object, wasm: bytes) -> None:
            seen.append(len(wasm))
            super().__init__(engine, wasm)  # type: ignore[arg-type]

    runtime.clear_cache()
    monkeypatch.setattr(runtime, "Module", Counting)
    yield seen
    runtime.clear_cache()


def _attack(wc: WasmChain, signer: int, module: bytes = COSTLY, gas: int = UPLOAD_GAS) -> bytes:
    """The attack of the issue: a costly upload, then a send of more than the signer's balance."""
    owner = wc.owner(signer)
    too_much = str(wc.balance(owner) + 1)
    return wc.tx(
        signer,
        [
            wasm_pb2.MsgStoreCode(sender=owner, wasm=module),
            bank_pb2.MsgSend(
                from_address=owner,
                to_address=address_of(seeded_key("nobody")),
                amount=[bank_pb2.Coin(denom="utask", amount=too_much)],
            ),
        ],
        gas=gas,
        fee=gas // 1000,
    )


def _sequence(wc: WasmChain, signer: int) -> int:
    account = auth.get_account(wc.ctx(), from_bech32(wc.owner(signer)))
    assert account is not None
    return account.sequence


def test_check_tx_admits_a_costly_upload_that_fails_late_without_running_it(
    wc: WasmChain, compiles: list[int]
) -> None:
    tx = _attack(wc, 0)
    answer = wc.chain.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.NEW))
    assert answer.code == 0, answer.log
    assert compiles == [] and not runtime.cached(hashlib.sha256(COSTLY).digest())
    assert answer.gas_used < 5_000_000  # the ante's size and signature costs, not the upload's 64 Mgas


def test_the_costly_upload_failing_in_its_block_pays_its_fee_and_fills_no_cache(
    wc: WasmChain, compiles: list[int], tmp_path: Path
) -> None:
    owner = wc.owner(1)  # not the proposer's operator, who is paid the block's fees
    before, sequence = wc.balance(owner), _sequence(wc, 1)
    runtime.use_artifact_dir(tmp_path / "wasm-cache")
    try:
        result = wc.block([_attack(wc, 1)]).tx_results[-1]
    finally:
        runtime.use_artifact_dir(None)
    assert (result.codespace, result.code) == ("bank", INSUFFICIENT_FUNDS.code)
    assert wc.balance(owner) == before - UPLOAD_GAS // 1000 and _sequence(wc, 1) == sequence + 1
    assert compiles == [len(COSTLY)]  # paid for: compiled once, in the block
    code_id = hashlib.sha256(COSTLY).digest()
    assert wasm.code_info(wc.ctx(), code_id) is None
    assert not runtime.cached(code_id) and not list((tmp_path / "wasm-cache").glob("*/*"))


def test_a_successful_upload_in_a_block_fills_both_caches(
    wc: WasmChain, compiles: list[int], tmp_path: Path
) -> None:
    wasm_bytes = example("limit_order")
    code_id = hashlib.sha256(wasm_bytes).digest()
    runtime.use_artifact_dir(tmp_path / "wasm-cache")
    try:
        tx = wc.tx(0, [wasm_pb2.MsgStoreCode(sender=wc.owner(0), wasm=wasm_bytes)])
        assert wc.chain.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.NEW)).code == 0
        assert compiles == [] and not list((tmp_path / "wasm-cache").glob("*/*"))
        assert wc.block([tx]).tx_results[-1].code == 0
        assert compiles == [len(wasm_bytes)] and runtime.cached(code_id)
        assert [p.name for p in (tmp_path / "wasm-cache").glob("*/*")] == [f"{code_id.hex()}.cwasm"]
    finally:
        runtime.use_artifact_dir(None)


def test_an_upload_whose_gas_cannot_pay_for_compiling_runs_out_of_gas_before_it_compiles(
    wc: WasmChain, compiles: list[int]
) -> None:
    owner = wc.owner(1)  # not the proposer's operator, who is paid the block's fees
    before = wc.balance(owner)
    short = 500 * len(COSTLY) - 1  # one gas short of the per-byte upload gas alone
    fee = -(-short // 1000)  # the least fee for that gas limit
    result = wc.block([wc.tx(1, [wasm_pb2.MsgStoreCode(sender=owner, wasm=COSTLY)], gas=short, fee=fee)])
    tx_result = result.tx_results[-1]
    assert (tx_result.codespace, tx_result.code) == (OUT_OF_GAS.codespace, OUT_OF_GAS.code)
    assert compiles == [] and wc.balance(owner) == before - fee


def test_a_module_without_the_webassembly_header_is_refused_by_check_tx_and_pays_nothing(
    wc: WasmChain,
) -> None:
    owner = wc.owner(0)
    before, sequence = wc.balance(owner), _sequence(wc, 0)
    tx = wc.tx(0, [wasm_pb2.MsgStoreCode(sender=owner, wasm=b"garbage")])
    answer = wc.chain.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.NEW))
    assert (answer.codespace, answer.code) == ("wasm", 2) and "WebAssembly 1.0" in answer.log
    wc.block([tx])  # the proposal's ante checks leave it out
    assert wc.balance(owner) == before and _sequence(wc, 0) == sequence


def test_check_tx_runs_no_message_handler(chain: Chain) -> None:
    def must_not_run(ctx: object, msg: object) -> bank_pb2.MsgSendResponse:
        raise AssertionError("a message handler ran in CheckTx")

    routes = chain.app.router.msgs
    route = routes["/taskmaster.bank.v1.MsgSend"]
    routes["/taskmaster.bank.v1.MsgSend"] = replace(route, handler=must_not_run)
    try:
        tx = chain.send_tx("user0", address_of(seeded_key("r")), "1")
        assert chain.app.check_tx(abci.RequestCheckTx(tx=tx)).code == 0
    finally:
        routes["/taskmaster.bank.v1.MsgSend"] = route


def test_check_tx_keeps_fee_and_sequence_so_one_sender_queues_several_txs_for_one_block(
    chain: Chain,
) -> None:
    recipient = address_of(seeded_key("r"))
    txs = [chain.send_tx("user0", recipient, "1") for _ in range(5)]
    for tx in txs:
        answer = chain.app.check_tx(abci.RequestCheckTx(tx=tx))
        assert answer.code == 0, answer.log
    replayed = chain.app.check_tx(abci.RequestCheckTx(tx=txs[2]))
    assert (replayed.codespace, replayed.code) == (WRONG_SEQUENCE.codespace, WRONG_SEQUENCE.code)
    results = chain.block(txs).tx_results
    assert [r.code for r in results] == [0] * 5
    assert chain.app.check_tx(abci.RequestCheckTx(tx=chain.send_tx("user0", recipient, "1"))).code == 0


def test_check_tx_refuses_a_tx_whose_fee_the_mempool_has_already_spent(tmp_path: Path) -> None:
    chain = Chain.start(str(tmp_path / "db"), accounts=1, balance=1_000)
    chain.block([])
    try:
        recipient = address_of(seeded_key("r"))
        first, second = (chain.send_tx("user0", recipient, "1", fee=600) for _ in range(2))
        assert chain.app.check_tx(abci.RequestCheckTx(tx=first)).code == 0
        answer = chain.app.check_tx(abci.RequestCheckTx(tx=second))
        assert (answer.codespace, answer.code) == (
            INSUFFICIENT_FEE_FUNDS.codespace,
            INSUFFICIENT_FEE_FUNDS.code,
        )
    finally:
        chain.app.close()


def _simulate(app: object, tx: bytes) -> abci.ResponseQuery:
    from abci_app.app import Application

    assert isinstance(app, Application)
    return app.query(abci.RequestQuery(path=SIMULATE_PATH, data=tx))


def test_simulate_refuses_a_gas_limit_above_the_node_limit_before_any_work(
    wc: WasmChain, compiles: list[int]
) -> None:
    answer = _simulate(wc.chain.app, _attack(wc, 0))
    assert (answer.codespace, answer.code) == (INVALID_REQUEST.codespace, INVALID_REQUEST.code)
    assert f"{SIMULATE_GAS_LIMIT} gas this node simulates" in answer.log
    assert compiles == []


def test_simulate_validates_an_upload_without_compiling_it_and_reports_the_block_gas(
    wc: WasmChain, compiles: list[int]
) -> None:
    wasm_bytes = example("counter")
    tx = wc.tx(0, [wasm_pb2.MsgStoreCode(sender=wc.owner(0), wasm=wasm_bytes)], gas=SIMULATE_GAS_LIMIT)
    answer = _simulate(wc.chain.app, tx)
    assert answer.code == 0, answer.log
    assert compiles == [] and not runtime.cached(hashlib.sha256(wasm_bytes).digest())
    simulated = abci.ExecTxResult.FromString(answer.value).gas_used
    assert wc.block([tx]).tx_results[-1].gas_used == simulated  # compiling costs no extra gas
    assert compiles == [len(wasm_bytes)]


def test_simulate_still_reports_an_invalid_module(wc: WasmChain, compiles: list[int]) -> None:
    tx = wc.tx(
        0,
        [wasm_pb2.MsgStoreCode(sender=wc.owner(0), wasm=b"\x00asm\x01\x00\x00\x00\x07")],
        gas=SIMULATE_GAS_LIMIT,
    )
    answer = _simulate(wc.chain.app, tx)
    assert (answer.codespace, answer.code) == ("wasm", 2)
    assert compiles == []


def test_the_simulate_gas_limit_is_a_node_setting(tmp_path: Path) -> None:
    from abci_app.app import AppConfig, Application

    chain = Chain.start(str(tmp_path / "db"))
    chain.block([])
    tx = chain.send_tx("user0", address_of(seeded_key("r")), "1", gas=200_000)
    assert _simulate(chain.app, tx).code == 0
    db = chain.app.config.db_path
    chain.app.close()
    small = Application(AppConfig(db_path=db, simulate_gas_limit=100_000))
    try:
        answer = small.query(abci.RequestQuery(path=SIMULATE_PATH, data=tx))
        assert (answer.codespace, answer.code) == (INVALID_REQUEST.codespace, INVALID_REQUEST.code)
        assert "100000 gas this node simulates" in answer.log
    finally:
        small.close()


def test_simulating_an_upload_and_its_execution_in_one_tx_compiles_nothing(
    wc: WasmChain, compiles: list[int]
) -> None:
    from taskmaster.tasks.v1 import tx_pb2

    wasm_bytes = example("counter")
    code_id = hashlib.sha256(wasm_bytes).hexdigest()
    owner = wc.owner(0)
    execute = tx_pb2.MsgExecuteAndSchedule(sender=owner, definition=wc.wasm_task(0, code_id, wc.height + 5))
    tx = wc.tx(0, [wasm_pb2.MsgStoreCode(sender=owner, wasm=wasm_bytes), execute], gas=SIMULATE_GAS_LIMIT)
    answer = _simulate(wc.chain.app, tx)
    assert answer.code == 0, answer.log  # the execution's failure is the task's, not the tx's
    assert compiles == []
    assert wc.block([tx]).tx_results[-1].code == 0  # the block compiles it, paid by the upload
    assert compiles == [len(wasm_bytes)]


def test_a_simulated_execution_of_code_in_no_cache_is_refused_as_not_compiled(
    wc: WasmChain, compiles: list[int]
) -> None:
    code_id = bytes.fromhex(wc.store_code(0, example("counter")))
    runtime.clear_cache()  # as on a node that state-synced: the code was never compiled here
    ctx = wc.ctx()
    ctx.speculative = True
    code = wasm.code_for_execution(ctx, code_id)
    with pytest.raises(AppError) as refused:
        runtime.compiled(code.code_id, code.load, code.may_compile)
    assert refused.value.error is NOT_COMPILED and "a simulation never compiles" in refused.value.log
    assert compiles == [len(example("counter"))]  # the upload's, in its block; none since


def test_uploads_compiled_in_failed_txs_are_held_only_up_to_a_small_bound(compiles: list[int]) -> None:
    from tests.unit.wasm.wasm_sandbox import module

    modules = [module(f"(i32.const {i})") for i in range(runtime.PENDING_SIZE + 3)]
    for wasm_bytes in modules:  # compiled in a block, their txs never succeed: never kept
        runtime.compile_module(hashlib.sha256(wasm_bytes).digest(), wasm_bytes)
    assert len(runtime._runtime().pending) == runtime.PENDING_SIZE
    assert not any(runtime.cached(hashlib.sha256(w).digest()) for w in modules)


def test_check_tx_and_simulate_refuse_a_tx_over_max_tx_bytes_before_decoding_it(chain: Chain) -> None:
    limit = auth.get_params(chain.app._context(chain.app.check_state, chain.height)).max_tx_bytes
    answer = chain.app.check_tx(abci.RequestCheckTx(tx=b"\xff" * (limit + 1)))  # not even a Tx
    assert (answer.codespace, answer.code) == (TX_TOO_LARGE.codespace, TX_TOO_LARGE.code)
    assert f"the limit is {limit}" in answer.log
    simulated = _simulate(chain.app, b"\xff" * (limit + 1))
    assert (simulated.codespace, simulated.code) == (TX_TOO_LARGE.codespace, TX_TOO_LARGE.code)


@pytest.mark.parametrize("amount", ["0", "-5", "1.5", ""])
def test_check_tx_refuses_a_send_of_a_malformed_amount_before_its_fee(chain: Chain, amount: str) -> None:
    tx = chain.send_tx("user0", address_of(seeded_key("r")), amount)
    answer = chain.app.check_tx(abci.RequestCheckTx(tx=tx))
    assert (answer.codespace, answer.code) == ("bank", 2) and "amount[0]" in answer.log
    chain.sequences["user0"] -= 1  # nothing was kept: the same sequence is still the next one
    retry = chain.send_tx("user0", address_of(seeded_key("r")), "1")
    assert chain.app.check_tx(abci.RequestCheckTx(tx=retry)).code == 0
