"""The tasks CLI parses numbers within bounds, and a committed broadcast says why a dropped tx failed."""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from abci_app.cli_support import CliError
from abci_app.client import RpcClient
from abci_app.modules.tasks import cli


@pytest.mark.parametrize("digits", [0, 4300])
def test_a_5000_digit_start_is_a_cli_error_under_any_int_digit_limit(digits: int) -> None:
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(digits)
    try:
        with pytest.raises(CliError, match="--start '99999"):
            cli._start_block(argparse.Namespace(start="9" * 5000, start_in=None, node=""))
    finally:
        sys.set_int_max_str_digits(before)


@pytest.mark.parametrize("text", ["18446744073709551616", "-1", "1e3", "١٢", ""])
def test_integer_flags_refuse_what_a_uint64_cannot_hold(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli.U64(text)


def test_integer_flags_accept_the_uint64_range() -> None:
    assert cli.U64("0") == 0 and cli.U64(str(2**64 - 1)) == 2**64 - 1


class FakeNode(RpcClient):
    """CometBFT's RPC as seen by one tx: blocks by height, a mempool and what a simulation answers now."""

    def __init__(self, blocks: list[list[bytes]], mempool: list[bytes], recheck: Mapping[str, Any]) -> None:
        super().__init__("http://fake")
        self.blocks = blocks  # blocks[0] is height 1
        self.mempool = mempool
        self.recheck = dict(recheck)
        self.visible = 1  # the height before the broadcast

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        p = dict(params or {})
        if method == "status":
            self.visible = min(self.visible + 1, len(self.blocks))  # a block per look
            return {"sync_info": {"latest_block_height": str(self.visible)}}
        if method == "broadcast_tx_sync":
            raw = base64.b64decode(p["tx"])
            return {"code": 0, "log": "", "hash": hashlib.sha256(raw).hexdigest().upper()}
        if method == "block":
            txs = [base64.b64encode(t).decode() for t in self.blocks[int(p["height"]) - 1]]
            return {"block": {"data": {"txs": txs}}}
        if method == "block_results":
            count = len(self.blocks[int(p["height"]) - 1])
            return {"txs_results": [{"code": 0, "log": "", "n": i} for i in range(count)]}
        if method == "unconfirmed_txs":
            txs = [base64.b64encode(t).decode() for t in self.mempool]
            return {"txs": txs, "total": str(len(txs))}
        if method == "abci_query" and p["path"] == "/app/simulate":
            return {"response": self.recheck}
        raise AssertionError(method)  # never check_tx: it would change the node's mempool state


def test_watched_broadcast_returns_the_result_of_the_block_that_includes_the_tx() -> None:
    node = FakeNode([[], [b"other"], [b"other", b"mine"]], [b"mine"], {})
    answer = node.broadcast(b"mine", "watch")
    assert answer["height"] == "3" and answer["tx_result"]["n"] == 1 and "evicted" not in answer


def test_watched_broadcast_reports_why_a_dropped_tx_failed_instead_of_timing_out() -> None:
    log = "start block not in the future: start_block 12 must be after the current block 12"
    node = FakeNode([[], [], []], [], {"code": 3, "codespace": "tasks", "log": log})
    answer = node.broadcast_watched(b"mine", timeout=5, poll=0)
    assert "tx_result" not in answer
    assert answer["evicted"] == {"code": 3, "codespace": "tasks", "log": log}


def test_cli_broadcast_prints_the_recheck_reason_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from abci_app import cli_support

    class Key:
        signing_key = None
        address = "task1x"

    class Keys:
        def __init__(self, *args: object) -> None: ...

        def get(self, name: str) -> Key:
            return Key()

    evicted = {"code": 3, "codespace": "tasks", "log": "start_block 12 must be after the current block 12"}
    modes: list[str] = []

    def sign_and_broadcast(self: RpcClient, *args: object, mode: str, **kw: object) -> dict[str, Any]:
        modes.append(mode)
        return {"hash": "AB", "height": "0", "check_tx": {"code": 0}, "evicted": evicted}

    monkeypatch.setattr(cli_support, "Keyring", Keys)
    monkeypatch.setattr(RpcClient, "sign_and_broadcast", sign_and_broadcast)
    args = argparse.Namespace(
        home="", node="http://x", fee=1, gas=1, memo="", broadcast_mode="commit", output="text"
    )
    with pytest.raises(SystemExit) as exited:
        cli_support.broadcast(args, "k", [])
    assert exited.value.code == 1 and modes == ["watch"]
    out = capsys.readouterr().out
    assert "left the mempool without being included" in out and "tasks/3: start_block 12" in out


def test_a_schedule_whose_start_block_passes_in_the_mempool_fails_in_its_block_paying_its_fee(
    tmp_path: Path,
) -> None:
    """CheckTx runs the ante checks only (docs/security.md): a schedule whose start block passes
    while it waits (the tx arrived after the next block's proposal) is not dropped by the recheck;
    its block says why it failed, and its fee is paid."""
    from tendermint.abci import types_pb2 as abci

    from abci_app.modules.bank import keeper as bank
    from abci_app.tx.address import from_bech32
    from tests.unit.tasks.task_chain import definition, put, schedule_msg, start

    tc = start(str(tmp_path / "db"))
    tc.block()
    owner = tc.addr("user0")
    tx = tc.tx("user0", [schedule_msg(definition(owner, put(owner, b"k", b"v"), 0, tc.height + 2))])
    assert tc.app.check_tx(abci.RequestCheckTx(tx=tx)).code == 0
    tc.block()  # that block was proposed before the tx arrived
    assert tc.app.check_tx(abci.RequestCheckTx(tx=tx, type=abci.RECHECK)).code == 0
    ctx = tc.app._context(tc.app.store.branch(), tc.chain.height)
    before = bank.balance(ctx, from_bech32(owner), "utask")
    result = tc.block([tx]).tx_results[0]
    assert (result.codespace, result.code) == ("tasks", 3) and "start_block" in result.log
    ctx = tc.app._context(tc.app.store.branch(), tc.chain.height)
    assert bank.balance(ctx, from_bech32(owner), "utask") == before - 5000
