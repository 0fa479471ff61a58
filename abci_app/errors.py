"""Errors that become ABCI result codes: a codespace, a code and a message that says what to change.

Every rejection of user input raises an :class:`AppError` built from one of the registered
:class:`ErrorCode` values; the application turns it into ``(codespace, code, log)`` of a CheckTx or
ExecTxResult, so clients can match on codes and people can read the log.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ErrorCode:
    """One registered error: ``codespace`` names the module, ``code`` is unique within it."""

    codespace: str
    code: int
    name: str

    def __call__(self, message: str) -> AppError:
        """Build the exception carrying ``message`` (what was seen and what to change)."""
        return AppError(self, message)


class AppError(Exception):
    """A user-facing failure with an ABCI code."""

    def __init__(self, error: ErrorCode, message: str) -> None:
        super().__init__(f"{error.name}: {message}")
        self.error = error
        self.message = message

    @property
    def codespace(self) -> str:
        """The module the error belongs to."""
        return self.error.codespace

    @property
    def code(self) -> int:
        """The numeric code within the codespace (never 0)."""
        return self.error.code

    @property
    def log(self) -> str:
        """The text written to the result's log."""
        return f"{self.error.name}: {self.message}"


class NodeFault(BaseException):
    """This machine failed, not the input: memory or address space exhausted, an engine that no longer
    compiles stored code. Other nodes with healthy machines compute a real result, so recording any
    result here (a failed task, a failed tx) would fork this node from them.

    It derives from BaseException so that the guards that turn a handler's or a task's exception into a
    deterministic failure (``except Exception``) let it through: FinalizeBlock raises, the ABCI server
    answers ResponseException and CometBFT stops the node with the message in its log. The block was
    never committed here; once the machine is fixed, the restarted node replays it and agrees. CheckTx,
    queries and the proposal methods, whose answers are node-local, answer an error instead.

    Only code whose every allocation is bounded by consensus rules raises it: the wasm runtime (a 1 MiB
    memory, bounded host calls), where an engine error without a trap or a MemoryError can only be the
    machine. Elsewhere a MemoryError stays what any other exception in a handler is, a failed tx or
    task (ARCHITECTURE: a panic fails the tx, never the node): there a huge allocation is more likely
    an input a check missed, the same on every node, and stopping every node on it would halt the chain.
    """


def shown(text: str | bytes, limit: int = 40) -> str:
    """``text`` quoted for an error log, cut to ``limit`` characters (a log never echoes megabytes).

    Logs of failed txs are stored in every node's block results, so echoing input unbounded would let
    a 256 KiB tx make each node store a megabyte.
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} {'characters' if isinstance(text, str) else 'bytes'})"


_REGISTRY: dict[tuple[str, int], ErrorCode] = {}


def register(codespace: str, code: int, name: str) -> ErrorCode:
    """Register an error code; codes are unique per codespace and never 0 (0 is success)."""
    if code == 0 or (codespace, code) in _REGISTRY:
        raise ValueError(f"error code {codespace}/{code} is 0 or already registered")
    err = ErrorCode(codespace, code, name)
    _REGISTRY[(codespace, code)] = err
    return err


def registered_codes() -> list[ErrorCode]:
    """All registered codes, sorted by codespace and code (for docs and tests)."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


# Codespace "tx": decoding, signatures, fees, gas, replay protection (the ante checks).
TX_DECODE = register("tx", 2, "tx parse error")
WRONG_SEQUENCE = register("tx", 3, "wrong sequence")
UNAUTHORIZED = register("tx", 4, "unauthorized")
INSUFFICIENT_FEE_FUNDS = register("tx", 5, "insufficient funds for fee")
UNKNOWN_MESSAGE = register("tx", 6, "unknown message type")
INVALID_ADDRESS = register("tx", 7, "invalid address")
INVALID_PUBKEY = register("tx", 8, "invalid public key")
UNKNOWN_ACCOUNT = register("tx", 9, "unknown account")
OUT_OF_GAS = register("tx", 11, "out of gas")
MEMO_TOO_LARGE = register("tx", 12, "memo too large")
INSUFFICIENT_FEE = register("tx", 13, "insufficient fee")
INVALID_REQUEST = register("tx", 18, "invalid request")
TX_TOO_LARGE = register("tx", 21, "tx too large")
WRONG_CHAIN_ID = register("tx", 22, "wrong chain id")
TX_TIMEOUT = register("tx", 30, "tx timeout height")
NON_CANONICAL = register("tx", 40, "non-canonical encoding")
INTERNAL = register("tx", 1, "internal error")
