"""Query failures in the Cosmos SDK's form: a gRPC status over gRPC, ``rpc error: ...`` over ``abci_query``.

The SDK's query handlers return gRPC statuses (``status.Errorf(codes.NotFound, "account %s not found",
addr)``); gRPC clients see that status and its description. Over ``abci_query`` its baseapp turns the
status into an SDK error (``gRPCErrorToSDKError`` in baseapp/abci.go of v0.50): NotFound becomes
``sdk`` code 38 (ErrKeyNotFound), InvalidArgument and FailedPrecondition code 18 (ErrInvalidRequest),
Unauthenticated code 4, anything else code 6 (ErrUnknownRequest), and the log is the status's text
wrapped by that error: ``rpc error: code = NotFound desc = account task1... not found: key not found``.
cosmjs's ``getAccount`` returns null only when the log matches ``/rpc error: code = NotFound/i``
(docs/cosmos-services.md).

The ``sdk`` codes here are not added to the chain's registry (``abci_app/errors.py``): the codespace
is the SDK's, and its tx codes are registered by the tx layer.
"""

from __future__ import annotations

import bech32

from abci_app.errors import AppError, ErrorCode

_SDK_ERROR = {
    "NotFound": ErrorCode("sdk", 38, "key not found"),
    "InvalidArgument": ErrorCode("sdk", 18, "invalid request"),
    "FailedPrecondition": ErrorCode("sdk", 18, "invalid request"),
    "Unauthenticated": ErrorCode("sdk", 4, "unauthorized"),
}
_UNKNOWN_REQUEST = ErrorCode("sdk", 6, "unknown request")
STATUS_NAMES = (
    "NotFound",
    "InvalidArgument",
    "FailedPrecondition",
    "Unavailable",
    "Unimplemented",
    "Internal",
)


class StatusError(AppError):
    """A query failure: a gRPC status (``status`` as Go spells it, e.g. ``NotFound``) and its description."""

    def __init__(self, status: str, description: str) -> None:
        if status not in STATUS_NAMES:
            raise ValueError(f"unknown gRPC status {status!r}; use one of {STATUS_NAMES}")
        super().__init__(_SDK_ERROR.get(status, _UNKNOWN_REQUEST), description)
        self.status = status
        self.description = description

    @property
    def log(self) -> str:
        """The ``abci_query`` log, as the SDK's baseapp writes it."""
        return f"rpc error: code = {self.status} desc = {self.description}: {self.error.name}"


def not_found(description: str) -> StatusError:
    """NotFound (``sdk`` 38 over ``abci_query``)."""
    return StatusError("NotFound", description)


def invalid_argument(description: str) -> StatusError:
    """InvalidArgument (``sdk`` 18 over ``abci_query``)."""
    return StatusError("InvalidArgument", description)


def parse_address(text: str, field: str = "address", prefix: str = "task") -> bytes:
    """A bech32 address of ``prefix`` as 20 bytes; InvalidArgument (with what to change) otherwise."""

    if not text:
        raise invalid_argument(f"empty {field} string is not allowed")
    hrp, data = bech32.bech32_decode(text)
    raw = bech32.convertbits(data, 5, 8, False) if data is not None else None
    if hrp != prefix or raw is None or len(raw) != 20 or text != text.lower():
        raise invalid_argument(
            f"invalid {field} {text[:100]!r}: expected a lowercase bech32 address {prefix}1... of 20 bytes"
        )
    return bytes(raw)


def bech32_of(prefix: str, address: bytes) -> str:
    """``address`` as bech32 with ``prefix`` (``task``, ``taskvaloper``, ``taskvalcons``)."""

    data = bech32.convertbits(list(address), 8, 5, True)
    assert data is not None
    return str(bech32.bech32_encode(prefix, data))
