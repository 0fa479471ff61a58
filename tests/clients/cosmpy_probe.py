"""cosmpy 0.12 against a Taskmaster node: run by tests/integration/test_cosmos_clients.py in .venv-cosmpy.

Reads GRPC (host:port), CHAIN_ID, FUNDED and UNKNOWN (task1 addresses) from the environment and
prints one JSON object of what cosmpy returned (or the error each call raised); the pytest asserts.
Runs in cosmpy's own virtualenv (protobuf<6), never imported by the chain's tests.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import grpc
from cosmpy.aerial.client import LedgerClient, NetworkConfig
from cosmpy.aerial.client.staking import ValidatorStatus
from cosmpy.crypto.address import Address


def attempt(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        return {"ok": call()}
    except grpc.RpcError as err:
        return {"grpc_code": err.code().name, "details": err.details()}
    except Exception as exc:  # reported, not raised: the pytest names the failing call
        return {"error": f"{type(exc).__name__}: {exc}"}


def main() -> None:
    env = os.environ
    client = LedgerClient(
        NetworkConfig(
            chain_id=env["CHAIN_ID"],
            url=f"grpc+http://{env['GRPC']}",
            fee_minimum_gas_price=0.0025,
            fee_denomination="utask",
            staking_denomination="utask",
        )
    )
    funded, unknown = Address(env["FUNDED"]), Address(env["UNKNOWN"])

    def account(address: Address) -> dict[str, Any]:
        found = client.query_account(address)
        return {"address": str(found.address), "number": found.number, "sequence": found.sequence}

    def validators() -> list[dict[str, Any]]:
        return [
            {"address": str(v.address), "tokens": v.tokens, "moniker": v.moniker, "status": v.status.name}
            for v in client.query_validators()
        ]

    def block() -> dict[str, Any]:
        latest = client.query_latest_block()
        return {"height": latest.height, "chain_id": latest.chain_id, "time": latest.time.isoformat()}

    def node_info() -> dict[str, str]:
        info = client.query_node_info()
        return {"sdk": str(info.cosmos_sdk_version), "app": info.app_name, "version": str(info.app_version)}

    report = {
        "balance_funded": attempt(lambda: client.query_bank_balance(funded, "utask")),
        "balance_unknown": attempt(lambda: client.query_bank_balance(unknown, "utask")),
        "all_balances": attempt(lambda: [str(c) for c in client.query_bank_all_balances(funded)]),
        "account_funded": attempt(lambda: account(funded)),
        "account_unknown": attempt(lambda: account(unknown)),
        "latest_block": attempt(block),
        "height": attempt(client.query_height),
        "chain_id": attempt(client.query_chain_id),
        "validators": attempt(validators),
        "node_info": attempt(node_info),
        "max_gas": attempt(lambda: client.query_consensus_params().params.block.max_gas),
        "staking_summary": attempt(lambda: client.query_staking_summary(funded).total_staked),
    }
    _ = ValidatorStatus
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
