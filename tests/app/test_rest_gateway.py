"""The REST gateway in front of an in-process app: JSON conventions, errors, limits, OpenAPI, Swagger UI."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient, TestServer

from abci_app.rest.openapi import openapi_path
from abci_app.rest.server import MAX_URL_BYTES, Gateway
from tests.app.driver import Chain, address_of


def _run(chain: Chain, body: Callable[[TestClient[Any, Any], Gateway], Awaitable[None]]) -> None:
    async def main() -> None:
        gateway = Gateway(chain.app)
        async with TestClient(TestServer(gateway.web_app())) as client:
            await body(client, gateway)

    asyncio.run(main())


def test_answers_use_proto_names_string_int64s_any_types_and_emit_defaults(chain: Chain) -> None:
    address = address_of(chain.accounts["user0"])

    async def body(client: TestClient[Any, Any], _: Gateway) -> None:
        r = await client.get(f"/cosmos/auth/v1beta1/accounts/{address}")
        assert r.status == 200
        account = (await r.json())["account"]
        assert account["@type"] == "/cosmos.auth.v1beta1.BaseAccount"
        assert account["pub_key"] is None  # unset message: null, as the SDK's EmitDefaults gateway
        assert isinstance(account["account_number"], str) and account["sequence"] == "0"
        r = await client.get(f"/cosmos/bank/v1beta1/balances/{address}?pagination.count_total=true")
        page = await r.json()
        assert page["balances"] == [{"denom": "utask", "amount": str(10**12)}]
        assert page["pagination"] == {"next_key": None, "total": "1"}
        first = await (await client.get("/cosmos/auth/v1beta1/accounts?pagination.limit=1")).json()
        key = first["pagination"]["next_key"]
        assert isinstance(key, str) and key  # base64, sent back percent-encoded reads the next page
        r = await client.get(
            f"/cosmos/auth/v1beta1/accounts?pagination.limit=1&pagination.key={quote(key, safe='')}"
        )
        second = await r.json()
        assert r.status == 200 and second["accounts"] and second["accounts"] != first["accounts"]
        r = await client.get("/cosmos/bank/v1beta1/supply/by_denom?denom=a%26b%2Bc")
        assert r.status == 400 and "'a&b+c'" in (await r.json())["message"]  # split, then decoded once
        r = await client.get("/cosmos/staking/v1beta1/validators")
        validator = (await r.json())["validators"][0]
        assert validator["status"] == "BOND_STATUS_BONDED"  # enums by name
        assert validator["consensus_pubkey"]["@type"] == "/cosmos.crypto.ed25519.PubKey"
        assert validator["jailed"] is False  # a default scalar is written

    _run(chain, body)


def test_errors_carry_the_grpc_code_and_its_http_status(chain: Chain) -> None:
    async def body(client: TestClient[Any, Any], _: Gateway) -> None:
        r = await client.get("/cosmos/auth/v1beta1/accounts/task1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqnrql8a")
        assert r.status == 400 and (await r.json())["code"] == 3
        r = await client.get("/cosmos/bank/v1beta1/denoms_metadata/nothing")
        error = await r.json()
        assert r.status == 404 and error["code"] == 5 and error["details"] == []
        assert "nothing" in error["message"]
        r = await client.get("/cosmos/staking/v1beta1/validators?pagination.limit=1001")
        assert r.status == 400 and (await r.json())["code"] == 3  # the shared paginator's maximum
        r = await client.get("/cosmos/staking/v1beta1/validators?pagination.limit=x")
        assert r.status == 400 and "pagination.limit" in (await r.json())["message"]
        r = await client.get("/no/such/route")
        assert r.status == 404 and (await r.json())["code"] == 5
        r = await client.delete("/cosmos/staking/v1beta1/validators")
        assert r.status == 405 and r.headers["Allow"] == "GET" and (await r.json())["code"] == 12
        r = await client.get("/cosmos/staking/v1beta1/validators", headers={"x-cosmos-block-height": "1e3"})
        assert r.status == 400
        r = await client.get("/cosmos/staking/v1beta1/validators?x=" + "a" * MAX_URL_BYTES)
        assert r.status in (400, 414)

    _run(chain, body)


def test_a_query_reads_the_height_of_the_header(chain: Chain) -> None:
    async def body(client: TestClient[Any, Any], _: Gateway) -> None:
        r = await client.get("/taskmaster/tasks/v1/params", headers={"x-cosmos-block-height": "1"})
        assert r.status == 200 and "params" in await r.json()
        r = await client.get("/taskmaster/tasks/v1/params", headers={"x-cosmos-block-height": "99"})
        assert r.status == 404 or (await r.json())["code"] in (3, 5)

    _run(chain, body)


def test_the_openapi_document_lists_every_served_route_and_swagger_loads_its_assets(chain: Chain) -> None:
    async def body(client: TestClient[Any, Any], gateway: Gateway) -> None:
        r = await client.get("/openapi.json")
        doc = await r.json()
        assert doc["openapi"].startswith("3.")
        served = gateway.table.served()
        listed = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
        assert listed == {(openapi_path(route), route.http_method) for route in served}
        op = doc["paths"]["/cosmos/bank/v1beta1/balances/{address}"]["get"]
        names = {p["name"] for p in op["parameters"]}
        assert {"address", "pagination.key", "pagination.limit"} <= names
        page = await client.get("/swagger/")
        html = await page.text()
        assets = re.findall(r'(?:href|src)="\./([^"]+)"', html)
        assert "swagger-ui-bundle.js" in assets and "swagger-initializer.js" in assets
        for asset in assets:
            answer = await client.get(f"/swagger/{asset}")
            assert answer.status == 200, asset
            assert len(await answer.read()) > 0
        init = await (await client.get("/swagger/swagger-initializer.js")).text()
        assert "../openapi.json" in init

    _run(chain, body)


def test_a_post_body_is_the_request_and_answers_what_abci_query_answers(chain: Chain) -> None:
    from google.protobuf import json_format
    from taskmaster.tasks.v1 import query_pb2 as tasks_q
    from tendermint.abci import types_pb2 as abci

    from tests.unit.tasks.task_chain import definition, put

    owner = address_of(chain.accounts["user0"])
    request = tasks_q.QueryEstimateRequiredBondRequest(
        definition=definition(
            owner, put(owner, b"k", b"x" * 20), 0, 10, gas=200_000, interval=2, executions=3
        ),
        gas_price="7",
    )
    direct = chain.app.query(
        abci.RequestQuery(
            path="/taskmaster.tasks.v1.Query/EstimateRequiredBond", data=request.SerializeToString()
        )
    )
    assert direct.code == 0, direct.log
    expected = tasks_q.QueryEstimateRequiredBondResponse.FromString(direct.value)

    async def body(client: TestClient[Any, Any], _: Gateway) -> None:
        r = await client.post(
            "/taskmaster/tasks/v1/estimate_required_bond", data=json_format.MessageToJson(request)
        )
        assert r.status == 200
        answer = await r.json()
        assert answer == {"bond": expected.bond, "gas_cap": str(expected.gas_cap)}
        r = await client.post("/taskmaster/tasks/v1/estimate_required_bond", data="{not json")
        assert r.status == 400 and (await r.json())["code"] == 3
        r = await client.post("/taskmaster/tasks/v1/estimate_required_bond", data='{"no_such_field": 1}')
        assert r.status == 400
        r = await client.post("/taskmaster/tasks/v1/estimate_required_bond", data="[" * 60_000)
        assert r.status == 400  # nested past the parser's recursion limit, within the size limit
        r = await client.post("/taskmaster/tasks/v1/estimate_required_bond", data="[" * 70_000)
        assert r.status == 413 and (await r.json())["code"] == 8

    _run(chain, body)
