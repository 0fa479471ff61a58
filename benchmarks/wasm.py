"""WebAssembly task figures: a block of due wasm tasks against basic tasks, runtime overheads, triggers.

    python -m benchmarks.wasm [--quick] [--tasks N] [--repeat R]

1. ``due_block``: FinalizeBlock of one block in which N (1,000) wasm tasks running the counter example
   (``examples/wasm/counter.wat``: a kv read, a kv write, return data) are due, and, in the same run on
   a fresh store, N ``basic`` tasks doing a kv put (the baseline); each is measured ``--repeat`` times
   (a fresh chain each time) and the median reported, with the ratio. Goal: wasm under 1 s and at most
   3x the baseline. A cold-cache wasm block (the module compiled inside the block) is reported too.
2. ``runtime``: in process, on a chain state: one instantiation + call of an empty module (what every
   execution pays), the same through a cold cache (compilation included), and the cost of one host
   call (a module calling ``block_height`` 1,000 times, minus the empty module, per call).
3. ``triggers``: 100,000 price triggers on one pair indexed in the tasks store (RocksDB, committed);
   a price move that crosses 1% of them; the time to find them through the index
   (``triggers.crossed``) against, in the same run, a full scan of every trigger entry.
4. ``rates``: how fast gas is spent, in Mgas/s, against the basic kv task block of (1): plain wasm
   instructions, metered store reads, and loops of each kind of host call (us and gas per call).
   The host-call gas is calibrated on these (docs/wasm.md, "Host API").
5. ``compile``: the costliest module shapes found under the upload limits (``benchmarks/wasm_shapes.py``,
   ~128 KB each): compile time per byte, and the rate at which a block holding its MsgStoreCode
   spends gas. The upload gas is calibrated on these (docs/wasm.md, "Compilation").

Progress lines go to stdout; the last line is one JSON object of figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import types_pb2
from taskmaster.wasm.v1 import wasm_pb2
from tendermint.abci import types_pb2 as abci
from wasmtime import Module

from abci_app.context import Context
from abci_app.modules.kv import keeper as kv_keeper
from abci_app.modules.tasks import keeper, triggers
from abci_app.modules.tasks.keys import STORE, TRIGGER_PREFIX, trigger_key, trigger_prefix
from abci_app.modules.wasm import host, runtime
from abci_app.modules.wasm import keeper as wasm
from abci_app.modules.wasm.validation import validate
from abci_app.store import MultiStore
from abci_app.tx.address import from_bech32
from abci_app.tx.gas import GasMeter
from benchmarks import wasm_shapes
from tests.app.driver import Chain, address_of
from tests.app.wasm_driver import WasmChain
from tests.unit.wasm.wasm_sandbox import OWNER, Sandbox, example, imp, module, sandbox

E18 = 10**18


def say(message: str) -> None:
    """One progress line."""
    print(f"==> {message}", flush=True)


def _definition(owner: str, nonce: int, start: int, code_id: str | None) -> types_pb2.TaskDefinition:
    if code_id is None:
        data = kv_pb2.MsgPut(owner=owner, key=b"n%d" % nonce, value=b"v").SerializeToString()
        task = types_pb2.Task(
            from_address=owner, gas=50_000, target="/taskmaster.kv.v1.MsgPut", data=data, nonce=nonce
        )
    else:
        task = types_pb2.Task(from_address=owner, gas=50_000, nonce=nonce, environment=f"wasm:{code_id}")
    return types_pb2.TaskDefinition(
        task=task, schedule=types_pb2.TaskSchedule(start_block=start, executions=1, active=True)
    )


def _due_block(
    workdir: Path, name: str, tasks: int, wasm_code: bytes | None, cold: bool
) -> tuple[float, int, int]:
    """Milliseconds of FinalizeBlock of a block with ``tasks`` due tasks, how many executed (ok), and
    the gas the tasks used."""
    chain = Chain.start(str(workdir / f"{name}.db"), accounts=100, balance=10**15)
    chain.block([])
    app = chain.app
    branch = app.store.branch()
    ctx = app._context(branch, chain.height + 1)
    params = types_pb2.Params()
    params.CopyFrom(keeper.DEFAULT_PARAMS)
    params.max_block_task_gas = tasks * keeper.SMALL.cap + keeper.LARGE.cap
    params.block_task_gas_reserve = 0
    keeper.set_params(ctx, params)
    owners = [address_of(chain.accounts[f"user{i}"]) for i in range(100)]
    code_id = None
    if wasm_code is not None:
        code_id = wasm.store_code(ctx, from_bech32(owners[0]), wasm_code)[0].hex()
    due = chain.height + 2
    for i in range(tasks):
        owner = owners[i % len(owners)]
        keeper.schedule(ctx, _definition(owner, i // len(owners), due, code_id), owner, 1, due)
    app.store.stage(branch, chain.height + 1)
    app.commit(abci.RequestCommit())
    if cold:
        runtime.clear_cache()
    started = time.perf_counter()
    response = app.finalize_block(
        abci.RequestFinalizeBlock(
            txs=[], height=due, time=Timestamp(seconds=chain.time_s + 5), proposer_address=chain.proposer
        )
    )
    elapsed = (time.perf_counter() - started) * 1000
    app.commit(abci.RequestCommit())
    executed = [{a.key: a.value for a in e.attributes} for e in response.events if e.type == "TaskExecuted"]
    ok = sum(1 for e in executed if e["success"] == "true")
    app.close()
    return elapsed, ok, sum(int(e["gas_used"]) for e in executed)


def bench_due_block(workdir: Path, tasks: int, repeat: int) -> dict[str, Any]:
    """Median FinalizeBlock time of ``tasks`` due wasm counter tasks and of as many basic kv tasks."""
    counter = example("counter")
    figures: dict[str, Any] = {"tasks": tasks, "repeat": repeat}
    for label, code, cold in (
        ("basic", None, False),
        ("wasm", counter, False),
        ("wasm_cold_cache", counter, True),
    ):
        times, rates = [], []
        for r in range(repeat if label != "wasm_cold_cache" else 1):
            ms, ok, gas = _due_block(workdir, f"{label}{r}", tasks, code, cold)
            if ok != tasks:
                raise SystemExit(f"{label}: only {ok} of {tasks} tasks succeeded")
            times.append(ms)
            rates.append(gas / ms / 1000)
            say(f"due block: {tasks} {label} tasks in {ms:.0f} ms ({gas / ms / 1000:.1f} Mgas/s)")
        figures[f"{label}_ms"] = round(statistics.median(times), 1)
        figures[f"{label}_mgas_per_s"] = round(statistics.median(rates), 1)
    figures["ratio_wasm_to_basic"] = round(figures["wasm_ms"] / figures["basic_ms"], 2)
    figures["goal_under_1s"] = figures["wasm_ms"] < 1000
    figures["goal_at_most_3x"] = figures["ratio_wasm_to_basic"] <= 3
    say(f"due block: wasm/basic = {figures['ratio_wasm_to_basic']}")
    return figures


def _time_runs(ctx: Context, wasm_code: bytes, n: int, before: Callable[[], None] | None = None) -> float:
    """Microseconds per run of ``wasm_code`` (``before`` runs untimed before each)."""
    code = runtime.Code(hashlib.sha256(wasm_code).digest(), len(wasm_code), lambda: wasm_code)
    env = host.HostEnv(ctx, b"\x01" * 20, "00" * 32, b"", lambda r, a: None, lambda: 0, lambda b: None)
    total = 0.0
    for _ in range(n):
        if before is not None:
            before()
        started = time.perf_counter()
        runtime.run(code, env, GasMeter(10_000_000))
        total += time.perf_counter() - started
    return total / n * 1e6


def bench_runtime(workdir: Path, n: int) -> dict[str, Any]:
    """Instantiation + call, with and without compilation, and the cost of one host call."""
    chain = Chain.start(str(workdir / "runtime.db"))
    chain.block([])
    ctx = chain.app._context(chain.app.store.branch(), chain.height)
    empty = module("(i32.const 0)")
    counting = (
        "(local $i i32) (loop $l {} (local.set $i (i32.add (local.get $i) (i32.const 1)))"
        " (br_if $l (i32.lt_u (local.get $i) (i32.const 1000)))) (i32.const 0)"
    )
    calls = module(counting.format("(drop (call $block_height))"), imp("block_height"))
    loop_only = module(counting.format(""))
    _time_runs(ctx, empty, 50)  # warm up
    warm = _time_runs(ctx, empty, n)
    say(f"runtime: instantiate + call (cached module): {warm:.1f} us")
    cold = _time_runs(ctx, empty, max(20, n // 20), runtime.clear_cache)
    say(f"runtime: instantiate + call with compilation: {cold:.1f} us")
    with_calls = _time_runs(ctx, calls, max(20, n // 10))
    without = _time_runs(ctx, loop_only, max(20, n // 10))
    per_call = (with_calls - without) / 1000
    say(f"runtime: one host call (block_height): {per_call:.2f} us")
    counter = _time_runs(ctx, example("counter"), n)
    say(f"runtime: one counter execution (2 kv host calls + return data): {counter:.1f} us")
    chain.app.close()
    return {
        "instantiate_and_call_us": round(warm, 1),
        "compile_instantiate_and_call_us": round(cold, 1),
        "host_call_us": round(per_call, 2),
        "counter_execution_us": round(counter, 1),
    }


_CALLS = 2_000
_HOST_CALLS = {  # name: (the call, dropping its result; its import)
    "block_height": ("(drop (call $block_height))", "block_height"),
    "task_data (4,096 bytes copied)": (
        "(drop (call $task_data (i32.const 1024) (i32.const 4096)))",
        "task_data",
    ),
    "price": ("(drop (call $price (i32.const 0) (i32.const 11) (i32.const 6)))", "price"),
    "twap (100 records)": (
        "(drop (call $twap (i32.const 0) (i32.const 11) (i64.const 0) (i32.const 6)))",
        "twap",
    ),
    "twap (no history)": (
        "(drop (call $twap (i32.const 64) (i32.const 2) (i64.const 0) (i32.const 6)))",
        "twap",
    ),
    "kv_get (absent)": (
        "(drop (call $kv_get (i32.const 64) (i32.const 2) (i32.const 512) (i32.const 8)))",
        "kv_get",
    ),
    "kv_get (8 bytes)": (
        "(drop (call $kv_get (i32.const 66) (i32.const 1) (i32.const 512) (i32.const 8)))",
        "kv_get",
    ),
    "kv_set (8 bytes)": (
        "(call $kv_set (i32.const 66) (i32.const 1) (i32.const 512) (i32.const 8))",
        "kv_set",
    ),
    "set_return (8 bytes)": ("(call $set_return (i32.const 512) (i32.const 8))", "set_return"),
}


def _calling(call: str, name: str | None) -> bytes:
    """A module that makes ``call`` _CALLS times in a loop (no call: the loop alone)."""
    return module(
        f"(local $i i32) (loop $l {call} (local.set $i (i32.add (local.get $i) (i32.const 1)))"
        f" (br_if $l (i32.lt_u (local.get $i) (i32.const {_CALLS})))) (i32.const 0)",
        imp(name) if name else "",
        extra='(data (i32.const 0) "bitcoin/usd") (data (i32.const 64) "kk")',
    )


def _best_run(box: Sandbox, wasm_code: bytes, gas: int) -> tuple[float, int]:
    """The fastest of 9 runs of ``wasm_code`` (seconds) and its gas."""
    box.run(wasm_code, gas=gas, keep=False)
    best, used = float("inf"), 0
    for _ in range(9):
        started = time.perf_counter()
        outcome = box.run(wasm_code, gas=gas, keep=False)
        best = min(best, time.perf_counter() - started)
        used = outcome.gas
    return best, used


def _store_read_rate(workdir: Path) -> float:
    """Mgas/s of metered reads of 20,000 committed keys."""
    ms = MultiStore.open(str(workdir / "reads.db"), ["kv"], sync=False)
    branch = ms.branch()
    for i in range(20_000):
        branch.store("kv").set(b"key%08d" % i, b"v" * 32)
    ms.stage(branch, 1)
    ms.commit()
    meter = GasMeter(None)
    store = ms.branch().branch(gas=meter).store("kv")
    started = time.perf_counter()
    for i in range(20_000):
        store.get(b"key%08d" % i)
    elapsed = time.perf_counter() - started
    ms.close()
    return meter.consumed / elapsed / 1e6


def bench_rates(workdir: Path) -> dict[str, Any]:
    """Mgas/s of plain wasm, store reads and each kind of host call (us and gas a call)."""
    figures: dict[str, Any] = {"store_read_mgas_per_s": round(_store_read_rate(workdir), 1)}
    say(f"rates: metered store reads {figures['store_read_mgas_per_s']} Mgas/s")
    with sandbox(workdir / "rates") as box:
        for height in range(1, 101):
            box.write_price("bitcoin/usd", (60_000 + height) * E18, height, 1_700_000_000 + 5 * height)
        kv_keeper.put(box.ctx, OWNER, b"k", b"12345678")
        box.data = b"d" * 4096
        loop_s, loop_gas = _best_run(box, _calling("", None), 10**8)
        count = "(local.set $i (i32.add (local.get $i) (i32.const 1)))"
        plain = module(f"(local $i i32) (loop $l {count} (br $l)) (i32.const 0)")  # until out of fuel
        plain_s, plain_gas = _best_run(box, plain, 5_000_000)
        figures["plain_wasm_mgas_per_s"] = round(plain_gas / plain_s / 1e6, 1)
        say(f"rates: plain wasm instructions {figures['plain_wasm_mgas_per_s']} Mgas/s")
        calls: dict[str, Any] = {}
        for name, (call, imported) in _HOST_CALLS.items():
            seconds, gas = _best_run(box, _calling(call, imported), 10**8)
            us, per_call = (seconds - loop_s) / _CALLS * 1e6, (gas - loop_gas) / _CALLS
            calls[name] = {"us": round(us, 2), "gas": round(per_call), "mgas_per_s": round(per_call / us, 1)}
            say(f"rates: {name}: {us:.1f} us and {per_call:.0f} gas a call, {per_call / us:.1f} Mgas/s")
        figures["host_calls"] = calls
    return figures


def bench_compile(workdir: Path) -> dict[str, Any]:
    """Compile time per byte of each costly shape, and the rate of a block holding its upload."""
    figures: dict[str, Any] = {}
    chain = WasmChain.start(str(workdir / "compile.db"))
    chain.block()
    for name, make in wasm_shapes.SHAPES.items():
        wasm_code = make()
        validate(wasm_code, wasm.DEFAULT_PARAMS.max_code_bytes)
        started = time.perf_counter()
        Module(runtime.engine(), wasm_code)
        seconds = time.perf_counter() - started
        runtime.clear_cache()
        msg = wasm_pb2.MsgStoreCode(sender=chain.owner(0), wasm=wasm_code)
        tx = chain.tx(0, [msg], gas=100_000_000, fee=100_000)
        started = time.perf_counter()
        result = chain.block([tx]).tx_results[-1]
        block_s = time.perf_counter() - started
        if result.code != 0:
            raise SystemExit(f"compile: the upload of {name} failed: {result.log}")
        figures[name] = {
            "bytes": len(wasm_code),
            "compile_ms": round(seconds * 1000, 1),
            "compile_us_per_byte": round(seconds / len(wasm_code) * 1e6, 2),
            "upload_gas": result.gas_used,
            "upload_block_ms": round(block_s * 1000, 1),
            "upload_mgas_per_s": round(result.gas_used / block_s / 1e6, 1),
        }
        say(
            f"compile: {name}, {len(wasm_code)} bytes: {seconds * 1000:.0f} ms "
            f"({seconds / len(wasm_code) * 1e6:.2f} us a byte); its upload block {block_s * 1000:.0f} ms "
            f"for {result.gas_used} gas, {result.gas_used / block_s / 1e6:.1f} Mgas/s"
        )
    chain.chain.app.close()
    return figures


def bench_triggers(workdir: Path, total: int, repeats: int) -> dict[str, Any]:
    """Find the 1% of ``total`` triggers a price move crosses, through the index and by a full scan."""
    pair = "bitcoin/usd"
    ms = MultiStore.open(str(workdir / "triggers.db"), [STORE], sync=False)
    branch = ms.branch()
    store = branch.store(STORE)
    version = 0
    # thresholds spread evenly over [50,000, 70,000) dollars, half BELOW half ABOVE
    for i in range(total):
        direction = keeper.BELOW if i % 2 else keeper.ABOVE
        threshold = (50_000 * E18) + (i * 20_000 * E18) // total
        store.set(trigger_key(pair, direction, threshold, hashlib.sha256(i.to_bytes(8, "big")).digest()), b"")
        if (i + 1) % 50_000 == 0 or i + 1 == total:
            version += 1
            ms.stage(branch, version)
            ms.commit()
            branch = ms.branch()
            store = branch.store(STORE)
            say(f"triggers: {i + 1}/{total} indexed")
    # a fall across 2% of the threshold range: the BELOW half of it (1% of all triggers) fires
    previous = 60_000 * E18
    price = previous - (400 * E18)
    expected = sum(
        1 for i in range(1, total, 2) if price < (50_000 * E18) + (i * 20_000 * E18) // total <= previous
    )
    index_times, scan_times = [], []
    found = 0
    for _ in range(repeats):
        ctx = Context(branch=ms.branch(), chain_id="bench", height=ms.last_version)
        started = time.perf_counter()
        found = len(triggers.crossed(ctx, pair, price, previous))
        index_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        below = trigger_prefix(pair, keeper.BELOW)
        scanned = 0
        for key, _ in ctx.store(STORE).iterate_prefix(TRIGGER_PREFIX):
            threshold = int.from_bytes(key[len(below) : len(below) + 32], "big")
            if key.startswith(below) and price < threshold <= previous:
                scanned += 1
        scan_times.append(time.perf_counter() - started)
        assert scanned == found == expected, (scanned, found, expected)
    ms.close()
    index_ms, scan_ms = statistics.median(index_times) * 1000, statistics.median(scan_times) * 1000
    say(f"triggers: {found} of {total} found in {index_ms:.2f} ms by the index, {scan_ms:.0f} ms by a scan")
    return {
        "triggers": total,
        "fired": found,
        "index_ms": round(index_ms, 3),
        "full_scan_ms": round(scan_ms, 1),
        "scan_to_index": round(scan_ms / index_ms, 1),
    }


def main() -> None:
    """Run the three measurements; print one JSON object last."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (200 tasks, 10,000 triggers)")
    parser.add_argument("--tasks", type=int, default=1_000, help="due tasks in the measured block")
    parser.add_argument("--repeat", type=int, default=3, help="due-block measurements per kind (median)")
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed afterwards)")
    args = parser.parse_args()
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="bench-wasm-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        figures: dict[str, Any] = {"quick": args.quick}
        tasks = 200 if args.quick else args.tasks
        figures["due_block"] = bench_due_block(workdir, tasks, 1 if args.quick else args.repeat)
        figures["runtime"] = bench_runtime(workdir, 200 if args.quick else 2_000)
        figures["triggers"] = bench_triggers(
            workdir, 10_000 if args.quick else 100_000, 5 if args.quick else 20
        )
        figures["rates"] = bench_rates(workdir)
        figures["rates"]["basic_task_block_mgas_per_s"] = figures["due_block"]["basic_mgas_per_s"]
        figures["compile"] = bench_compile(workdir)
    finally:
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
