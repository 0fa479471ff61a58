"""CometBFT JSON-RPC answers to protobuf (abci_app/modules/cosmos_node/comet_json.py).

Any JSON, and any one-field corruption of a well-formed answer, either parses or raises
CometJSONError (a clear query error), never another exception that would reach the query thread.

The well-formed answers follow CometBFT v0.38's JSON-RPC; the ``/status`` node_info is quoted from a
v0.38.6 node's answer shown in DariuszDepta/DiscoveringCosmos, COMET_BFT.md ("Get node's status").
"""

from __future__ import annotations

import contextlib
import copy
import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from abci_app.modules.cosmos_node import comet_json
from abci_app.modules.cosmos_node.comet_json import CometJSONError

STATUS = {
    "node_info": {
        "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
        "id": "b77488f9fa23715979fe03cfc19fd4f3b3750347",
        "listen_addr": "tcp://0.0.0.0:26656",
        "network": "disco",
        "version": "0.38.6",
        "channels": "40202122233038606100",
        "moniker": "mynode",
        "other": {"tx_index": "on", "rpc_address": "tcp://0.0.0.0:26657"},
    },
    "sync_info": {
        "latest_block_hash": "2512729BF836B206CB443BF3329A4130984B2D60E6198064A59EF1396AE6C1FD",
        "latest_block_height": "26083",
        "latest_block_time": "2024-06-11T14:07:57.12519517Z",
        "catching_up": False,
    },
}
HASH = "2512729BF836B206CB443BF3329A4130984B2D60E6198064A59EF1396AE6C1FD"
BLOCK = {
    "block_id": {"hash": HASH, "parts": {"total": 1, "hash": HASH}},
    "block": {
        "header": {
            "version": {"block": "11", "app": "1"},
            "chain_id": "disco",
            "height": "26083",
            "time": "2024-06-11T14:07:57.12519517Z",
            "last_block_id": {"hash": HASH, "parts": {"total": 1, "hash": HASH}},
            "last_commit_hash": HASH,
            "data_hash": HASH,
            "validators_hash": HASH,
            "next_validators_hash": HASH,
            "consensus_hash": HASH,
            "app_hash": HASH,
            "last_results_hash": HASH,
            "evidence_hash": "",
            "proposer_address": "B77488F9FA23715979FE03CFC19FD4F3B3750347",
        },
        "data": {"txs": ["dHgx", "dHgy"]},
        "evidence": {"evidence": []},
        "last_commit": {
            "height": "26082",
            "round": 0,
            "block_id": {"hash": HASH, "parts": {"total": 1, "hash": HASH}},
            "signatures": [
                {
                    "block_id_flag": 2,
                    "validator_address": "B77488F9FA23715979FE03CFC19FD4F3B3750347",
                    "timestamp": "2024-06-11T14:07:56.9Z",
                    "signature": "AAAA",
                },
                {
                    "block_id_flag": 1,
                    "validator_address": "",
                    "timestamp": "0001-01-01T00:00:00Z",
                    "signature": None,
                },
            ],
        },
    },
}
VALIDATORS = {
    "block_height": "26083",
    "validators": [
        {
            "address": "B77488F9FA23715979FE03CFC19FD4F3B3750347",
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "A" * 43 + "="},
            "voting_power": "100",
            "proposer_priority": "-5",
        }
    ],
    "count": "1",
    "total": "1",
}
PARAMS = {
    "block_height": "5",
    "consensus_params": {
        "block": {"max_bytes": "22020096", "max_gas": "-1"},
        "evidence": {
            "max_age_num_blocks": "100000",
            "max_age_duration": "172800000000000",
            "max_bytes": "1048576",
        },
        "validator": {"pub_key_types": ["ed25519"]},
        "version": {"app": "1"},
        "abci": {"vote_extensions_enable_height": "1"},
    },
}
PARSERS = {
    "block": (comet_json.block_result, BLOCK),
    "status": (lambda v: (comet_json.status_node_info(v), comet_json.sync_info(v)), STATUS),
    "validators": (comet_json.validators, VALIDATORS),
    "params": (comet_json.consensus_params, PARAMS),
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _only_clear_errors(parse: Any, value: Any) -> None:
    with contextlib.suppress(CometJSONError):
        parse(value)


def test_the_documented_answers_parse() -> None:
    block_id, block = comet_json.block_result(BLOCK)
    assert block_id.hash == bytes.fromhex(HASH) and block_id.part_set_header.total == 1
    assert block.header.height == 26083 and block.header.chain_id == "disco"
    assert (block.header.time.seconds, block.header.time.nanos) == (1718114877, 125195170)
    assert list(block.data.txs) == [b"tx1", b"tx2"] and block.header.evidence_hash == b""
    assert [s.block_id_flag for s in block.last_commit.signatures] == [2, 1]
    info = comet_json.node_info(STATUS["node_info"])
    assert (info.network, info.version, info.protocol_version.block) == ("disco", "0.38.6", 11)
    assert info.channels == bytes.fromhex("40202122233038606100") and info.other.tx_index == "on"
    assert comet_json.sync_info(STATUS) == (26083, False)
    assert comet_json.validators(VALIDATORS)[2][0][2:] == (100, -5)
    params = comet_json.consensus_params(PARAMS)
    assert params.block.max_gas == -1 and params.evidence.max_age_duration.seconds == 172800


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), json_values)
def test_any_json_parses_or_is_a_clear_error(which: str, value: Any) -> None:
    parse, _ = PARSERS[which]
    _only_clear_errors(parse, value)
    _only_clear_errors(parse, {"block_id": value, "block": value, "sync_info": value, "node_info": value})


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*at, i))
    return found


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), st.data(), json_values)
def test_a_corrupted_field_parses_or_is_a_clear_error(which: str, data: st.DataObject, junk: Any) -> None:
    parse, good = PARSERS[which]
    value = copy.deepcopy(good)
    path = data.draw(st.sampled_from(_paths(value)[1:]))
    target: Any = value
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = junk
    _only_clear_errors(parse, value)


@given(
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)),
    st.integers(min_value=0, max_value=999_999_999),
)
def test_rfc3339_times_keep_every_nanosecond(moment: datetime.datetime, nanos: int) -> None:
    digits = f"{nanos:09d}".rstrip("0")
    m = moment
    text = f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    text += (f".{digits}" if digits else "") + "Z"
    parsed = comet_json.timestamp(text, "time")
    whole = moment.replace(microsecond=0, tzinfo=datetime.UTC)
    expected = (whole - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)) // datetime.timedelta(seconds=1)
    assert (parsed.seconds, parsed.nanos) == (expected, nanos)


@given(st.text(max_size=40))
def test_any_text_is_a_time_or_a_clear_error(text: str) -> None:
    _only_clear_errors(lambda v: comet_json.timestamp(v, "time"), text)
