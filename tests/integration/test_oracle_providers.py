"""Several price providers per validator on a real 4-validator localnet (issue 21).

Each validator polls CoinGecko (its own simulator key) and Kraken (its own simulator tenant), both
serving the same undrifting prices. When one validator's CoinGecko fails for longer than the chain's
maximum price age, that validator keeps reporting from Kraken: its signed vote extension, injected
into every block, still carries the same prices, and the stored median does not change.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator

import pytest
from taskmaster.oracle.v1 import oracle_pb2

from abci_app.client import RpcClient
from abci_app.modules.oracle.codec import decode_extension
from abci_app.modules.oracle.injection import decode_injection
from abci_app.pricefeed.config import FeedConfig
from tests.integration.localnet_harness import Cluster, wait_for, wait_for_height

pytestmark = pytest.mark.integration
PAIRS = ["bitcoin/usd", "ethereum/usd"]
BASE = {"bitcoin/usd": 67187_330000000000000000, "ethereum/usd": 3512_080000000000000000}
KRAKEN = {"bitcoin/usd": "XBTUSD", "ethereum/usd": "ETHUSD"}
PARAMS = {"intervalBlocks": "1", "startHeight": "2", "maxPriceAgeSeconds": "3", "window": "50"}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster.create(
        tmp_path_factory.mktemp("providers"), 4, app_state={"oracle": {"params": PARAMS}}
    )
    try:
        sim = json.loads(cluster.net.sim_config.read_text())
        sim["drift_per_s"] = {p: "0" for p in PAIRS}
        sim["symbols"] = {"kraken": {name: pid for pid, name in KRAKEN.items()}}
        sim["kraken_answer_names"] = {"XBTUSD": "XXBTZUSD", "ETHUSD": "XETHZUSD"}
        cluster.net.sim_config.write_text(json.dumps(sim))
        root = cluster.net.sim_url.removesuffix("/api/v3")
        for i in range(4):
            feed = FeedConfig.load(cluster.home(i)).to_json()
            feed["providers"] = {"kraken": {"base_url": f"{root}/kraken/node{i}"}}
            feed["pairs"] = {pid: {"kraken": name} for pid, name in KRAKEN.items()}
            FeedConfig.from_json(feed).save(cluster.home(i))
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def set_provider(net: Cluster, key: str, settings: dict[str, object]) -> None:
    request = urllib.request.Request(
        f"{net.sim_admin}/keys/{key}",
        data=json.dumps(settings).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def reports(net: Cluster, height: int) -> dict[str, dict[int, int]]:
    """The prices each validator (hex address) reported in the injection of block ``height``."""
    block = RpcClient(net.rpc(0)).call("block", {"height": str(height)})["block"]
    txs = block["data"]["txs"]
    if not txs:
        return {}
    injected = decode_injection(base64.b64decode(txs[0]), len(PAIRS))
    return {
        vote.validator.address.hex().upper(): decode_extension(vote.vote_extension, len(PAIRS))
        for vote in injected.votes
    }


def stored(net: Cluster, pair: str) -> oracle_pb2.PriceRecord | None:
    answer = net.client(0).abci_query(
        "/taskmaster.oracle.v1.Query/Price", oracle_pb2.QueryPriceRequest(pair=pair).SerializeToString()
    )
    return oracle_pb2.QueryPriceResponse.FromString(answer.value).price if answer.code == 0 else None


def test_a_validator_whose_coingecko_fails_keeps_reporting_from_kraken(net: Cluster) -> None:
    address = json.loads((net.home(3) / "config" / "priv_validator_key.json").read_text())["address"]
    expected = {i: BASE[p] for i, p in enumerate(PAIRS)}

    def reported_by_3(height: int) -> dict[int, int] | None:
        return reports(net, height).get(address)

    start = net.client(0).height()
    wait_for(lambda: reported_by_3(net.client(0).height()) == expected, 60.0, "validator 3 to report")
    set_provider(net, "sim-node3", {"mode": "error500"})
    try:
        # longer than maxPriceAgeSeconds (3 s): any CoinGecko quote it had is stale by then
        failed_at = net.client(0).height()
        wait_for_height(net.rpc(0), failed_at + 12, timeout=90.0)
        end = net.client(0).height()
        seen = {h: reported_by_3(h) for h in range(failed_at + 6, end + 1)}
        with_reports = {h: got for h, got in seen.items() if got is not None}
        assert len(with_reports) >= 5, seen
        assert all(got == expected for got in with_reports.values()), with_reports
        for pair in PAIRS:
            record = stored(net, pair)
            assert record is not None and int(record.price) == BASE[pair] and record.height > failed_at
    finally:
        set_provider(net, "sim-node3", {"mode": "ok"})
    assert start < end
