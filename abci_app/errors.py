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
        """The text written to the result's log: the Cosmos SDK's wrapped form ``<message>: <name>``
        for its own codespace ``sdk`` (what clients such as cosmpy match on), else ``<name>: <message>``."""
        if self.error.codespace in SDK_STYLE_CODESPACES:
            return f"{self.message}: {self.error.name}"
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


# Codespace "sdk": the Cosmos SDK's own errors (types/errors/errors.go, RootCodespace), with its codes and
# names, for the tx decoding and ante checks (signatures, fees, gas, replay protection). Clients match on
# these codes and on the SDK's log wording ("account sequence mismatch, expected N, got M: incorrect
# account sequence", "out of gas in location: ...; gasWanted: N, gasUsed: M: out of gas").
SDK_STYLE_CODESPACES = frozenset({"sdk", "undefined"})
TX_DECODE = register("sdk", 2, "tx parse error")
UNAUTHORIZED = register("sdk", 4, "unauthorized")
INSUFFICIENT_FEE_FUNDS = register("sdk", 5, "insufficient funds")
UNKNOWN_MESSAGE = register("sdk", 6, "unknown request")
INVALID_ADDRESS = register("sdk", 7, "invalid address")
INVALID_PUBKEY = register("sdk", 8, "invalid pubkey")
UNKNOWN_ACCOUNT = register("sdk", 9, "unknown address")
OUT_OF_GAS = register("sdk", 11, "out of gas")
MEMO_TOO_LARGE = register("sdk", 12, "memo too large")
INSUFFICIENT_FEE = register("sdk", 13, "insufficient fee")
INVALID_REQUEST = register("sdk", 18, "invalid request")
TX_TOO_LARGE = register("sdk", 21, "tx too large")
TX_TIMEOUT = register("sdk", 30, "tx timeout height")
WRONG_SEQUENCE = register("sdk", 32, "incorrect account sequence")
INTERNAL = register("undefined", 1, "internal")
"""The SDK's answer to an error it does not know (cosmossdk.io/errors: codespace "undefined", code 1)."""
# Codespace "tx": this chain's own tx rule the SDK does not have.
NON_CANONICAL = register("tx", 40, "non-canonical encoding")
