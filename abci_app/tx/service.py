"""``cosmos.tx.v1beta1.Service/Simulate``, as the Cosmos SDK serves it (x/auth/tx/service.go), over
``abci_query`` (cosmjs: path ``/cosmos.tx.v1beta1.Service/Simulate``) and gRPC (cosmpy).

The request carries the tx as ``tx_bytes`` (field 2, a TxRaw) or, deprecated, ``tx`` (field 1, a
``Tx`` with its body and auth info as messages, re-encoded canonically here). The simulation skips
the signature and the minimum fee (cosmjs simulates with an empty signature, SIGN_MODE_UNSPECIFIED and
an empty fee; cosmpy with no fee and gas limit 0), runs the messages on a throw-away branch of the
check state within the node's simulate gas cap (docs/security.md), and answers ``gas_info`` and
``result`` (data, log, events, msg_responses). A failing tx answers its code, codespace and log.
"""

from __future__ import annotations

from collections.abc import Callable

from cosmos.base.abci.v1beta1 import abci_pb2 as sdk_abci_pb2
from cosmos.tx.v1beta1 import service_pb2, tx_pb2
from google.protobuf.message import DecodeError

from abci_app.errors import TX_DECODE, AppError
from abci_app.tx.runner import TxOutcome

SERVICE = "cosmos.tx.v1beta1.Service"
SIMULATE_PATH = f"/{SERVICE}/Simulate"


class SimulationFailed(Exception):
    """The simulated tx failed: its outcome carries code, codespace and log."""

    def __init__(self, outcome: TxOutcome) -> None:
        super().__init__(outcome.log)
        self.outcome = outcome


def tx_bytes_of(request: service_pb2.SimulateRequest) -> bytes:
    """The TxRaw bytes of a SimulateRequest: ``tx_bytes``, else ``tx`` re-encoded; TX_DECODE if neither."""
    if request.tx_bytes:
        return bytes(request.tx_bytes)
    if request.HasField("tx"):
        tx = request.tx
        return tx_pb2.TxRaw(
            body_bytes=tx.body.SerializeToString(deterministic=True),
            auth_info_bytes=tx.auth_info.SerializeToString(deterministic=True),
            signatures=list(tx.signatures),
        ).SerializeToString(deterministic=True)
    raise TX_DECODE("empty simulate request: set tx_bytes (a TxRaw) or tx")


def parse_request(data: bytes) -> service_pb2.SimulateRequest:
    """Decode a SimulateRequest; TX_DECODE when the bytes are not one."""
    try:
        return service_pb2.SimulateRequest.FromString(data)
    except (DecodeError, RecursionError) as exc:
        raise TX_DECODE("the request is not a cosmos.tx.v1beta1.SimulateRequest") from exc


def simulate(
    request: service_pb2.SimulateRequest, run: Callable[[bytes], TxOutcome]
) -> service_pb2.SimulateResponse:
    """Answer ``request`` with ``run(tx_bytes)`` (the app's simulation); SimulationFailed on a failing tx,
    an AppError for a request without a tx."""
    outcome = run(tx_bytes_of(request))
    if outcome.code:
        raise SimulationFailed(outcome)
    data = sdk_abci_pb2.TxMsgData.FromString(outcome.data)
    return service_pb2.SimulateResponse(
        gas_info=sdk_abci_pb2.GasInfo(gas_wanted=outcome.gas_wanted, gas_used=outcome.gas_used),
        result=sdk_abci_pb2.Result(
            data=outcome.data, log=outcome.log, events=list(outcome.events), msg_responses=data.msg_responses
        ),
    )


__all__ = ["SERVICE", "SIMULATE_PATH", "AppError", "SimulationFailed", "parse_request", "simulate"]
