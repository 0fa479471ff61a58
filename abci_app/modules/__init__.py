"""Chain modules and the shape they share: message routes, query routes, genesis and block hooks.

A module is a folder (keys, keeper, msgs, queries, genesis, and ``abci.py`` when it takes part in
proposals or votes); this file holds only the small records the application uses to wire them, so
modules never import the application. The hooks, in the order FinalizeBlock and the other ABCI
methods call them, are described in docs/architecture.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.errors import register

QUERY_NOT_FOUND = register("query", 1, "not found")
QUERY_INVALID = register("query", 2, "invalid argument")
QUERY_UNKNOWN_PATH = register("query", 3, "unknown query path")
QUERY_INTERNAL = register("query", 4, "internal error")


@dataclass(frozen=True)
class MsgRoute:
    """How one message type is authorized and executed.

    ``signer`` returns the bech32 address that must have signed the tx; ``handler`` changes state
    through the context and returns the message's response. ``check``, if any, is the message's part
    of the ante checks (as the SDK's ValidateBasic): run in CheckTx, in proposals and in blocks before
    the fee is taken, it must cost a small constant (sizes, formats, a param read) and raise an
    AppError saying what to change; the handler still checks everything itself.
    """

    msg_type: type[Message]
    signer: Callable[[Any], str]
    handler: Callable[[Context, Any], Message]
    check: Callable[[Context, Any], None] | None = None


@dataclass(frozen=True)
class QueryRoute:
    """A read-only query, served over gRPC and as the ABCI query path ``/<service>/<method>``."""

    service: str
    method: str
    request_type: type[Message]
    response_type: type[Message]
    handler: Callable[[Context, Any], Message]

    @property
    def path(self) -> str:
        """The ABCI query path, the same as the gRPC method path."""
        return f"/{self.service}/{self.method}"


@dataclass
class NodeLocal:
    """What this node knows and the chain does not; read only by vote extensions and proposals.

    ``consensus_address`` is this node's validator address (empty when it runs no validator key);
    ``price_source`` returns the fresh off-chain quotes of its price feed by pair id (the oracle's
    vote extension). Nothing that FinalizeBlock runs may read it: every node executes a block alike.
    """

    consensus_address: bytes = b""
    price_source: Callable[[], Mapping[str, int]] = dict


@dataclass(frozen=True)
class VoteExtensionHooks:
    """A module's part in CometBFT's vote extensions (ExtendVote / VerifyVoteExtension).

    ``extend`` returns this node's extension for the block at ``ctx.height`` (``ctx.time_ns`` is the
    proposed block's time); ``verify`` returns why another validator's extension is invalid, or None.
    CometBFT carries one extension per vote, so at most one module may have these hooks.
    """

    extend: Callable[[Context, NodeLocal], bytes]
    verify: Callable[[Context, bytes], str | None]


@dataclass(frozen=True)
class ProposalHooks:
    """Txs a module itself puts at the head of a block (the oracle's injection of last round's votes).

    ``claims(tx)`` says whether a tx is of this module's kind: such a tx is never taken from the
    mempool and may appear nowhere in a block but where ``check`` accepts it. ``prepare`` returns the
    head txs of the block being proposed; ``check`` looks at the head of a proposed block and returns
    how many txs it takes and why the block must be rejected (None: accept). ``pre_block`` (the
    FinalizeBlock side) takes the same head txs and returns one result per tx it took.
    """

    claims: Callable[[bytes], bool]
    prepare: Callable[[Context, abci.RequestPrepareProposal, NodeLocal], list[bytes]]
    check: Callable[[Context, Sequence[bytes], abci.CommitInfo, NodeLocal], tuple[int, str | None]]


ValidatorUpdates = Sequence[abci.ValidatorUpdate]


@dataclass(frozen=True)
class Module:
    """Everything the application needs to know about a module: its routes, genesis and block hooks.

    Block hooks, in FinalizeBlock's order (each isolated: one that raises changes nothing):
    ``pre_block`` takes the module's own txs at the block's head (see :class:`ProposalHooks`) and
    returns their results; ``begin_block`` runs before the txs; ``end_block`` after them, returning
    validator updates for CometBFT (staking's) or None. ``init_genesis`` may return the validator set
    CometBFT starts with. ``store`` is None for a module that keeps no state of its own.
    ``use_data_dir`` is told the node's data directory when it has one: node-local files (caches)
    that never decide an outcome.
    """

    name: str
    store: str | None
    msgs: tuple[MsgRoute, ...] = ()
    queries: tuple[QueryRoute, ...] = ()
    init_genesis: Callable[[Context, Mapping[str, Any]], ValidatorUpdates | None] | None = None
    export_genesis: Callable[[Context], dict[str, Any]] | None = None
    pre_block: Callable[[Context, Sequence[bytes]], list[abci.ExecTxResult]] | None = None
    begin_block: Callable[[Context], None] | None = None
    end_block: Callable[[Context], ValidatorUpdates | None] | None = None
    proposal: ProposalHooks | None = None
    vote_extension: VoteExtensionHooks | None = None
    invariants: tuple[Callable[[Context], None], ...] = field(default_factory=tuple)
    accounts: tuple[bytes, ...] = ()  # module accounts it owns: no MsgSend may pay into them
    use_data_dir: Callable[[Path], None] | None = None


G = TypeVar("G", bound=Message)


def parse_genesis(state: Mapping[str, Any], defaults: Message, into: G) -> G:
    """A module's genesis JSON parsed into ``into``; ``params`` fields it leaves out keep ``defaults``.

    A field that is given keeps its value, 0 and empty included; a repeated field given replaces the
    default list. Field names may be JSON (camelCase) or proto (snake_case) names.
    """
    merged = dict(state)
    given = state.get("params") or {}
    if not isinstance(given, Mapping):
        raise json_format.ParseError(f"params must be a JSON object, got {type(given).__name__}")
    # defaults first: ParseDict applies keys in order, so a given field wins in either spelling
    merged["params"] = {**json_format.MessageToDict(defaults), **dict(given)}
    return json_format.ParseDict(merged, into)


def export_genesis_dict(genesis: Message) -> dict[str, Any]:
    """A module's genesis state as JSON, zero and empty fields included.

    Leaving them out would make :func:`parse_genesis` fill them with defaults on import, so a param
    set to 0 would not survive an export and re-import.
    """
    return json_format.MessageToDict(genesis, always_print_fields_with_no_presence=True)


def module_address(name: str) -> bytes:
    """The 20-byte address of a module account (no key can sign for it)."""
    return hashlib.sha256(b"module:" + name.encode()).digest()[:20]


def u64(value: int) -> bytes:
    """Fixed 8-byte big-endian encoding (sorts like the number)."""
    return value.to_bytes(8, "big")


def u256(value: int) -> bytes:
    """Fixed 32-byte big-endian encoding of an amount."""
    return value.to_bytes(32, "big")
