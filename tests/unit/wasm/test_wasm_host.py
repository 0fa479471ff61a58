"""The host API, one function at a time: what it returns, what it changes, what it refuses, its gas."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from abci_app.modules.kv import keeper as kv
from abci_app.modules.wasm import abi
from abci_app.tx.address import to_bech32
from tests.unit.wasm.wasm_sandbox import OWNER, TASK_ID, Sandbox, example, imp, module, sandbox

BTC = "bitcoin/usd"
E18 = 10**18


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    with sandbox(tmp_path, height=7, time_s=1_700_000_100) as s:
        yield s


def returns_i64(box: Sandbox, name: str, args: str, data: str = "") -> int:
    """Run a module that calls ``name(args)`` and sets the i64 result as return data."""
    extra = f'(data (i32.const 0) "{data}")' if data else ""
    body = f"(i64.store (i32.const 512) (call ${name} {args}))"
    body += "(call $set_return (i32.const 512) (i32.const 8)) (i32.const 0)"
    outcome = box.run(module(body, imp(name) + imp("set_return"), extra=extra))
    assert outcome.ok, outcome.error
    return int.from_bytes(outcome.data, "little", signed=True)


def pair_args(pair: str = BTC) -> str:
    return f"(i32.const 0) (i32.const {len(pair)})"


def test_task_data_copies_up_to_the_buffer_and_returns_the_full_length(box: Sandbox) -> None:
    box.data = b"hello wasm"
    body = (
        "(i32.store (i32.const 100) (call $task_data (i32.const 0) (i32.const 5)))"
        "(call $set_return (i32.const 0) (i32.const 9)) (i32.const 0)"
    )
    outcome = box.run(module(body, imp("task_data") + imp("set_return")))
    assert outcome.data == b"hello\x00\x00\x00\x00"
    full = box.run(
        module("(call $task_data (i32.const 0) (i32.const 0)) (drop) (i32.const 0)", imp("task_data"))
    )
    assert full.ok


def test_block_height_and_time_come_from_the_block(box: Sandbox) -> None:
    assert returns_i64(box, "block_height", "") == 7
    assert returns_i64(box, "block_time", "") == 1_700_000_100


def test_price_is_the_latest_record_at_the_asked_decimals(box: Sandbox) -> None:
    assert returns_i64(box, "price", f"{pair_args()} (i32.const 6)", BTC) == -1
    box.write_price(BTC, 65_432_123_456_789 * E18 // 10**9, height=5, time_s=1_700_000_000)
    assert returns_i64(box, "price", f"{pair_args()} (i32.const 0)", BTC) == 65_432
    assert returns_i64(box, "price", f"{pair_args()} (i32.const 6)", BTC) == 65_432_123_456
    assert returns_i64(box, "price_height", pair_args(), BTC) == 5


def test_price_refuses_more_decimals_than_the_oracle_and_values_beyond_i64(box: Sandbox) -> None:
    box.write_price(BTC, 65_000 * E18, height=5, time_s=1_700_000_000)
    body = f"(drop (call $price {pair_args()} (i32.const 19))) (i32.const 0)"
    assert box.run(module(body, imp("price"), extra=f'(data (i32.const 0) "{BTC}")')).code == "wasm/7"
    body = f"(drop (call $price {pair_args()} (i32.const 18))) (i32.const 0)"
    assert box.run(module(body, imp("price"), extra=f'(data (i32.const 0) "{BTC}")')).code == "wasm/7"


def test_an_unknown_pair_has_no_price(box: Sandbox) -> None:
    assert returns_i64(box, "price", f"{pair_args('doge/usd')} (i32.const 6)", "doge/usd") == -1
    assert returns_i64(box, "price_height", pair_args("doge/usd"), "doge/usd") == -1


def test_twap_weights_each_price_by_how_long_it_held(box: Sandbox) -> None:
    box.write_price(BTC, 100 * E18, height=2, time_s=1_000)
    box.write_price(BTC, 200 * E18, height=3, time_s=1_010)
    box.write_price(BTC, 400 * E18, height=4, time_s=1_040)
    # over the whole history: 100 for 10 s, 200 for 30 s -> (1000 + 6000) / 40 = 175
    assert returns_i64(box, "twap", f"{pair_args()} (i64.const 0) (i32.const 0)", BTC) == 175
    # the last 30 s: 200 from 1010 to 1040 only
    assert returns_i64(box, "twap", f"{pair_args()} (i64.const 30) (i32.const 0)", BTC) == 200
    assert returns_i64(box, "twap", f"{pair_args('x/y')} (i64.const 0) (i32.const 0)", "x/y") == -1


def test_kv_set_get_and_delete_work_in_the_owners_namespace_only(box: Sandbox) -> None:
    body = "(call $kv_set (i32.const 0) (i32.const 3) (i32.const 3) (i32.const 5)) (i32.const 0)"
    assert box.run(module(body, imp("kv_set"), extra='(data (i32.const 0) "keyvalue")')).ok
    assert kv.get(box.ctx, OWNER, b"key") == b"value"
    assert kv.get(box.ctx, b"\x02" * 20, b"key") is None
    body = (
        "(i32.store (i32.const 100) (call $kv_get (i32.const 0) (i32.const 3) (i32.const 104) (i32.const 3)))"
        "(call $set_return (i32.const 100) (i32.const 8)) (i32.const 0)"
    )
    got = box.run(module(body, imp("kv_get") + imp("set_return"), extra='(data (i32.const 0) "key")'))
    assert got.data == (5).to_bytes(4, "little") + b"val\x00"
    body = "(i32.sub (call $kv_delete (i32.const 0) (i32.const 3)) (i32.const 1))"  # 1 -> success
    assert box.run(module(body, imp("kv_delete"), extra='(data (i32.const 0) "key")')).ok
    assert kv.get(box.ctx, OWNER, b"key") is None


def test_kv_get_of_an_absent_key_is_minus_one_and_kv_delete_zero(box: Sandbox) -> None:
    body = "(call $kv_get (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 0))"
    assert (
        box.run(module(body, imp("kv_get"), extra='(data (i32.const 0) "key")')).code == "wasm/8"
    )  # returned -1
    body = "(call $kv_delete (i32.const 0) (i32.const 3))"
    assert box.run(module(body, imp("kv_delete"), extra='(data (i32.const 0) "key")')).ok  # returned 0


def test_kv_limits_are_the_kv_modules(box: Sandbox) -> None:
    empty_key = "(call $kv_set (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1)) (i32.const 0)"
    assert box.run(module(empty_key, imp("kv_set"))).code == "kv/2"
    long_value = "(call $kv_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 4097)) (i32.const 0)"
    assert box.run(module(long_value, imp("kv_set"))).code == "wasm/7"


def test_kv_operations_pay_the_stores_gas(box: Sandbox) -> None:
    extra = '(data (i32.const 0) "keyvalue")'
    small = box.run(
        module(
            "(call $kv_set (i32.const 0) (i32.const 3) (i32.const 3) (i32.const 1)) (i32.const 0)",
            imp("kv_set"),
            extra=extra,
        )
    )
    large = box.run(
        module(
            "(call $kv_set (i32.const 0) (i32.const 3) (i32.const 3) (i32.const 5)) (i32.const 0)",
            imp("kv_set"),
            extra=extra,
        )
    )
    # 4 more value bytes: 30 gas each to store, 3 to copy out of memory
    assert large.gas - small.gas == 4 * (30 + abi.COPY_GAS_PER_BYTE)


def test_send_pays_from_the_allowance_to_a_bech32_recipient(box: Sandbox) -> None:
    recipient = to_bech32(b"\x09" * 20)
    box.allowance = 1_000
    body = f"(call $send (i32.const 0) (i32.const {len(recipient)}) (i64.const 600)) (i32.const 0)"
    assert box.run(module(body, imp("send"), extra=f'(data (i32.const 0) "{recipient}")')).ok
    assert box.sent == [(b"\x09" * 20, 600)] and box.allowance == 400
    assert box.run(module(body, imp("send"), extra=f'(data (i32.const 0) "{recipient}")')).code == "wasm/9"
    assert returns_i64(box, "allowance", "") == 400


def test_send_refuses_a_bad_address_and_a_non_positive_amount(box: Sandbox) -> None:
    box.allowance = 1_000
    bad = "(call $send (i32.const 0) (i32.const 5) (i64.const 1)) (i32.const 0)"
    assert box.run(module(bad, imp("send"), extra='(data (i32.const 0) "hello")')).code == "sdk/7"
    recipient = to_bech32(b"\x09" * 20)
    zero = f"(call $send (i32.const 0) (i32.const {len(recipient)}) (i64.const 0)) (i32.const 0)"
    assert box.run(module(zero, imp("send"), extra=f'(data (i32.const 0) "{recipient}")')).code == "wasm/7"
    assert box.sent == []


def test_emit_records_an_event_with_the_task_id(box: Sandbox) -> None:
    body = "(call $emit (i32.const 0) (i32.const 4) (i32.const 4) (i32.const 3)) (i32.const 0)"
    outcome = box.run(module(body, imp("emit"), extra='(data (i32.const 0) "sidebuy")'))
    assert outcome.events == [("TaskWasmEvent", {"task_id": TASK_ID, "key": "side", "value": "buy"})]


def test_emit_refuses_invalid_text_empty_keys_and_too_many_events(box: Sandbox) -> None:
    invalid = "(call $emit (i32.const 0) (i32.const 2) (i32.const 0) (i32.const 0)) (i32.const 0)"
    assert box.run(module(invalid, imp("emit"), extra='(data (i32.const 0) "\\ff\\fe")')).code == "wasm/7"
    empty = "(call $emit (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)) (i32.const 0)"
    assert box.run(module(empty, imp("emit"))).code == "wasm/7"
    seventeen = "(call $emit (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0))" * 17 + "(i32.const 0)"
    assert box.run(module(seventeen, imp("emit"), extra='(data (i32.const 0) "k")')).code == "wasm/7"


def test_reschedule_passes_the_block_to_the_task_manager(box: Sandbox) -> None:
    assert box.run(module("(call $reschedule (i64.const 42)) (i32.const 0)", imp("reschedule"))).ok
    assert box.rescheduled == [42]


def test_set_return_is_limited_and_paid_per_byte(box: Sandbox) -> None:
    def returning(n: int) -> int:
        outcome = box.run(
            module(f"(call $set_return (i32.const 0) (i32.const {n})) (i32.const 0)", imp("set_return"))
        )
        assert outcome.ok
        return outcome.gas

    assert returning(10) - returning(0) == 10 * (abi.RECORD_GAS_PER_BYTE + abi.COPY_GAS_PER_BYTE)
    too_long = module("(call $set_return (i32.const 0) (i32.const 1025)) (i32.const 0)", imp("set_return"))
    assert box.run(too_long).code == "wasm/7"


def test_the_counter_example_counts(box: Sandbox) -> None:
    for expected in (1, 2, 3):
        outcome = box.run(example("counter"))
        assert outcome.data == expected.to_bytes(8, "little")
    assert kv.get(box.ctx, OWNER, b"count") == (3).to_bytes(8, "little")


def limit_data(limit: int, amount: int, recipient: str, pair: str = BTC) -> bytes:
    """The task data layout of limit_order.wat / recurring_buy.wat."""
    return (
        limit.to_bytes(8, "little")
        + amount.to_bytes(8, "little")
        + len(pair).to_bytes(4, "little")
        + pair.encode()
        + recipient.encode()
    )


def test_the_limit_order_sends_only_below_its_limit(box: Sandbox) -> None:
    recipient = to_bech32(b"\x07" * 20)
    box.data = limit_data(50_000 * 10**6, 1_234, recipient)
    box.allowance = 10_000
    assert box.run(example("limit_order")).data == b"waiting"  # no price yet
    box.write_price(BTC, 50_000 * E18, height=5, time_s=1_700_000_000)
    assert box.run(example("limit_order")).data == b"waiting"  # not below
    box.write_price(BTC, 49_999 * E18, height=6, time_s=1_700_000_050)
    filled = box.run(example("limit_order"))
    assert filled.data == b"filled" and box.sent == [(b"\x07" * 20, 1_234)]
    assert filled.events == [("TaskWasmEvent", {"task_id": TASK_ID, "key": "filled", "value": recipient})]


def test_the_limit_order_fails_on_malformed_data(box: Sandbox) -> None:
    box.data = b"short"
    assert box.run(example("limit_order")).code == "wasm/8"
    box.data = limit_data(1, 1, "", pair="x" * 200)[:30]
    assert box.run(example("limit_order")).code == "wasm/8"


def test_the_recurring_buy_buys_at_or_below_its_cap_and_keeps_a_total(box: Sandbox) -> None:
    seller = to_bech32(b"\x05" * 20)
    box.data = limit_data(3_000 * 10**6, 500, seller, pair="ethereum/usd")
    box.allowance = 10_000
    box.write_price("ethereum/usd", 3_000 * E18, height=5, time_s=1_700_000_000)
    assert box.run(example("recurring_buy")).data == b"bought"
    assert box.run(example("recurring_buy")).data == b"bought"
    box.write_price("ethereum/usd", 3_100 * E18 + 5 * 10**17, height=6, time_s=1_700_000_050)
    skipped = box.run(example("recurring_buy"))
    assert skipped.data == b"skipped"
    assert skipped.events == [
        ("TaskWasmEvent", {"task_id": TASK_ID, "key": "skipped", "value": "3100500000"})
    ]
    assert box.sent == [(b"\x05" * 20, 500)] * 2
    assert kv.get(box.ctx, OWNER, b"bought") == (1_000).to_bytes(8, "little")


def test_twap_pays_for_opening_the_history_even_when_it_is_empty(box: Sandbox) -> None:
    # opening the price history takes ~20 us that no iteration step pays for when it is empty
    body = f"(drop (call $twap {pair_args('x/y')} (i64.const 0) (i32.const 0))) (i32.const 0)"
    with_call = box.run(module(body, imp("twap"), extra='(data (i32.const 0) "x/y")'))
    without = box.run(module("(nop) (nop) (nop) (nop) (nop) (i32.const 0)", imp("twap")))
    expected = abi.HOST_CALL_GAS + abi.COPY_GAS_PER_BYTE * 3 + abi.HISTORY_SEEK_GAS
    assert with_call.ok and abs(with_call.gas - without.gas - expected) <= 2  # fuel rounding
