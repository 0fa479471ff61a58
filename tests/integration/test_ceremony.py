"""Four operators run the genesis ceremony through the ``taskmaster`` CLI alone and start a real chain.

Each operator has its own home and its own loopback ports; every step is a ``taskmaster`` command run
as a subprocess (``devtools/operators.py``), files travel as operators send them (gentx to the
coordinator, genesis back). Then the four ``taskmaster start`` make blocks under real CometBFT, the
CoinGecko simulator feeds them, prices land, and every node has the same app hash at every height.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.localnet import find_free_base, ports_for
from devtools.operators import Nodes, Operator, ceremony, logs, start_simulator, tm_json, wait_for_heights
from tests.integration.localnet_harness import HarnessError, block_app_hash, wait_for

pytestmark = pytest.mark.integration
CHAIN_ID = "operators-loopback-1"


@dataclass
class Ceremony:
    operators: list[Operator]
    genesis: Path
    nodes: Nodes


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ceremony]:
    root = tmp_path_factory.mktemp("ceremony")
    base = find_free_base(5)
    operators = [
        Operator(i, root / f"op{i}", "127.0.0.1", ports_for(base, i), sim_key=f"sim-node{i}")
        for i in range(4)
    ]
    sim, sim_url = start_simulator(root, ports_for(base, 4).rpc, [op.sim_key for op in operators])
    nodes = Nodes()
    try:
        genesis = ceremony(operators, CHAIN_ID, sim_url, one_host=True)
        for op in operators:
            nodes.start(op)
        if not wait_for_heights(operators, 3, 90.0):
            raise HarnessError(f"the ceremony's chain did not reach height 3\n{logs(operators)}")
        yield Ceremony(operators, genesis, nodes)
    finally:
        nodes.close()
        sim.terminate()
        sim.wait(10)


def test_every_operator_holds_the_same_genesis_with_four_gentxs_and_no_listed_validator(
    chain: Ceremony,
) -> None:
    texts = {(op.home / "config" / "genesis.json").read_text() for op in chain.operators}
    assert len(texts) == 1
    genesis = json.loads(texts.pop())
    assert genesis["chain_id"] == CHAIN_ID and genesis["validators"] == []
    assert len(genesis["app_state"]["staking"]["gen_txs"]) == 4


def test_cometbft_runs_the_validators_the_gentxs_created(chain: Ceremony) -> None:
    answer = chain.operators[2].client().call("validators", {"per_page": "100"})
    powers = {v["pub_key"]["value"]: int(v["voting_power"]) for v in answer["validators"]}
    keys = {
        json.loads((op.home / "config" / "priv_validator_key.json").read_text())["pub_key"]["value"]
        for op in chain.operators
    }
    assert powers == {key: 100 for key in keys}
    listed = tm_json("query", "staking", "validators", "--node", chain.operators[1].rpc)
    assert sorted(v["moniker"] for v in listed["validators"]) == ["op0", "op1", "op2", "op3"]


def test_prices_land_from_every_feed_and_every_node_agrees_on_every_block(chain: Ceremony) -> None:
    found: list[dict[str, object]] = []

    def four_reporters() -> bool:
        prices = tm_json("query", "oracle", "prices", "--node", chain.operators[3].rpc).get("prices", [])
        found[:] = [p for p in prices if p.get("reporter_count") == 4]
        return len(found) == 2

    try:
        wait_for(four_reporters, 60.0, "prices of both pairs reported by all four validators", interval=1.0)
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{logs(chain.operators)}") from None
    assert {p["pair"] for p in found} == {"bitcoin/usd", "ethereum/usd"}
    top = int(found[0]["height"])  # type: ignore[call-overload]
    if not wait_for_heights(chain.operators, top + 1, 30.0):
        raise HarnessError(f"not every node reached {top + 1}\n{logs(chain.operators)}")
    for height in range(1, top + 2):
        hashes = {block_app_hash(op.rpc, height) for op in chain.operators}
        assert len(hashes) == 1, f"app hashes differ at height {height}: {hashes}"
    answers = [
        tm_json("query", "oracle", "price", "bitcoin/usd", "--node", op.rpc, "--height", str(top))
        for op in chain.operators
    ]
    assert all(a == answers[0] for a in answers) and int(answers[0]["price"]["height"]) == top
