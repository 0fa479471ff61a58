"""``cosmos.base.tendermint.v1beta1.Service`` and ``cosmos.consensus.v1.Query``, read from CometBFT's RPC.

The handlers call this node's CometBFT JSON-RPC (``/status``, ``/block``, ``/validators``,
``/consensus_params``) and build the SDK's protobuf answers (:mod:`.comet_json`). CometBFT's RPC can
wait on its consensus state, which can wait on the application: so these handlers never run on the
application's thread. The gRPC server runs them in a worker thread (``off_loop``); over ``abci_query``
they answer ``rpc error: code = Unimplemented desc = ... served over gRPC only`` (cosmjs reads blocks
and validators from CometBFT's RPC directly, so nothing it does needs them there).
"""

from __future__ import annotations

import asyncio
import functools
import platform
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from cosmos.base.query.v1beta1 import pagination_pb2
from cosmos.base.tendermint.v1beta1 import query_pb2 as tm
from cosmos.base.tendermint.v1beta1 import types_pb2 as tm_types
from cosmos.consensus.v1 import query_pb2 as consensus
from cosmos.crypto.ed25519 import keys_pb2 as ed25519_keys
from google.protobuf.message import Message
from tendermint.abci import types_pb2 as abci_types
from tendermint.types import block_pb2 as block_types
from tendermint.types import types_pb2

from abci_app.context import Context
from abci_app.modules import QueryRoute
from abci_app.modules.cosmos_node import comet_json
from abci_app.modules.cosmos_node.rpc import CometRpc, CometRpcError, CometUnavailable, http_url
from abci_app.modules.grpc_status import StatusError, bech32_of, invalid_argument
from abci_app.modules.pagination import page_limit

TENDERMINT_SERVICE = "cosmos.base.tendermint.v1beta1.Service"
CONSENSUS_SERVICE = "cosmos.consensus.v1.Query"
VALCONS_PREFIX = "taskvalcons"
APP_NAME = "taskmaster"
COSMOS_SDK_VERSION = "v0.50.15"
"""The Cosmos SDK release whose services and messages this node speaks (the repository's
``COSMOS_SDK_VERSION``, from which gen/cosmos is generated; a test keeps them equal)."""
MAX_VALIDATOR_PAGES = 100  # CometBFT pages validator sets by 100 at most: 10,000 validators

R = TypeVar("R", bound=Message)


def _app_version() -> str:
    try:
        return metadata.version("taskmaster-chain")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def off_loop(handler: Callable[[Context, Any], R]) -> Callable[[Context, Any], R]:
    """Mark a handler that reads CometBFT's RPC: run it in a thread; turn RPC failures into statuses."""

    @functools.wraps(handler)
    def run(ctx: Context, request: Any) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # a worker thread: free to wait on CometBFT
        else:
            raise StatusError(
                "Unimplemented",
                "this query reads CometBFT's RPC and is served over gRPC only; over CometBFT's RPC use "
                "its own /status, /block, /validators and /consensus_params",
            )
        try:
            return handler(ctx, request)
        except CometUnavailable as exc:
            raise StatusError("Unavailable", str(exc)) from exc
        except CometRpcError as exc:
            raise invalid_argument(f"CometBFT: {exc}") from exc
        except comet_json.CometJSONError as exc:
            raise StatusError("Internal", f"CometBFT's answer could not be read: {exc}") from exc

    run.off_loop = True  # type: ignore[attr-defined]
    return run


def sdk_block(block: block_types.Block) -> tm_types.Block:
    """The SDK's Block: CometBFT's with the proposer as a ``taskvalcons1...`` address."""
    h = block.header
    header = tm_types.Header(
        version=h.version,
        chain_id=h.chain_id,
        height=h.height,
        time=h.time,
        last_block_id=h.last_block_id,
        last_commit_hash=h.last_commit_hash,
        data_hash=h.data_hash,
        validators_hash=h.validators_hash,
        next_validators_hash=h.next_validators_hash,
        consensus_hash=h.consensus_hash,
        app_hash=h.app_hash,
        last_results_hash=h.last_results_hash,
        evidence_hash=h.evidence_hash,
        proposer_address=bech32_of(VALCONS_PREFIX, h.proposer_address) if h.proposer_address else "",
    )
    return tm_types.Block(
        header=header, data=block.data, evidence=block.evidence, last_commit=block.last_commit
    )


class Services:
    """The handlers, bound to one CometBFT RPC endpoint."""

    def __init__(self, rpc: CometRpc) -> None:
        self.rpc = rpc

    def _latest_height(self) -> int:
        height, _ = comet_json.sync_info(self.rpc.call("status"))
        return height

    def _block(self, height: int | None) -> tuple[types_pb2.BlockID, block_types.Block]:
        result = self.rpc.call("block", height=height) if height is not None else self.rpc.call("block")
        return comet_json.block_result(result)

    def get_node_info(self, ctx: Context, req: tm.GetNodeInfoRequest) -> tm.GetNodeInfoResponse:
        """CometBFT's node info and this application's versions."""
        return tm.GetNodeInfoResponse(
            default_node_info=comet_json.status_node_info(self.rpc.call("status")),
            application_version=tm.VersionInfo(
                name=APP_NAME,
                app_name=APP_NAME,
                version=_app_version(),
                build_tags="",
                go_version=f"python {platform.python_version()}",
                cosmos_sdk_version=COSMOS_SDK_VERSION,
            ),
        )

    def get_syncing(self, ctx: Context, req: tm.GetSyncingRequest) -> tm.GetSyncingResponse:
        """Whether CometBFT is catching up."""
        _, catching_up = comet_json.sync_info(self.rpc.call("status"))
        return tm.GetSyncingResponse(syncing=catching_up)

    def get_latest_block(self, ctx: Context, req: tm.GetLatestBlockRequest) -> tm.GetLatestBlockResponse:
        """The latest block (``block`` and ``sdk_block`` both filled)."""
        block_id, block = self._block(None)
        return tm.GetLatestBlockResponse(block_id=block_id, block=block, sdk_block=sdk_block(block))

    def get_block_by_height(
        self, ctx: Context, req: tm.GetBlockByHeightRequest
    ) -> tm.GetBlockByHeightResponse:
        """The block at ``height``; InvalidArgument for a height not yet reached."""
        latest = self._latest_height()
        if req.height < 1 or req.height > latest:
            raise invalid_argument(
                f"requested block height {req.height} is not in [1, {latest}] (the chain's length)"
            )
        block_id, block = self._block(req.height)
        return tm.GetBlockByHeightResponse(block_id=block_id, block=block, sdk_block=sdk_block(block))

    def _validator_set(
        self, height: int | None, page: pagination_pb2.PageRequest
    ) -> tuple[int, list[tm.Validator], pagination_pb2.PageResponse]:
        if page.key:
            raise invalid_argument("validator sets page by offset and limit; pagination.key is not supported")
        limit = min(page_limit(page), 100)
        found: list[tuple[bytes, bytes, int, int]] = []
        block_height = total = 0
        for number in range(1, MAX_VALIDATOR_PAGES + 1):
            args = {"page": number, "per_page": 100} | ({"height": height} if height is not None else {})
            block_height, total, listed = comet_json.validators(self.rpc.call("validators", **args))
            found.extend(listed)
            if not listed or len(found) >= total or len(found) >= page.offset + limit:
                break
        chosen = found[page.offset : page.offset + limit]
        out = []
        for address, key, power, priority in chosen:
            validator = tm.Validator(
                address=bech32_of(VALCONS_PREFIX, address), voting_power=power, proposer_priority=priority
            )
            validator.pub_key.Pack(ed25519_keys.PubKey(key=key), type_url_prefix="/")
            out.append(validator)
        return block_height, out, pagination_pb2.PageResponse(total=total)

    def get_latest_validator_set(
        self, ctx: Context, req: tm.GetLatestValidatorSetRequest
    ) -> tm.GetLatestValidatorSetResponse:
        """One page (offset, limit) of the latest validator set, in CometBFT's order."""
        height, validators, page = self._validator_set(None, req.pagination)
        return tm.GetLatestValidatorSetResponse(block_height=height, validators=validators, pagination=page)

    def get_validator_set_by_height(
        self, ctx: Context, req: tm.GetValidatorSetByHeightRequest
    ) -> tm.GetValidatorSetByHeightResponse:
        """One page of the validator set at ``height``."""
        latest = self._latest_height()
        if req.height < 1 or req.height > latest:
            raise invalid_argument(
                f"requested block height {req.height} is not in [1, {latest}] (the chain's length)"
            )
        height, validators, page = self._validator_set(req.height, req.pagination)
        return tm.GetValidatorSetByHeightResponse(block_height=height, validators=validators, pagination=page)

    def consensus_params(
        self, ctx: Context, req: consensus.QueryParamsRequest
    ) -> consensus.QueryParamsResponse:
        """CometBFT's consensus params at the latest height (``block.max_gas`` -1: no block gas limit)."""
        return consensus.QueryParamsResponse(
            params=comet_json.consensus_params(self.rpc.call("consensus_params"))
        )


def routes(rpc: CometRpc) -> tuple[QueryRoute, ...]:
    """The routes served from CometBFT at ``rpc`` (added to the router by ``taskmaster start``)."""
    s = Services(rpc)
    table: list[tuple[str, str, type[Message], type[Message], Callable[[Context, Any], Message]]] = [
        (TENDERMINT_SERVICE, "GetNodeInfo", tm.GetNodeInfoRequest, tm.GetNodeInfoResponse, s.get_node_info),
        (TENDERMINT_SERVICE, "GetSyncing", tm.GetSyncingRequest, tm.GetSyncingResponse, s.get_syncing),
        (
            TENDERMINT_SERVICE,
            "GetLatestBlock",
            tm.GetLatestBlockRequest,
            tm.GetLatestBlockResponse,
            s.get_latest_block,
        ),
        (
            TENDERMINT_SERVICE,
            "GetBlockByHeight",
            tm.GetBlockByHeightRequest,
            tm.GetBlockByHeightResponse,
            s.get_block_by_height,
        ),
        (
            TENDERMINT_SERVICE,
            "GetLatestValidatorSet",
            tm.GetLatestValidatorSetRequest,
            tm.GetLatestValidatorSetResponse,
            s.get_latest_validator_set,
        ),
        (
            TENDERMINT_SERVICE,
            "GetValidatorSetByHeight",
            tm.GetValidatorSetByHeightRequest,
            tm.GetValidatorSetByHeightResponse,
            s.get_validator_set_by_height,
        ),
        (
            CONSENSUS_SERVICE,
            "Params",
            consensus.QueryParamsRequest,
            consensus.QueryParamsResponse,
            s.consensus_params,
        ),
    ]
    return tuple(
        QueryRoute(svc, method, req, resp, off_loop(handler)) for svc, method, req, resp, handler in table
    )


def comet_rpc_of_home(home: Path) -> CometRpc | None:
    """The CometBFT RPC this node's ``config/config.toml`` listens on (None if it is not tcp://)."""
    try:
        config = tomllib.loads((home / "config" / "config.toml").read_text())
        return CometRpc(http_url(str(config.get("rpc", {}).get("laddr", ""))))
    except (OSError, ValueError, tomllib.TOMLDecodeError):
        return None


def abci_query_route(query: Callable[[abci_types.RequestQuery], abci_types.ResponseQuery]) -> QueryRoute:
    """``cosmos.base.tendermint.v1beta1.Service/ABCIQuery``: the application's own ``query`` (as the
    SDK's, which calls its app's Query), answered with the inner query's code, log and value.

    It does not read CometBFT, so it runs where the other state queries run; an ABCIQuery naming
    ABCIQuery again is refused (no nesting).
    """

    def handler(ctx: Context, req: tm.ABCIQueryRequest) -> tm.ABCIQueryResponse:
        if req.path == f"/{TENDERMINT_SERVICE}/ABCIQuery":
            raise invalid_argument("ABCIQuery cannot query ABCIQuery; name the query to run in path")
        inner = query(
            abci_types.RequestQuery(data=req.data, path=req.path, height=req.height, prove=req.prove)
        )
        return tm.ABCIQueryResponse(
            code=inner.code,
            log=inner.log,
            info=inner.info,
            index=inner.index,
            key=inner.key,
            value=inner.value,
            proof_ops=tm.ProofOps(
                ops=[tm.ProofOp(type=op.type, key=op.key, data=op.data) for op in inner.proof_ops.ops]
            )
            if inner.proof_ops.ops
            else None,
            height=inner.height,
            codespace=inner.codespace,
        )

    return QueryRoute(TENDERMINT_SERVICE, "ABCIQuery", tm.ABCIQueryRequest, tm.ABCIQueryResponse, handler)
