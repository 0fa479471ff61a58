"""A small client of CometBFT's JSON-RPC (status, abci_query, broadcast) and of our gRPC queries.

Used by the CLI, the tests and the benchmarks; it only speaks to the addresses it is given.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from taskmaster.auth.v1 import auth_pb2

from abci_app.tx.codec import Signer, build_tx


class RpcError(Exception):
    """The node answered with an error, or could not be reached."""


@dataclass(frozen=True)
class QueryAnswer:
    """What ``abci_query`` returned."""

    code: int
    codespace: str
    log: str
    value: bytes
    height: int
    proof_ops: list[dict[str, Any]]


SIMULATE_PATH = "/app/simulate"
"""The application's query that runs a tx, messages included, as a block would, changing nothing (app.py)."""


class NodeAddressError(RpcError):
    """``--node`` is not an address this client can use (nothing was sent)."""


_HOST = re.compile(r"[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]")


def rpc_url(node: str) -> str:
    """The HTTP URL of CometBFT's RPC at ``node``: ``host:port``, ``tcp://host:port`` (CometBFT's own
    ``laddr`` form, what ``make run`` prints) or ``http(s)://host:port[/path]``.

    Raises NodeAddressError, saying what to write, for anything else; nothing is contacted.
    """
    text = node.strip()
    scheme, sep, rest = text.partition("://")
    given = scheme if sep else ""
    if given not in ("", "tcp", "http", "https"):
        raise NodeAddressError(
            f"--node {text!r}: scheme {given}:// is not supported; give host:port (e.g. 127.0.0.1:26657), "
            "tcp://host:port or http://host:port"
        )
    hostport, slash, path = (rest if sep else text).partition("/")
    host, colon, port = hostport.rpartition(":")
    if not colon and given in ("http", "https"):
        host, port = hostport, "443" if given == "https" else "80"  # the scheme's own port
    if not _HOST.fullmatch(host) or not port.isdigit() or not 0 < int(port[:6]) < 65536:
        raise NodeAddressError(
            f"--node {text!r} is not an RPC address; give host:port (e.g. 127.0.0.1:26657), tcp://host:port "
            "or http://host:port"
        )
    scheme = "http" if given in ("", "tcp") else given
    return f"{scheme}://{hostport}{slash}{path}".rstrip("/")


class RpcClient:
    """CometBFT JSON-RPC over HTTP at ``node`` (``host:port``, ``tcp://host:port`` or ``http://host:port``)."""

    def __init__(self, node: str, timeout: float = 30.0) -> None:
        self.node = rpc_url(node)
        self.timeout = timeout

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """One JSON-RPC call; returns ``result`` or raises RpcError with the node's message."""
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": method, "params": dict(params or {})}
        ).encode()
        request = urllib.request.Request(self.node, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise RpcError(
                f"{self.node} answered HTTP {exc.code} {exc.reason}; is it CometBFT's RPC address?"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RpcError(
                f"cannot reach CometBFT RPC at {self.node}: {reason}; is the node running?"
            ) from exc
        try:
            answer = json.loads(body)
            answer.get("result")
        except (ValueError, AttributeError) as exc:
            raise RpcError(f"{self.node} did not answer JSON-RPC; is it CometBFT's RPC address?") from exc
        if "error" in answer:
            err = answer["error"]
            raise RpcError(f"{method}: {err.get('message', '')} {err.get('data', '')}".strip())
        return answer["result"]

    def status(self) -> dict[str, Any]:
        """The node's /status result."""
        result: dict[str, Any] = self.call("status")
        return result

    def height(self) -> int:
        """The latest block height."""
        return int(self.status()["sync_info"]["latest_block_height"])

    def abci_query(self, path: str, data: bytes = b"", height: int = 0, prove: bool = False) -> QueryAnswer:
        """Run ``abci_query``."""
        result = self.call(
            "abci_query", {"path": path, "data": data.hex(), "height": str(height), "prove": prove}
        )["response"]
        return QueryAnswer(
            code=int(result.get("code", 0)),
            codespace=result.get("codespace", ""),
            log=result.get("log", ""),
            value=base64.b64decode(result.get("value") or ""),
            height=int(result.get("height", 0)),
            proof_ops=(result.get("proofOps") or {}).get("ops") or [],
        )

    def query(self, path: str, request: Message, response_type: type[Message], height: int = 0) -> Message:
        """A module query: protobuf request in, protobuf response out; raises RpcError on a non-zero code."""
        answer = self.abci_query(path, request.SerializeToString(), height)
        if answer.code != 0:
            raise RpcError(f"{path}: code {answer.codespace}/{answer.code}: {answer.log}")
        return response_type.FromString(answer.value)

    def broadcast(self, tx: bytes, mode: str = "commit") -> dict[str, Any]:
        """``broadcast_tx_<mode>`` (sync, async or commit), or ``watch`` (:meth:`broadcast_watched`)."""
        if mode == "watch":
            return self.broadcast_watched(tx)
        result: dict[str, Any] = self.call(f"broadcast_tx_{mode}", {"tx": base64.b64encode(tx).decode()})
        return result

    def broadcast_watched(self, tx: bytes, timeout: float = 40.0, poll: float = 0.25) -> dict[str, Any]:
        """Broadcast ``tx`` (sync) and follow it until a block includes it or the mempool drops it.

        Returns the shape of ``broadcast_tx_commit`` (``check_tx``, ``tx_result``, ``hash``, ``height``)
        when it is included. A tx that passed CheckTx can still leave the mempool uncommitted: the
        recheck after a block refuses it (say its start block is no longer in the future). Then the
        answer has no ``tx_result`` but ``evicted``: the tx simulated again (``/app/simulate``), whose
        code and log say why. Blocks are scanned directly, so this needs no tx indexer.
        """
        encoded = base64.b64encode(tx).decode()
        scanned = self.height()
        checked: dict[str, Any] = self.call("broadcast_tx_sync", {"tx": encoded})
        answer: dict[str, Any] = {"hash": checked.get("hash", ""), "height": "0", "check_tx": checked}
        if int(checked.get("code", 0)):
            return answer
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found, scanned = self._scan_blocks(tx, scanned)
            if found is None and not self._in_mempool(encoded):
                # Commit saves the block before it updates the mempool: scan again to the new height
                found, scanned = self._scan_blocks(tx, scanned)
                if found is None:
                    # simulated on a throw-away branch: CometBFT's check_tx RPC would run a real
                    # CheckTx and advance the sender's sequence in the node's mempool state
                    rerun = self.abci_query(SIMULATE_PATH, tx)
                    answer["evicted"] = {"code": rerun.code, "codespace": rerun.codespace, "log": rerun.log}
                    return answer
            if found is not None:
                answer["height"], answer["tx_result"] = found
                return answer
            time.sleep(poll)
        raise RpcError(
            f"tx {answer['hash']} is still in the mempool after {timeout:.0f}s; it may yet be included "
            "(look it up with the tx RPC)"
        )

    def _scan_blocks(self, tx: bytes, after: int) -> tuple[tuple[str, dict[str, Any]] | None, int]:
        """Look for ``tx`` in the blocks above ``after`` whose results exist; (found, last scanned)."""
        digest = hashlib.sha256(tx).digest()
        height = after
        while height < self.height():
            try:
                block = self.call("block", {"height": str(height + 1)})
                results = self.call("block_results", {"height": str(height + 1)})
            except RpcError:
                break  # results not stored yet: look again on the next poll
            height += 1
            txs = block["block"]["data"].get("txs") or []
            for index, raw in enumerate(txs):
                if hashlib.sha256(base64.b64decode(raw)).digest() == digest:
                    return (str(height), results["txs_results"][index]), height
        return None, height

    def _in_mempool(self, encoded: str) -> bool:
        """Whether the mempool still holds the tx (also True when the mempool is too big to tell)."""
        pending = self.call("unconfirmed_txs", {"limit": "100"})
        txs = pending.get("txs") or []
        return encoded in txs or int(pending.get("total", 0)) > len(txs)

    def chain_id(self) -> str:
        """The chain id from /status."""
        return str(self.status()["node_info"]["network"])

    def account(self, address: str) -> auth_pb2.Account | None:
        """The account record of ``address`` (None when it does not exist)."""
        answer = self.abci_query(
            "/taskmaster.auth.v1.Query/Account",
            auth_pb2.QueryAccountRequest(address=address).SerializeToString(),
        )
        if answer.code != 0:
            return None
        return auth_pb2.QueryAccountResponse.FromString(answer.value).account

    def sign_and_broadcast(
        self,
        key: Signer,
        address: str,
        messages: list[Message],
        *,
        fee: int,
        gas_limit: int,
        memo: str = "",
        mode: str = "commit",
    ) -> dict[str, Any]:
        """Look up account number and sequence, sign ``messages`` and broadcast them."""
        account = self.account(address)
        if account is None:
            raise RpcError(f"account {address} does not exist on chain; fund it first")
        tx = build_tx(
            key,
            messages,
            chain_id=self.chain_id(),
            account_number=account.account_number,
            sequence=account.sequence,
            fee=fee,
            gas_limit=gas_limit,
            memo=memo,
        )
        return self.broadcast(tx, mode)
