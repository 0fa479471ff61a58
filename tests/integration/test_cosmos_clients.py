"""The Cosmos SDK's query services, tried with the real clients (cosmpy 0.12, cosmjs 0.39) and raw.

cosmpy runs in its own virtualenv (``.venv-cosmpy``: it needs protobuf<6 and bundles cosmos.* stubs
that clash with the chain's), cosmjs under Node from ``tests/js`` (``npm ci`` of its lock file); both
are installed by ``make clients`` (which ``make test`` runs). Each is skipped, saying why, where its
runtime is missing. docs/cosmos-services.md lists what is served.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cosmos.auth.v1beta1 import query_pb2 as auth_q
from cosmos.bank.v1beta1 import query_pb2 as bank_q
from cosmos.base.tendermint.v1beta1 import query_pb2 as tm_q

from abci_app.client import RpcClient
from abci_app.modules.grpc_status import bech32_of
from abci_app.node.keyring import Keyring
from tests.integration.localnet_harness import SingleNode

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("chains")]

ROOT = Path(__file__).resolve().parents[2]
COSMPY_PYTHON = ROOT / ".venv-cosmpy" / "bin" / "python"
JS_DIR = ROOT / "tests" / "js"
UNKNOWN = bech32_of("task", bytes(20))  # never funded
ELSEWHERE = bech32_of("task", b"\x01" * 20)  # receives the faucet's first tx


@pytest.fixture(scope="module")
def node(single_node: SingleNode) -> Iterator[tuple[SingleNode, str]]:
    """The node, and the faucet's address after one tx of its own (so its account shows its key)."""
    funded = Keyring(single_node.keyring_home).get(single_node.faucet_key).address
    sent = json.loads(
        single_node.cli("tx", "bank", "send", "faucet", ELSEWHERE, "5utask", "--fee", "600").stdout
    )
    assert sent["tx_result"]["code"] == 0, sent
    yield single_node, funded


def _env(node: SingleNode, funded: str) -> dict[str, str]:
    return {
        **os.environ,
        "RPC": node.rpc if node.rpc.startswith("http") else f"http://{node.rpc}",
        "GRPC": node.grpc,
        "CHAIN_ID": node.chain_id,
        "FUNDED": funded,
        "UNKNOWN": UNKNOWN,
    }


def test_unknown_account_over_abci_query_reads_as_the_sdks(node: tuple[SingleNode, str]) -> None:
    single, _ = node
    answer = RpcClient(single.rpc).abci_query(
        "/cosmos.auth.v1beta1.Query/Account", auth_q.QueryAccountRequest(address=UNKNOWN).SerializeToString()
    )
    assert (answer.codespace, answer.code) == ("sdk", 38)
    assert answer.log == f"rpc error: code = NotFound desc = account {UNKNOWN} not found: key not found"
    assert re.search(r"rpc error: code = NotFound", answer.log, re.I)  # what cosmjs's getAccount matches


def test_grpc_statuses(node: tuple[SingleNode, str]) -> None:
    single, funded = node
    with grpc.insecure_channel(single.grpc) as channel:
        account = channel.unary_unary(
            "/cosmos.auth.v1beta1.Query/Account",
            request_serializer=auth_q.QueryAccountRequest.SerializeToString,
            response_deserializer=auth_q.QueryAccountResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as missing:
            account(auth_q.QueryAccountRequest(address=UNKNOWN), timeout=10)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert missing.value.details() == f"account {UNKNOWN} not found"
        with pytest.raises(grpc.RpcError) as bad:
            account(auth_q.QueryAccountRequest(address="cosmos1xyz"), timeout=10)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        balance = channel.unary_unary(
            "/cosmos.bank.v1beta1.Query/Balance",
            request_serializer=bank_q.QueryBalanceRequest.SerializeToString,
            response_deserializer=bank_q.QueryBalanceResponse.FromString,
        )(bank_q.QueryBalanceRequest(address=funded, denom="utask"), timeout=10)
        assert balance.balance.denom == "utask" and int(balance.balance.amount) > 0
        by_height = channel.unary_unary(
            "/cosmos.base.tendermint.v1beta1.Service/GetBlockByHeight",
            request_serializer=tm_q.GetBlockByHeightRequest.SerializeToString,
            response_deserializer=tm_q.GetBlockByHeightResponse.FromString,
        )
        first = by_height(tm_q.GetBlockByHeightRequest(height=1), timeout=10)
        assert first.block.header.height == 1 and first.sdk_block.header.height == 1
        assert first.block.header.chain_id == single.chain_id
        assert first.sdk_block.header.proposer_address.startswith("taskvalcons1")
        # faithful to CometBFT: block 2 names block 1's id, its txs and times match CometBFT's JSON
        second = by_height(tm_q.GetBlockByHeightRequest(height=2), timeout=10)
        assert second.block.header.last_block_id == first.block_id
        raw = RpcClient(single.rpc).call("block", {"height": "2"})
        assert second.block_id.hash.hex().upper() == raw["block_id"]["hash"]
        assert second.block.header.app_hash.hex().upper() == raw["block"]["header"]["app_hash"]
        assert second.block.header.time.ToJsonString()[:19] == raw["block"]["header"]["time"][:19]
        validator_set = channel.unary_unary(
            "/cosmos.base.tendermint.v1beta1.Service/GetLatestValidatorSet",
            request_serializer=tm_q.GetLatestValidatorSetRequest.SerializeToString,
            response_deserializer=tm_q.GetLatestValidatorSetResponse.FromString,
        )(tm_q.GetLatestValidatorSetRequest(), timeout=10)
        assert validator_set.pagination.total == len(validator_set.validators) == 1
        assert validator_set.validators[0].address.startswith("taskvalcons1")
        assert validator_set.validators[0].pub_key.type_url == "/cosmos.crypto.ed25519.PubKey"
        node_info = channel.unary_unary(
            "/cosmos.base.tendermint.v1beta1.Service/GetNodeInfo",
            request_serializer=tm_q.GetNodeInfoRequest.SerializeToString,
            response_deserializer=tm_q.GetNodeInfoResponse.FromString,
        )(tm_q.GetNodeInfoRequest(), timeout=10)
        assert node_info.default_node_info.network == single.chain_id
        assert node_info.default_node_info.version.startswith("0.38.")
        with pytest.raises(grpc.RpcError) as future:
            by_height(tm_q.GetBlockByHeightRequest(height=10**12), timeout=10)
        assert future.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_comet_backed_services_over_abci_query_say_grpc_only(node: tuple[SingleNode, str]) -> None:
    single, _ = node
    answer = RpcClient(single.rpc).abci_query("/cosmos.base.tendermint.v1beta1.Service/GetLatestBlock")
    assert answer.code != 0
    assert answer.log.startswith("rpc error: code = Unimplemented desc = ")
    assert "gRPC only" in answer.log


@pytest.mark.skipif(not COSMPY_PYTHON.exists(), reason="no .venv-cosmpy: run `make clients`")
def test_cosmpy(node: tuple[SingleNode, str]) -> None:
    single, funded = node
    run = subprocess.run(
        [str(COSMPY_PYTHON), str(ROOT / "tests" / "clients" / "cosmpy_probe.py")],
        env=_env(single, funded),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["balance_funded"]["ok"] > 0, seen
    assert seen["balance_unknown"] == {"ok": 0}, seen
    assert any(c.endswith("utask") for c in seen["all_balances"]["ok"]), seen
    assert seen["account_funded"]["ok"]["address"] == funded, seen
    assert seen["account_funded"]["ok"]["sequence"] >= 1, seen  # the fixture sent one tx
    assert seen["account_unknown"]["grpc_code"] == "NOT_FOUND", seen
    assert seen["latest_block"]["ok"]["chain_id"] == single.chain_id, seen
    assert seen["height"]["ok"] >= seen["latest_block"]["ok"]["height"] >= 1, seen
    assert seen["chain_id"]["ok"] == single.chain_id, seen
    validators = seen["validators"]["ok"]
    assert validators and all(v["address"].startswith("taskvaloper1") for v in validators), seen
    assert all(v["status"] == "BONDED" and v["tokens"] > 0 for v in validators), seen
    assert seen["node_info"]["ok"]["sdk"] == "0.50.15", seen
    assert "ok" in seen["max_gas"], seen
    assert "ok" in seen["staking_summary"], seen


@pytest.mark.skipif(
    shutil.which("node") is None or not (JS_DIR / "node_modules" / "@cosmjs" / "stargate").exists(),
    reason="no Node or no tests/js/node_modules: run `make clients`",
)
def test_cosmjs(node: tuple[SingleNode, str]) -> None:
    single, funded = node
    run = subprocess.run(
        ["node", "--test", "--test-reporter=spec", "cosmjs.test.mjs"],
        cwd=JS_DIR,
        env=_env(single, funded),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
