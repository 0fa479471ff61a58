"""The parts of ``cosmos.tx.v1beta1.Service`` that the Cosmos SDK answers from CometBFT (x/auth/tx/
service.go): BroadcastTx (``broadcast_tx_sync`` / ``broadcast_tx_async``), GetTx (``/tx``),
GetTxsEvent (``/tx_search``) and GetBlockWithTxs (``/block``), served over gRPC by asking this node's
CometBFT RPC.

Answers are the SDK's ``TxResponse``: height, upper-case hex ``txhash``, code, codespace, ``raw_log``,
``data`` (hex), gas, the decoded tx as an ``Any`` (``/cosmos.tx.v1beta1.Tx``), the block time in
RFC 3339 and the events. A tx CometBFT has not indexed (yet) is NOT_FOUND ``tx not found: <hash>``.
GetTxsEvent's page is bounded: at most :data:`MAX_LIMIT` txs a call.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from cosmos.base.abci.v1beta1 import abci_pb2 as sdk_abci_pb2
from cosmos.base.query.v1beta1 import pagination_pb2
from cosmos.tx.v1beta1 import service_pb2, tx_pb2
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from tendermint.abci import types_pb2 as abci
from tendermint.types import block_pb2, types_pb2
from tendermint.version import types_pb2 as version_pb2

Rpc = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
"""Calls a CometBFT JSON-RPC method with params; returns ``result`` or raises :class:`RpcFailure`."""

MAX_LIMIT = 100
DEFAULT_LIMIT = 100
_HASH = re.compile(r"[0-9A-Fa-f]{64}")
_QUERY = re.compile(r"[A-Za-z0-9_.\-]+(=|>=|<=|>|<)('[^']{0,256}'|[0-9]{1,20})")


class RpcFailure(Exception):
    """CometBFT answered an error (or could not be reached); ``not_found`` for an unknown tx."""

    def __init__(self, message: str, *, not_found: bool = False, invalid: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found
        self.invalid = invalid


def decoded_tx(raw: bytes) -> AnyProto | None:
    """The tx as ``Any{/cosmos.tx.v1beta1.Tx}`` (body and auth info decoded), or None if it is not one."""
    try:
        parts = tx_pb2.TxRaw.FromString(raw)
        tx = tx_pb2.Tx(
            body=tx_pb2.TxBody.FromString(parts.body_bytes),
            auth_info=tx_pb2.AuthInfo.FromString(parts.auth_info_bytes),
            signatures=list(parts.signatures),
        )
    except (DecodeError, RecursionError):
        return None
    packed = AnyProto()
    packed.Pack(tx, type_url_prefix="/")
    return packed


def _events(items: list[dict[str, Any]]) -> list[abci.Event]:
    events = []
    for item in items or []:
        event = abci.Event(type=str(item.get("type", "")))
        for attribute in item.get("attributes") or []:
            event.attributes.add(
                key=str(attribute.get("key", "")),
                value=str(attribute.get("value", "")),
                index=bool(attribute.get("index", False)),
            )
        events.append(event)
    return events


def tx_response(found: dict[str, Any], timestamp: str) -> sdk_abci_pb2.TxResponse:
    """CometBFT's ``/tx`` result (or one of ``/tx_search``'s) as the SDK's TxResponse."""
    result = found.get("tx_result") or {}
    raw = base64.b64decode(found.get("tx") or "")
    response = sdk_abci_pb2.TxResponse(
        height=int(found.get("height") or 0),
        txhash=str(found.get("hash", "")).upper(),
        codespace=str(result.get("codespace", "")),
        code=int(result.get("code") or 0),
        data=base64.b64decode(result.get("data") or "").hex().upper(),
        raw_log=str(result.get("log", "")),
        info=str(result.get("info", "")),
        gas_wanted=int(result.get("gas_wanted") or 0),
        gas_used=int(result.get("gas_used") or 0),
        timestamp=timestamp,
        events=_events(result.get("events") or []),
    )
    packed = decoded_tx(raw)
    if packed is not None:
        response.tx.CopyFrom(packed)
    return response


async def _block_time(rpc: Rpc, height: int, cache: dict[int, str]) -> str:
    """The RFC 3339 time of block ``height`` (as CometBFT gives it), asked once per height."""
    if height not in cache:
        header = await rpc("header", {"height": str(height)})
        cache[height] = str((header.get("header") or {}).get("time", ""))
    return cache[height]


async def get_tx(rpc: Rpc, request: service_pb2.GetTxRequest) -> service_pb2.GetTxResponse:
    """GetTx: the tx with hash ``request.hash`` (64 hex digits) and its TxResponse."""
    if not _HASH.fullmatch(request.hash):
        raise RpcFailure(f"tx hash {request.hash[:80]!r} must be 64 hex digits", invalid=True)
    try:
        found = await rpc(
            "tx", {"hash": base64.b64encode(bytes.fromhex(request.hash)).decode(), "prove": False}
        )
    except RpcFailure as exc:
        if "not found" in str(exc):
            raise RpcFailure(f"tx not found: {request.hash}", not_found=True) from exc
        raise
    response = tx_response(found, await _block_time(rpc, int(found.get("height") or 0), {}))
    answer = service_pb2.GetTxResponse(tx_response=response)
    if response.HasField("tx"):
        answer.tx.CopyFrom(_unpacked(response.tx))
    return answer


def _unpacked(packed: AnyProto) -> tx_pb2.Tx:
    tx = tx_pb2.Tx()
    packed.Unpack(tx)
    return tx


async def get_txs_event(rpc: Rpc, request: service_pb2.GetTxsEventRequest) -> service_pb2.GetTxsEventResponse:
    """GetTxsEvent: ``query`` (or the deprecated ``events``, joined with AND), page ``page`` (from 1) of
    ``limit`` (at most :data:`MAX_LIMIT`) txs, oldest first unless ORDER_BY_DESC."""
    query = request.query or " AND ".join(request.events)
    conditions = [c.strip() for c in query.split(" AND ")] if query else []
    if not conditions or len(conditions) > 8 or any(not _QUERY.fullmatch(c) for c in conditions):
        raise RpcFailure(
            "query must be 1 to 8 conditions joined by AND, each key=value, with a quoted string "
            "('...') or a number, e.g. message.sender='task1...'",
            invalid=True,
        )
    limit = (
        request.limit or (request.pagination.limit if request.HasField("pagination") else 0) or DEFAULT_LIMIT
    )
    if not 1 <= limit <= MAX_LIMIT:
        raise RpcFailure(f"limit {limit} must be between 1 and {MAX_LIMIT}", invalid=True)
    page = request.page or 1
    if page > 10**6:
        raise RpcFailure("page must be at most 1000000", invalid=True)
    order = "desc" if request.order_by == service_pb2.ORDER_BY_DESC else "asc"
    found = await rpc(
        "tx_search",
        {
            "query": " AND ".join(conditions),
            "page": str(page),
            "per_page": str(limit),
            "order_by": order,
            "prove": False,
        },
    )
    times: dict[int, str] = {}
    responses = [
        tx_response(t, await _block_time(rpc, int(t.get("height") or 0), times))
        for t in found.get("txs") or []
    ]
    total = int(found.get("total_count") or 0)
    return service_pb2.GetTxsEventResponse(
        txs=[_unpacked(r.tx) for r in responses if r.HasField("tx")],
        tx_responses=responses,
        pagination=pagination_pb2.PageResponse(total=total),
        total=total,
    )


async def broadcast_tx(rpc: Rpc, request: service_pb2.BroadcastTxRequest) -> service_pb2.BroadcastTxResponse:
    """BroadcastTx: BROADCAST_MODE_SYNC (CheckTx's answer) or BROADCAST_MODE_ASYNC; other modes are
    refused (the SDK removed BLOCK; poll GetTx for the result)."""
    modes = {
        service_pb2.BROADCAST_MODE_SYNC: "broadcast_tx_sync",
        service_pb2.BROADCAST_MODE_ASYNC: "broadcast_tx_async",
    }
    method = modes.get(request.mode)
    if method is None:
        raise RpcFailure("mode must be BROADCAST_MODE_SYNC or BROADCAST_MODE_ASYNC", invalid=True)
    if not request.tx_bytes:
        raise RpcFailure("tx_bytes is empty", invalid=True)
    result = await rpc(method, {"tx": base64.b64encode(request.tx_bytes).decode()})
    return service_pb2.BroadcastTxResponse(
        tx_response=sdk_abci_pb2.TxResponse(
            txhash=str(result.get("hash", "")).upper(),
            codespace=str(result.get("codespace", "")),
            code=int(result.get("code") or 0),
            data=base64.b64decode(result.get("data") or "").hex().upper(),
            raw_log=str(result.get("log", "")),
        )
    )


def _block_id(data: dict[str, Any]) -> types_pb2.BlockID:
    parts = data.get("parts") or {}
    return types_pb2.BlockID(
        hash=bytes.fromhex(data.get("hash") or ""),
        part_set_header=types_pb2.PartSetHeader(
            total=int(parts.get("total") or 0), hash=bytes.fromhex(parts.get("hash") or "")
        ),
    )


def _timestamp(text: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp


def block_of(data: dict[str, Any]) -> block_pb2.Block:
    """CometBFT's ``/block`` JSON ``block`` as ``tendermint.types.Block`` (evidence left out)."""
    h = data.get("header") or {}
    version = h.get("version") or {}
    header = types_pb2.Header(
        version=version_pb2.Consensus(block=int(version.get("block") or 0), app=int(version.get("app") or 0)),
        chain_id=str(h.get("chain_id", "")),
        height=int(h.get("height") or 0),
        time=_timestamp(h["time"]),
        last_block_id=_block_id(h.get("last_block_id") or {}),
        proposer_address=bytes.fromhex(h.get("proposer_address") or ""),
    )
    for name in (
        "last_commit_hash", "data_hash", "validators_hash", "next_validators_hash", "consensus_hash",
        "app_hash", "last_results_hash", "evidence_hash",
    ):  # fmt: skip
        setattr(header, name, bytes.fromhex(h.get(name) or ""))
    commit = data.get("last_commit") or {}
    last_commit = types_pb2.Commit(
        height=int(commit.get("height") or 0),
        round=int(commit.get("round") or 0),
        block_id=_block_id(commit.get("block_id") or {}),
    )
    for sig in commit.get("signatures") or []:
        entry = last_commit.signatures.add(
            block_id_flag=int(sig.get("block_id_flag") or 0),
            validator_address=bytes.fromhex(sig.get("validator_address") or ""),
            signature=base64.b64decode(sig.get("signature") or ""),
        )
        if sig.get("timestamp"):
            entry.timestamp.CopyFrom(_timestamp(sig["timestamp"]))
    txs = [base64.b64decode(t) for t in (data.get("data") or {}).get("txs") or []]
    return block_pb2.Block(header=header, data=types_pb2.Data(txs=txs), last_commit=last_commit)


async def get_block_with_txs(
    rpc: Rpc, request: service_pb2.GetBlockWithTxsRequest
) -> service_pb2.GetBlockWithTxsResponse:
    """GetBlockWithTxs: block ``height`` and a page of its txs decoded (``pagination`` offset and
    limit, at most :data:`MAX_LIMIT`; a tx that does not decode is left out of ``txs``)."""
    if request.height < 1:
        raise RpcFailure("height must be at least 1", invalid=True)
    page = request.pagination
    limit = page.limit or DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT or page.offset > 10**6:
        raise RpcFailure(
            f"pagination.limit must be between 1 and {MAX_LIMIT}, offset at most 1000000", invalid=True
        )
    try:
        found = await rpc("block", {"height": str(request.height)})
    except RpcFailure as exc:
        raise RpcFailure(str(exc), invalid=True) from exc
    block = block_of(found.get("block") or {})
    chosen = block.data.txs[page.offset : page.offset + limit]
    decoded = [decoded_tx(raw) for raw in chosen]
    return service_pb2.GetBlockWithTxsResponse(
        txs=[_unpacked(d) for d in decoded if d is not None],
        block_id=_block_id(found.get("block_id") or {}),
        block=block,
        pagination=pagination_pb2.PageResponse(total=len(block.data.txs)),
    )


def http_rpc(url: str, timeout: float = 10.0) -> Rpc:
    """An :data:`Rpc` over CometBFT's JSON-RPC at ``url`` (``http://host:port``), with aiohttp."""
    import aiohttp

    async def call(method: str, params: dict[str, Any]) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.post(url, json=body) as response,
            ):
                answer = json.loads(await response.text())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RpcFailure(f"CometBFT RPC at {url} did not answer {method}: {type(exc).__name__}") from exc
        if answer.get("error"):
            error = answer["error"]
            raise RpcFailure(f"{error.get('message', '')}: {error.get('data', '')}"[:500])
        result: dict[str, Any] = answer.get("result") or {}
        return result

    return call
