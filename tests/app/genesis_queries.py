"""Query requests built from an exported app_state: what to ask a chain to compare it with another."""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from abci_app.modules.grpc_status import bech32_of, parse_address


def _candidates(field: str, state: dict[str, Any]) -> list[Any]:
    """Values worth asking a query with, for a request field called ``field``."""
    addresses = [a["address"] for a in state["auth"]["accounts"]]
    operators = [v["operator_address"] for v in state["staking"]["validators"]]
    hashes = [t["task_hash"] for t in state["tasks"]["tasks"]]
    owned: dict[str, list[str]] = {}
    for t in state["tasks"]["tasks"]:  # callers may give only the hashes (tests/integration)
        if "definition" in t:
            owned.setdefault(t["definition"]["task"]["from_address"], []).append(t["task_hash"])
    kv_keys = sorted({e["key"] for e in state["kv"]["entries"]})
    codes = [
        hashlib.sha256(base64.b64decode(c["wasm"])).hexdigest()
        for c in state.get("wasm", {}).get("codes", [])
    ]
    definitions = [t["definition"] for t in state["tasks"]["tasks"] if "definition" in t][:3]
    valopers = [
        bech32_of("taskvaloper", parse_address(a)) for a in operators
    ]  # the SDK's services (cosmos.*)
    by_field: dict[str, list[Any]] = {
        "account": addresses,
        "address": addresses,
        "owner": addresses,
        "operator_address": operators,
        "validator_address": operators,
        "delegator_address": addresses,
        "uploader": addresses,
        "code_id": [*codes, "00" * 32],
        "definition": definitions,
        "gas_price": ["", "7"],
        "task_hash": hashes,
        "task_hashes": [hashes, *owned.values()],
        "pair": ["bitcoin/usd", "ethereum/usd", "dogecoin/usd"],
        "name": ["oracle", "nothing", "bonded_pool"],
        "denom": ["utask", "other"],
        "window_seconds": [0, 3, 1000],
        "start": [0, 10],
        "end": [10**6, 1000],
        "key": kv_keys,
        "target_block": [20],
        "gas_limit": [1000],
        "delegator_addr": addresses,
        "validator_addr": valopers,
        "address_string": addresses,
        "address_bytes": [parse_address(a) for a in addresses],
    }
    return by_field.get(field) or [None]  # no candidate: leave the field unset


def requests_for(request_type: type[Message], state: dict[str, Any]) -> Iterator[Message]:
    """Requests of ``request_type``: every combination of candidate field values (at most 300)."""
    fields = [f.name for f in request_type.DESCRIPTOR.fields]
    for values in itertools.islice(itertools.product(*(_candidates(f, state) for f in fields)), 300):
        request = request_type()
        for name, value in zip(fields, values, strict=True):
            if value is None:
                continue
            if name == "key":
                value = base64.b64decode(value)
            if isinstance(value, dict):
                json_format.ParseDict(value, getattr(request, name))
            elif isinstance(value, list):
                getattr(request, name).extend(value)
            else:
                setattr(request, name, value)
        yield request
