"""The ``taskmaster`` command as a new user meets it (issue 20, finding 6): node addresses, JSON output,
``version``, the signing key, ``--start-in``, the task hash, ``--file`` nonces, balances and denoms."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from taskmaster.bank.v1 import bank_pb2
from taskmaster.staking.v1 import staking_pb2

from abci_app import cli_support
from abci_app.cli import main
from abci_app.cli_support import CliError, explain_balance, require_known_denom
from abci_app.client import NodeAddressError, RpcClient, rpc_url
from abci_app.modules.tasks import cli as tasks_cli
from abci_app.modules.tasks.keeper import task_hash
from abci_app.node.keyring import Keyring

# CometBFT's documented answer to ``status`` (docs.cometbft.com, v0.38 RPC reference, "Status"),
# trimmed to the fields a client reads.
STATUS = {
    "jsonrpc": "2.0",
    "id": -1,
    "result": {
        "node_info": {"network": "cosmoshub-2", "version": "0.32.1"},
        "sync_info": {
            "latest_block_hash": "790BA84C3545FCCC49A5C629CEE6EA58A6E875C3862175BDC11EE7AF54703501",
            "latest_app_hash": "C9AEBB441B787D9F1D846DE51F3826F4FD386108B59B08239653ABF59455C3F8",
            "latest_block_height": "1262196",
            "catching_up": False,
        },
    },
}


class _Status(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps(STATUS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def rpc_port() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``taskmaster argv``: (exit status, stdout, stderr)."""
    try:
        main(list(argv))
        status = 0
    except SystemExit as exc:
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


# -- --node ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "tcp://127.0.0.1:{port}", "http://127.0.0.1:{port}"])
def test_status_reaches_the_node_at_every_address_form_cometbft_and_make_run_print(
    capsys: pytest.CaptureFixture[str], rpc_port: int, form: str
) -> None:
    status, out, err = run(capsys, "status", "--node", form.format(port=rpc_port))
    assert status == 0, err
    assert "height 1262196" in out


@pytest.mark.parametrize(
    "node", ["127.0.0.1", "localhost:port", "unix:///tmp/cmt.sock", "127.0.0.1:99999", "tcp://:26657", ""]
)
def test_an_address_that_cannot_be_parsed_says_what_to_write_and_blames_no_node(
    capsys: pytest.CaptureFixture[str], node: str
) -> None:
    status, _, err = run(capsys, "status", "--node", node)
    assert status == 1
    assert "host:port" in err and "is the node running" not in err


@given(
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z0-9-]{1,10}){0,3}", fullmatch=True),
    port=st.integers(1, 65535),
    scheme=st.sampled_from(["", "tcp://", "http://"]),
)
def test_every_host_port_form_becomes_the_same_http_url(host: str, port: int, scheme: str) -> None:
    assert rpc_url(f"{scheme}{host}:{port}") == f"http://{host}:{port}"


@given(st.text(max_size=40))
def test_rpc_url_accepts_or_refuses_any_text_without_other_errors(text: str) -> None:
    try:
        url = rpc_url(text)
    except NodeAddressError as exc:
        assert "host:port" in str(exc)
    else:
        assert url.startswith(("http://", "https://"))


def test_an_unreachable_node_is_named_by_its_url(capsys: pytest.CaptureFixture[str]) -> None:
    client = RpcClient("127.0.0.1:1", timeout=2.0)
    with pytest.raises(
        Exception, match=r"cannot reach CometBFT RPC at http://127\.0\.0\.1:1: .*node running"
    ):
        client.status()


# -- -o json ------------------------------------------------------------------------------------------


def test_an_error_in_json_mode_is_a_json_object_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "status", "--node", "nonsense", "-o", "json")
    assert status == 1 and out == ""
    assert "host:port" in json.loads(err)["error"]


def test_a_usage_error_in_json_mode_is_json_too(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "-o", "json", "tx", "tasks", "schedule", "k", "--start-in", "1")
    assert status == 2 and out == ""
    assert "--start-in 2" in json.loads(err)["error"]


def test_an_empty_keyring_lists_as_an_empty_json_array(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, out, _ = run(capsys, "keys", "list", "--home", str(tmp_path), "-o", "json")
    assert status == 0 and json.loads(out) == []


def test_an_empty_snapshot_list_is_an_empty_json_array(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "config").mkdir()
    status, out, _ = run(capsys, "snapshots", "list", "--home", str(tmp_path), "-o", "json")
    assert status == 0 and json.loads(out) == []
    status, out, _ = run(capsys, "snapshots", "list", "--home", str(tmp_path))
    assert status == 0 and "no snapshots" in out


def test_an_empty_list_in_a_response_is_an_empty_json_array() -> None:
    empty = cli_support.msg_dict(staking_pb2.QueryDelegationsResponse())
    assert empty["delegations"] == []


# -- version ------------------------------------------------------------------------------------------


def test_version_prints_the_application_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "version")
    assert status == 0 and out.strip() == "0.1.0"


def test_version_long_names_cometbft_python_and_the_commit(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "version", "--long", "-o", "json")
    info = json.loads(out)
    assert status == 0 and set(info) == {"version", "cometbft", "python", "commit"}
    assert info["python"].split()[-1].count(".") == 2 and info["cometbft"]


# -- the signing key ----------------------------------------------------------------------------------


def test_delegate_without_from_is_refused_instead_of_signing_with_validator(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    Keyring(tmp_path).add("validator")
    status, _, err = run(capsys, "tx", "staking", "delegate", "task1x", "5utask", "--home", str(tmp_path))
    assert status == 1 and "--from KEY" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["tx", "bank", "send", "--from", "alice", "task1to", "5utask"],
        ["tx", "bank", "send", "alice", "task1to", "5utask"],
        ["tx", "bank", "send", "task1to", "--from", "alice", "5utask"],
        ["tx", "staking", "delegate", "task1to", "5utask", "--from", "alice"],
        ["tx", "tasks", "cancel", "--from", "alice", "abcd"],
        ["tx", "tasks", "cancel", "alice", "abcd"],
        ["tx", "oracle", "unjail", "--from", "alice"],
        ["tx", "wasm", "store", "--from", "alice", "m.wasm"],
    ],
)
def test_every_tx_command_takes_from_and_keeps_its_positional_key(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from abci_app.cli import build_parser

    args = build_parser().parse_args(argv)
    cli_support.resolve_signer(args)
    assert args.from_key == "alice"


def test_a_key_named_twice_differently_is_refused() -> None:
    from abci_app.cli import build_parser

    args = build_parser().parse_args(["tx", "bank", "send", "alice", "task1to", "5utask", "--from", "bob"])
    with pytest.raises(CliError, match="named twice"):
        cli_support.resolve_signer(args)


# -- tasks ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "1"])
def test_start_in_below_two_is_refused_with_the_minimum(value: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="--start-in 2 or more"):
        tasks_cli._start_in_type(value)


def test_start_in_two_is_the_height_plus_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RpcClient, "height", lambda self: 407)
    args = argparse.Namespace(start=None, start_in=tasks_cli._start_in_type("2"), node="127.0.0.1:26657")
    assert tasks_cli._start_block(args) == 409


def _definition_file(tmp_path: Path, task: dict[str, object]) -> str:
    path = tmp_path / "def.json"
    schedule = {"startBlock": "500", "executions": "1", "active": True}
    path.write_text(json.dumps({"task": task, "schedule": schedule}))
    return str(path)


OWNER = "task1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc50asuu0"


def test_a_definition_file_without_a_nonce_gets_the_chains_nonce_and_the_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def nonce(args: argparse.Namespace, owner: str) -> int:
        asked.append(owner)
        return 7

    monkeypatch.setattr(tasks_cli, "_account_nonce", nonce)
    args = argparse.Namespace(file=_definition_file(tmp_path, {"gas": "50000", "target": "/t"}), nonce=None)
    d = tasks_cli._definition(args, OWNER)
    assert (d.task.nonce, d.task.from_address, asked) == (7, OWNER, [OWNER])


def test_a_definition_file_keeps_the_nonce_it_gives_even_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tasks_cli, "_account_nonce", lambda args, owner: pytest.fail("asked the chain"))
    args = argparse.Namespace(
        file=_definition_file(tmp_path, {"nonce": "0", "fromAddress": OWNER}), nonce=None
    )
    assert tasks_cli._definition(args, "task1other").task.nonce == 0


def test_schedule_reports_the_hash_the_chain_names_the_task_by() -> None:
    from taskmaster.tasks.v1 import types_pb2

    d = types_pb2.TaskDefinition(task=types_pb2.Task(from_address=OWNER, gas=50_000, target="/t", nonce=3))
    assert tasks_cli._task_hash_outcome(d) == {"task_hash": task_hash(d.task).hex()}
    assert tasks_cli._task_hash_outcome(types_pb2.TaskDefinition()) == {}


# -- balances and denoms --------------------------------------------------------------------------------


def test_an_insufficient_balance_is_said_to_be_after_the_fee() -> None:
    log = f"insufficient funds: {OWNER} has 90utask, needs 100utask; fund the account or send less"
    said = explain_balance(log, OWNER, 10)
    assert f"{OWNER} has 90utask (balance after this tx's 10utask fee; 100utask before it), needs" in said
    assert explain_balance(log, "task1someoneelse", 10) == log


def test_an_unknown_denom_is_named_with_the_denoms_that_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    supply = bank_pb2.QueryTotalSupplyResponse(supply=[bank_pb2.Coin(denom="utask", amount="5")])
    monkeypatch.setattr(cli_support, "query", lambda *a: supply)
    with pytest.raises(CliError, match=r"unknown denom 'uatom'.*denoms are utask"):
        require_known_denom(argparse.Namespace(), "uatom")
    require_known_denom(argparse.Namespace(), "utask")
