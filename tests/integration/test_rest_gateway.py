"""The REST gateway of a real node (``taskmaster start`` + CometBFT): the explorer endpoints of
/work/shared/cosmos-clients.md §D, taskmaster routes, the OpenAPI document and the Swagger page."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from abci_app.modules.grpc_status import bech32_of
from abci_app.node.home import AppSettings
from abci_app.node.keyring import Keyring
from tests.integration.localnet_harness import SingleNode, wait_for, wait_for_height


def _get(base: str, path: str) -> tuple[int, Any, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=20) as answer:
            raw = answer.read()
            status = answer.status
    except urllib.error.HTTPError as err:
        raw = err.read()
        status = err.code
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return status, body, raw


@pytest.fixture(scope="module")
def base(single_node: SingleNode) -> str:
    address = AppSettings.load(single_node.home).api_address
    assert address, "the harness gives every node a REST address"
    url = f"http://{address}"
    wait_for_height(single_node.rpc, 2)
    wait_for(lambda: _get(url, "/cosmos/base/tendermint/v1beta1/syncing")[0] == 200, 30, "the REST gateway")
    return url


def test_the_explorer_endpoints(base: str, single_node: SingleNode) -> None:
    status, info, _ = _get(base, "/cosmos/base/tendermint/v1beta1/node_info")
    assert status == 200 and info["default_node_info"]["network"] == single_node.chain_id
    status, latest, _ = _get(base, "/cosmos/base/tendermint/v1beta1/blocks/latest")
    assert status == 200 and int(latest["sdk_block"]["header"]["height"]) >= 2
    status, block, _ = _get(base, "/cosmos/base/tendermint/v1beta1/blocks/1")
    assert status == 200 and block["block"]["header"]["height"] == "1"
    faucet = Keyring(single_node.keyring_home).get(single_node.faucet_key).address
    status, balances, _ = _get(base, f"/cosmos/bank/v1beta1/balances/{faucet}")
    assert status == 200 and int(balances["balances"][0]["amount"]) > 0
    status, account, _ = _get(base, f"/cosmos/auth/v1beta1/accounts/{faucet}")
    assert status == 200 and account["account"]["address"] == faucet
    unknown = bech32_of("task", bytes(20))
    status, error, _ = _get(base, f"/cosmos/auth/v1beta1/accounts/{unknown}")
    assert status == 404 and error["code"] == 5 and unknown in error["message"]
    status, validators, _ = _get(base, "/cosmos/staking/v1beta1/validators")
    assert status == 200 and validators["validators"][0]["status"] == "BOND_STATUS_BONDED"


def test_the_tx_service_is_not_served_yet(base: str) -> None:
    """cosmos.tx.v1beta1.Service is not on main yet: its route is absent (404, code 5), not 200."""
    status, error, _ = _get(base, "/cosmos/tx/v1beta1/txs/" + "AB" * 32)
    assert status == 404 and error["code"] == 5


def test_taskmaster_routes(base: str) -> None:
    status, params, _ = _get(base, "/taskmaster/tasks/v1/params")
    assert status == 200 and int(params["params"]["min_interval"]) > 0
    status, validators, _ = _get(base, "/taskmaster/staking/v1/validators?pagination.limit=1")
    assert status == 200 and len(validators["validators"]) == 1
    status, pool, _ = _get(base, "/taskmaster/staking/v1/pool")
    assert status == 200 and pool, pool
    status, error, _ = _get(base, "/taskmaster/tasks/v1/tasks/" + "00" * 32)
    assert status in (400, 404) and error["code"] in (3, 5)
    status, supply, _ = _get(base, "/taskmaster/bank/v1/supply")
    assert status == 200 and supply, supply
    status, error, _ = _get(base, "/taskmaster/tasks/v1/tasks_in_range?start=x")
    assert status == 400 and error["code"] == 3


def test_openapi_lists_every_route_and_swagger_loads(base: str) -> None:
    status, doc, _ = _get(base, "/openapi.json")
    assert status == 200
    paths = doc["paths"]
    for path in (
        "/cosmos/base/tendermint/v1beta1/node_info",
        "/cosmos/base/tendermint/v1beta1/blocks/latest",
        "/cosmos/bank/v1beta1/balances/{address}",
        "/cosmos/auth/v1beta1/accounts/{address}",
        "/cosmos/staking/v1beta1/validators",
        "/taskmaster/tasks/v1/tasks/{task_hash}",
        "/taskmaster/tasks/v1/estimate_required_bond",
    ):
        assert path in paths, path
    assert sum(len(ops) for ops in paths.values()) >= 68  # every rpc but the SDK's shadowed bech32 twin
    status, _, html = _get(base, "/swagger/")
    assert status == 200
    assets = re.findall(r'(?:href|src)="\./([^"]+)"', html.decode())
    assert len(assets) >= 5
    for asset in assets:
        status, _, raw = _get(base, f"/swagger/{asset}")
        assert status == 200 and raw, asset
