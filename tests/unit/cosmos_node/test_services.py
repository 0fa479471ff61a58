"""The CometBFT-backed services' error mapping and their refusal to run on the application's thread.

The RPC double answers what CometBFT v0.38's JSON-RPC documents for ``/status`` (the shape quoted in
tests/property/cosmos_node/test_comet_json.py); the real thing is driven in
tests/integration/test_cosmos_clients.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cosmos.base.tendermint.v1beta1 import query_pb2 as tm

from abci_app.modules.cosmos_node.rpc import CometRpc, CometRpcError, CometUnavailable, http_url
from abci_app.modules.cosmos_node.services import routes
from abci_app.modules.grpc_status import StatusError
from tests.property.cosmos_node.test_comet_json import STATUS


class FakeRpc(CometRpc):
    def __init__(self, answer: Any) -> None:
        super().__init__("http://127.0.0.1:1")
        self.answer = answer

    def call(self, method: str, **params: int) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _handler(rpc: CometRpc, method: str) -> Any:
    return next(r.handler for r in routes(rpc) if r.method == method)


def test_node_info_names_the_app_and_a_pep440_sdk_version() -> None:
    info = _handler(FakeRpc(STATUS), "GetNodeInfo")(None, tm.GetNodeInfoRequest())
    assert info.default_node_info.network == "disco"
    assert info.application_version.cosmos_sdk_version == "v0.50.15"
    assert info.application_version.name == info.application_version.app_name == "taskmaster"


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (CometUnavailable("connection refused"), "Unavailable"),
        (CometRpcError("height 9 is not available"), "InvalidArgument"),
        ({"node_info": 5}, "Internal"),
    ],
)
def test_rpc_failures_become_grpc_statuses(answer: Any, status: str) -> None:
    with pytest.raises(StatusError) as err:
        _handler(FakeRpc(answer), "GetNodeInfo")(None, tm.GetNodeInfoRequest())
    assert err.value.status == status


def test_a_block_beyond_the_chain_is_an_invalid_argument() -> None:
    with pytest.raises(StatusError) as err:
        _handler(FakeRpc(STATUS), "GetBlockByHeight")(None, tm.GetBlockByHeightRequest(height=26084))
    assert err.value.status == "InvalidArgument" and "26083" in err.value.description


def test_on_the_event_loop_they_refuse_instead_of_waiting_on_cometbft() -> None:
    handler = _handler(FakeRpc(STATUS), "GetSyncing")

    async def on_loop() -> None:
        with pytest.raises(StatusError) as err:
            handler(None, tm.GetSyncingRequest())
        assert err.value.status == "Unimplemented"
        assert err.value.log.startswith("rpc error: code = Unimplemented desc = ")
        done = await asyncio.to_thread(handler, None, tm.GetSyncingRequest())  # as the gRPC server runs it
        assert done.syncing is False

    asyncio.run(on_loop())


@pytest.mark.parametrize(
    ("laddr", "url"),
    [("tcp://0.0.0.0:26657", "http://127.0.0.1:26657"), ("tcp://127.0.0.1:5", "http://127.0.0.1:5")],
)
def test_rpc_listen_address_to_url(laddr: str, url: str) -> None:
    assert http_url(laddr) == url


def test_unix_sockets_are_not_supported() -> None:
    with pytest.raises(ValueError, match="tcp://"):
        http_url("unix:///tmp/rpc.sock")
