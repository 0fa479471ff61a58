"""Properties of the wasm runtime: the fuel conversion, totality of validation, the host API against a
model, and metering that depends on nothing but the module, its input and its budget."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app.errors import AppError
from abci_app.modules.kv import keeper as kv
from abci_app.modules.wasm import abi, runtime
from abci_app.modules.wasm.validation import InvalidModule, validate
from tests.unit.wasm.wasm_sandbox import MAX_BYTES, OWNER, Sandbox, example, imp, module, sandbox

FIXTURE_OK = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with sandbox(Path(tmp_path_factory.mktemp("wasm-props"))) as s:
        yield s


@given(st.integers(min_value=0, max_value=2**63))
def test_gas_converted_to_fuel_and_back_is_the_same_gas(gas: int) -> None:
    assert abi.gas_for_fuel(abi.fuel_for_gas(gas)) == gas


@given(st.integers(min_value=0, max_value=2**64))
def test_fuel_is_charged_rounded_up_to_whole_gas(fuel: int) -> None:
    gas = abi.gas_for_fuel(fuel)
    assert gas * abi.FUEL_PER_GAS >= fuel > (gas - 1) * abi.FUEL_PER_GAS or (fuel == 0 and gas == 0)


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_charging_fuel_in_two_parts_never_costs_less_than_at_once(a: int, b: int) -> None:
    assert abi.gas_for_fuel(a) + abi.gas_for_fuel(b) >= abi.gas_for_fuel(a + b)


VALID = [example(n) for n in ("counter", "limit_order", "recurring_buy", "infinite_loop")]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_validation_of_arbitrary_bytes_answers_or_refuses(raw: bytes) -> None:
    with contextlib.suppress(InvalidModule):
        validate(b"\x00asm\x01\x00\x00\x00" + raw, MAX_BYTES)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_validation_of_mutated_modules_answers_or_refuses_and_compiling_never_crashes(
    wasm: bytes, data: st.DataObject
) -> None:
    mutated = bytearray(wasm)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=8, max_value=len(mutated) - 1))
        mutated[at] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        validate(bytes(mutated), MAX_BYTES)
    except InvalidModule:
        return
    try:
        runtime.compile_upload(hashlib.sha256(mutated).digest(), bytes(mutated), persist=False)
    except AppError as err:
        assert (err.codespace, err.code) == ("wasm", 2)


KEYS = st.binary(min_size=1, max_size=8)
OPS = st.lists(
    st.tuples(st.sampled_from(["set", "get", "delete"]), KEYS, st.binary(max_size=16)),
    min_size=1,
    max_size=12,
)


def _kv_module(op: str, key: bytes, value: bytes) -> bytes:
    data = "".join(f"\\{b:02x}" for b in key + value)
    k, v = len(key), len(value)
    if op == "set":
        body = f"(call $kv_set (i32.const 0) (i32.const {k}) (i32.const {k}) (i32.const {v})) (i32.const 0)"
    elif op == "delete":
        body = f"(i32.store (i32.const 200) (call $kv_delete (i32.const 0) (i32.const {k})))"
        body += "(call $set_return (i32.const 200) (i32.const 4)) (i32.const 0)"
    else:
        get = f"(call $kv_get (i32.const 0) (i32.const {k}) (i32.const 204) (i32.const 64))"
        body = f"(i32.store (i32.const 200) {get})"
        body += "(call $set_return (i32.const 200) (i32.const 68)) (i32.const 0)"
    imports = imp("kv_set") + imp("kv_get") + imp("kv_delete") + imp("set_return")
    return module(body, imports, extra=f'(data (i32.const 0) "{data}")' if data else "")


@FIXTURE_OK
@given(OPS)
def test_kv_host_calls_behave_like_a_dict(box: Sandbox, ops: list[tuple[str, bytes, bytes]]) -> None:
    model: dict[bytes, bytes] = {}
    child = box.ctx.child()
    inner = Sandbox(child)
    for op, key, value in ops:
        outcome = inner.run(_kv_module(op, key, value))
        assert outcome.ok, outcome.error
        if op == "set":
            model[key] = value
        elif op == "delete":
            assert int.from_bytes(outcome.data, "little") == (1 if model.pop(key, None) is not None else 0)
        else:
            length = int.from_bytes(outcome.data[:4], "little", signed=True)
            if key in model:
                assert length == len(model[key]) and outcome.data[4 : 4 + length] == model[key]
            else:
                assert length == -1
    for key, value in model.items():
        assert kv.get(child, OWNER, key) == value
    child.branch.discard()


U32 = st.integers(min_value=0, max_value=2**32 - 1)


@FIXTURE_OK
@given(st.sampled_from(["kv_get", "kv_set", "task_data", "emit", "set_return"]), U32, U32, U32, U32)
def test_host_calls_with_any_pointers_succeed_or_fail_with_a_code(
    box: Sandbox, name: str, a: int, b: int, c: int, d: int
) -> None:
    arity = len(abi.HOST_FUNCTIONS[name].params)
    args = " ".join(f"(i32.const {x - 2**32 if x >= 2**31 else x})" for x in (a, b, c, d)[:arity])
    call = f"(call ${name} {args})"
    wasm = module(
        f"{f'(drop {call})' if abi.HOST_FUNCTIONS[name].results else call} (i32.const 0)", imp(name)
    )
    outcome = box.run(wasm, gas=200_000, keep=False)
    assert outcome.ok or outcome.code in {"wasm/6", "wasm/7", "kv/2", "kv/3", "sdk/11"}
    assert outcome.gas <= 200_000 or outcome.code == "sdk/11"


@FIXTURE_OK
@given(st.integers(min_value=1, max_value=5_000), st.integers(min_value=2_100, max_value=30_000))
def test_metering_depends_only_on_the_work_and_the_budget(box: Sandbox, n: int, gas: int) -> None:
    wasm = module(
        f"(local $i i32) (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))"
        f" (br_if $l (i32.lt_u (local.get $i) (i32.const {n})))) (i32.const 0)"
    )
    first = box.run(wasm, gas=gas, keep=False)
    runtime.clear_cache()
    second = box.run(wasm, gas=gas, keep=False)
    assert first.key() == second.key()
    assert first.gas <= gas
    if not first.ok:
        assert first.code == "wasm/5" and first.gas == gas
    needed = box.run(wasm, gas=10**7, keep=False).gas
    if needed <= gas:
        assert first.ok and first.gas == needed
    if first.ok:  # the last straight-line stretch after wasmtime's final fuel check may run on 0 fuel
        assert needed - gas < 10
