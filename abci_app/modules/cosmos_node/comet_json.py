"""CometBFT v0.38 JSON-RPC results as protobuf messages (``tendermint.types``, ``tendermint.p2p``).

CometBFT's JSON (rpc/core/types, the amino-JSON of its types) writes int64/uint64 as decimal strings
(small ints such as ``round`` and ``block_id_flag`` as numbers), hashes and addresses as uppercase
hex, byte strings (txs, signatures, keys) as base64, times as RFC 3339 with up to 9 fractional digits,
and a block id's part set header under ``parts``. Every reader checks type, range and size and
raises :class:`CometJSONError` naming the field: a hostile or broken RPC answer becomes a clear query
error, never an exception of another kind (tests/test_comet_json.py drives this with hypothesis).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime
import re
from collections.abc import Mapping
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2
from tendermint.p2p import types_pb2 as p2p
from tendermint.types import block_pb2 as block_types
from tendermint.types import params_pb2, types_pb2
from tendermint.version import types_pb2 as version_types

MAX_TXS = 1_000_000
MAX_SIGNATURES = 10_000
MAX_STRING = 1 << 26
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)
_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
_DIGITS = re.compile(r"-?[0-9]{1,20}")
_HEX = re.compile(r"[0-9A-Fa-f]*")
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)


class CometJSONError(ValueError):
    """CometBFT's answer is not what its v0.38 JSON-RPC documents (the message names the field)."""


def obj(value: Any, where: str) -> Mapping[str, Any]:
    """A JSON object."""
    if not isinstance(value, Mapping):
        raise CometJSONError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def text(value: Any, where: str, limit: int = 4096) -> str:
    """A JSON string of at most ``limit`` characters."""
    if not isinstance(value, str):
        raise CometJSONError(f"{where}: expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise CometJSONError(f"{where}: string of {len(value)} characters is over {limit}")
    return value


def integer(value: Any, where: str, bounds: tuple[int, int] = _INT64) -> int:
    """An integer written as a JSON number or a decimal string, within ``bounds``."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise CometJSONError(f"{where}: expected an integer, got {type(value).__name__}")
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise CometJSONError(f"{where}: {value[:40]!r} is not a decimal integer")
    number = int(value)
    if not bounds[0] <= number <= bounds[1]:
        raise CometJSONError(f"{where}: {str(number)[:40]} is outside [{bounds[0]}, {bounds[1]}]")
    return number


def flag(value: Any, where: str) -> bool:
    """A JSON boolean."""
    if not isinstance(value, bool):
        raise CometJSONError(f"{where}: expected a boolean, got {type(value).__name__}")
    return value


def hex_bytes(value: Any, where: str, limit: int = 64) -> bytes:
    """Hex (any case, possibly empty) of at most ``limit`` bytes."""
    raw = text(value, where, 2 * limit)
    if len(raw) % 2 or not _HEX.fullmatch(raw):
        raise CometJSONError(f"{where}: {raw[:40]!r} is not hex")
    return bytes.fromhex(raw)


def b64_bytes(value: Any, where: str, limit: int = MAX_STRING) -> bytes:
    """Standard base64 of at most ``limit`` characters."""
    raw = text(value, where, limit)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CometJSONError(f"{where}: not base64 ({exc})") from exc


def timestamp(value: Any, where: str) -> timestamp_pb2.Timestamp:
    """An RFC 3339 time as a Timestamp (nanosecond precision kept)."""
    raw = text(value, where, 64)
    match = _TIME.fullmatch(raw)
    if match is None:
        raise CometJSONError(f"{where}: {raw!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    try:
        datetime.datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise CometJSONError(f"{where}: {raw!r}: {exc}") from exc
    fraction = (match.group(7) or "").ljust(9, "0")
    offset = 0
    zone = match.group(8)
    if zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise CometJSONError(f"{where}: {raw!r} has an invalid UTC offset")
        offset = (hours * 3600 + minutes * 60) * (1 if zone[0] == "+" else -1)
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=int(fraction))


def block_id(value: Any, where: str) -> types_pb2.BlockID:
    """``{"hash", "parts": {"total", "hash"}}``."""
    data = obj(value, where)
    parts = obj(data.get("parts", {}), f"{where}.parts")
    return types_pb2.BlockID(
        hash=hex_bytes(data.get("hash", ""), f"{where}.hash"),
        part_set_header=types_pb2.PartSetHeader(
            total=integer(parts.get("total", 0), f"{where}.parts.total", _UINT32),
            hash=hex_bytes(parts.get("hash", ""), f"{where}.parts.hash"),
        ),
    )


_HEADER_HASHES = (
    "last_commit_hash",
    "data_hash",
    "validators_hash",
    "next_validators_hash",
    "consensus_hash",
    "app_hash",
    "last_results_hash",
    "evidence_hash",
    "proposer_address",
)


def header(value: Any, where: str = "header") -> types_pb2.Header:
    """A block header."""
    data = obj(value, where)
    version = obj(data.get("version", {}), f"{where}.version")
    out = types_pb2.Header(
        version=version_types.Consensus(
            block=integer(version.get("block", 0), f"{where}.version.block", _UINT64),
            app=integer(version.get("app", 0), f"{where}.version.app", _UINT64),
        ),
        chain_id=text(data.get("chain_id", ""), f"{where}.chain_id", 50),
        height=integer(data.get("height", 0), f"{where}.height"),
        time=timestamp(data.get("time"), f"{where}.time"),
        last_block_id=block_id(data.get("last_block_id", {}), f"{where}.last_block_id"),
    )
    for name in _HEADER_HASHES:
        setattr(out, name, hex_bytes(data.get(name, ""), f"{where}.{name}"))
    return out


def commit(value: Any, where: str = "last_commit") -> types_pb2.Commit:
    """A commit with its signatures."""
    data = obj(value, where)
    signatures = data.get("signatures") or []
    if not isinstance(signatures, list) or len(signatures) > MAX_SIGNATURES:
        raise CometJSONError(f"{where}.signatures: expected a list of at most {MAX_SIGNATURES}")
    out = types_pb2.Commit(
        height=integer(data.get("height", 0), f"{where}.height"),
        round=integer(data.get("round", 0), f"{where}.round", _INT32),
        block_id=block_id(data.get("block_id", {}), f"{where}.block_id"),
    )
    for i, raw in enumerate(signatures):
        at = f"{where}.signatures[{i}]"
        sig = obj(raw, at)
        entry = out.signatures.add(
            block_id_flag=integer(sig.get("block_id_flag", 0), f"{at}.block_id_flag", (0, 3)),
            validator_address=hex_bytes(sig.get("validator_address", ""), f"{at}.validator_address"),
            signature=b64_bytes(sig.get("signature") or "", f"{at}.signature", 256),
        )
        if sig.get("timestamp") is not None:
            entry.timestamp.CopyFrom(timestamp(sig["timestamp"], f"{at}.timestamp"))
    return out


def block(value: Any, where: str = "block") -> block_types.Block:
    """A block: header, txs, last commit. Evidence is not carried over (see docs/cosmos-services.md)."""
    data = obj(value, where)
    txs = obj(data.get("data", {}), f"{where}.data").get("txs") or []
    if not isinstance(txs, list) or len(txs) > MAX_TXS:
        raise CometJSONError(f"{where}.data.txs: expected a list of at most {MAX_TXS} txs")
    return block_types.Block(
        header=header(data.get("header"), f"{where}.header"),
        data=types_pb2.Data(txs=[b64_bytes(tx, f"{where}.data.txs[{i}]") for i, tx in enumerate(txs)]),
        last_commit=commit(data.get("last_commit", {}), f"{where}.last_commit"),
    )


def block_result(value: Any) -> tuple[types_pb2.BlockID, block_types.Block]:
    """``/block``'s result: the block id and the block."""
    data = obj(value, "result")
    return block_id(data.get("block_id"), "block_id"), block(data.get("block"), "block")


def node_info(value: Any, where: str = "node_info") -> p2p.DefaultNodeInfo:
    """``/status``'s ``node_info``."""
    data = obj(value, where)
    protocol = obj(data.get("protocol_version", {}), f"{where}.protocol_version")
    other = obj(data.get("other", {}), f"{where}.other")
    return p2p.DefaultNodeInfo(
        protocol_version=p2p.ProtocolVersion(
            p2p=integer(protocol.get("p2p", 0), f"{where}.protocol_version.p2p", _UINT64),
            block=integer(protocol.get("block", 0), f"{where}.protocol_version.block", _UINT64),
            app=integer(protocol.get("app", 0), f"{where}.protocol_version.app", _UINT64),
        ),
        default_node_id=text(data.get("id", ""), f"{where}.id"),
        listen_addr=text(data.get("listen_addr", ""), f"{where}.listen_addr"),
        network=text(data.get("network", ""), f"{where}.network"),
        version=text(data.get("version", ""), f"{where}.version"),
        channels=hex_bytes(data.get("channels", ""), f"{where}.channels", 256),
        moniker=text(data.get("moniker", ""), f"{where}.moniker"),
        other=p2p.DefaultNodeInfoOther(
            tx_index=text(other.get("tx_index", ""), f"{where}.other.tx_index"),
            rpc_address=text(other.get("rpc_address", ""), f"{where}.other.rpc_address"),
        ),
    )


def status_node_info(value: Any) -> p2p.DefaultNodeInfo:
    """``/status``'s result's ``node_info``."""
    return node_info(obj(value, "result").get("node_info"))


def sync_info(value: Any) -> tuple[int, bool]:
    """``/status``'s latest block height and whether the node is catching up."""
    data = obj(obj(value, "result").get("sync_info"), "sync_info")
    return (
        integer(data.get("latest_block_height", 0), "sync_info.latest_block_height"),
        flag(data.get("catching_up", False), "sync_info.catching_up"),
    )


def validators(value: Any) -> tuple[int, int, list[tuple[bytes, bytes, int, int]]]:
    """``/validators``'s result: block height, total, and (address, ed25519 key, power, priority) each."""
    data = obj(value, "result")
    listed = data.get("validators") or []
    if not isinstance(listed, list) or len(listed) > MAX_SIGNATURES:
        raise CometJSONError(f"validators: expected a list of at most {MAX_SIGNATURES}")
    out = []
    for i, raw in enumerate(listed):
        at = f"validators[{i}]"
        entry = obj(raw, at)
        key = obj(entry.get("pub_key"), f"{at}.pub_key")
        kind = text(key.get("type", ""), f"{at}.pub_key.type")
        if kind != "tendermint/PubKeyEd25519":
            raise CometJSONError(f"{at}.pub_key.type: {kind!r}; this chain's consensus keys are ed25519")
        out.append(
            (
                hex_bytes(entry.get("address", ""), f"{at}.address"),
                b64_bytes(key.get("value", ""), f"{at}.pub_key.value", 64),
                integer(entry.get("voting_power", 0), f"{at}.voting_power"),
                integer(entry.get("proposer_priority", 0), f"{at}.proposer_priority"),
            )
        )
    return (
        integer(data.get("block_height", 0), "block_height"),
        integer(data.get("total", len(out)), "total", (0, MAX_SIGNATURES)),
        out,
    )


def _duration(nanoseconds: int) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromNanoseconds(nanoseconds)
    return out


def consensus_params(value: Any) -> params_pb2.ConsensusParams:
    """``/consensus_params``'s result as ``tendermint.types.ConsensusParams``."""
    data = obj(obj(value, "result").get("consensus_params"), "consensus_params")
    blk = obj(data.get("block", {}), "consensus_params.block")
    evidence = obj(data.get("evidence", {}), "consensus_params.evidence")
    validator = obj(data.get("validator", {}), "consensus_params.validator")
    version = obj(data.get("version", {}), "consensus_params.version")
    abci = obj(data.get("abci", {}), "consensus_params.abci")
    key_types = validator.get("pub_key_types") or []
    if not isinstance(key_types, list) or len(key_types) > 16:
        raise CometJSONError("consensus_params.validator.pub_key_types: expected a short list of strings")
    age_ns = integer(evidence.get("max_age_duration", 0), "consensus_params.evidence.max_age_duration")
    return params_pb2.ConsensusParams(
        block=params_pb2.BlockParams(
            max_bytes=integer(blk.get("max_bytes", 0), "consensus_params.block.max_bytes"),
            max_gas=integer(blk.get("max_gas", 0), "consensus_params.block.max_gas"),
        ),
        evidence=params_pb2.EvidenceParams(
            max_age_num_blocks=integer(
                evidence.get("max_age_num_blocks", 0), "consensus_params.evidence.max_age_num_blocks"
            ),
            max_age_duration=_duration(age_ns),
            max_bytes=integer(evidence.get("max_bytes", 0), "consensus_params.evidence.max_bytes"),
        ),
        validator=params_pb2.ValidatorParams(
            pub_key_types=[text(t, "consensus_params.validator.pub_key_types[]", 64) for t in key_types]
        ),
        version=params_pb2.VersionParams(
            app=integer(version.get("app", 0), "consensus_params.version.app", _UINT64)
        ),
        abci=params_pb2.ABCIParams(
            vote_extensions_enable_height=integer(
                abci.get("vote_extensions_enable_height", 0),
                "consensus_params.abci.vote_extensions_enable_height",
            )
        ),
    )
