"""A small blocking client of this node's CometBFT JSON-RPC (``/status``, ``/block``, ...).

Used only off the ABCI event loop (the gRPC server runs these handlers in a worker thread): CometBFT's
RPC may wait on its consensus state while that waits on the application, so the application's own
thread never calls it. Answers are bounded (:data:`MAX_RESPONSE_BYTES`, above the JSON of CometBFT's
largest block: ``max_bytes`` at most 100 MiB, base64 and JSON framing included) and time out.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from abci_app.modules.cosmos_node.comet_json import CometJSONError

MAX_RESPONSE_BYTES = 160 << 20
TIMEOUT_S = 10.0


class CometUnavailable(RuntimeError):
    """CometBFT's RPC did not answer (the message says what failed)."""


class CometRpcError(RuntimeError):
    """CometBFT's RPC answered with a JSON-RPC error (e.g. a height it does not have)."""


def http_url(laddr: str) -> str:
    """CometBFT's ``[rpc] laddr`` (``tcp://0.0.0.0:26657``) as the URL this node reaches it at."""
    if not laddr.startswith("tcp://"):
        raise ValueError(f"CometBFT RPC address {laddr!r}: only tcp:// listen addresses are supported")
    host, _, port = laddr[len("tcp://") :].rpartition(":")
    if host in ("0.0.0.0", "", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


class CometRpc:
    """GET requests to one CometBFT RPC endpoint (``http://host:port``)."""

    def __init__(self, base_url: str, timeout_s: float = TIMEOUT_S) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def call(self, method: str, **params: int) -> Any:
        """The ``result`` of ``/<method>?params``."""
        query = urllib.parse.urlencode(params)
        url = f"{self.base_url}/{method}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as answer:
                body = answer.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as err:  # CometBFT answers RPC errors with HTTP 500 and a JSON body
            body = err.read(MAX_RESPONSE_BYTES + 1)
        except (OSError, ValueError) as exc:
            raise CometUnavailable(
                f"CometBFT RPC at {self.base_url} did not answer /{method}: {exc}"
            ) from exc
        if len(body) > MAX_RESPONSE_BYTES:
            raise CometJSONError(f"/{method}: answer is over {MAX_RESPONSE_BYTES} bytes")
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise CometJSONError(f"/{method}: answer is not JSON ({exc})") from exc
        if not isinstance(decoded, dict):
            raise CometJSONError(f"/{method}: answer is not a JSON-RPC object")
        if decoded.get("error") is not None:
            error = decoded["error"]
            detail = error.get("data") or error.get("message") if isinstance(error, dict) else error
            raise CometRpcError(str(detail)[:500])
        return decoded.get("result")
