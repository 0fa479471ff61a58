"""Fixtures that run real chains: ``localnet`` (four validators) and ``single_node`` (one validator).

Both are module scoped and always stop every process they started, even when a test fails.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.localnet_harness import Cluster, SingleNode

LOCALNET_NODES = 4
SPLIT_NODE = 3
"""The localnet validator whose app and CometBFT run as separate processes (for the crash tests)."""


@pytest.fixture(scope="module")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A 4-validator localnet on free loopback ports; node 3's app and CometBFT are separate processes."""
    cluster = Cluster.create(tmp_path_factory.mktemp("localnet"), LOCALNET_NODES, split={SPLIT_NODE})
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def single_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SingleNode]:
    """One validator run by ``taskmaster start`` on free ports; its home's keyring holds ``faucet``."""
    chain_id = "taskmaster-single"
    cluster = Cluster.create(tmp_path_factory.mktemp("single"), 1, chain_id=chain_id, timeout_commit="300ms")
    try:
        cluster.start()
        yield SingleNode(
            home=cluster.home(0),
            rpc=cluster.rpc(0),
            grpc=cluster.grpc(0),
            chain_id=chain_id,
            faucet_key="faucet",
            keyring_home=cluster.keyring_home,
            cluster=cluster,
        )
    finally:
        cluster.close()
