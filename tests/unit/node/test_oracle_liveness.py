"""The operator sees jail coming: this validator's oracle standing and price ages, from committed state."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from abci_app.node.oracle_liveness import OracleLiveness
from tests.app.oracle_driver import OracleChain

E18 = 10**18
GOOD = {"bitcoin/usd": 67_000 * E18, "ethereum/usd": 3_500 * E18}


def _scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for s in family.samples
    }


def test_rounds_before_jail_counts_down_to_the_round_that_jails(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10], {"window": "8"})
    liveness = OracleLiveness(chain.app)  # the app is validator 0's node
    chain.block()
    chain.block(reports=[{}, GOOD, GOOD, GOOD])
    assert liveness.standing is not None
    left = liveness.standing.rounds_before_jail
    for _ in range(left):
        chain.block(reports=[{}, GOOD, GOOD, GOOD])
        assert not liveness.standing.jailed
    chain.block(reports=[{}, GOOD, GOOD, GOOD])
    assert liveness.standing.jailed, f"jailed on the miss after the {left} announced"


def test_standing_and_price_ages_are_exported_and_a_warning_comes_before_jail(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10], {"window": "40"})
    registry = CollectorRegistry()
    OracleLiveness(chain.app).register(registry)
    assert not any(name.startswith("taskmaster_oracle") for name, _ in _scrape(registry))
    chain.block()
    caplog.set_level(logging.WARNING, logger="abci_app.oracle")
    for _ in range(28):  # 39 - 28 = 11 rounds left: not yet within the warning's 10
        chain.block(reports=[{}, GOOD, GOOD, GOOD])
    assert not [r for r in caplog.records if "before it is jailed" in r.getMessage()]
    for _ in range(3):
        chain.block(reports=[{}, GOOD, GOOD, GOOD])
    warnings = [r.getMessage() for r in caplog.records if "before it is jailed" in r.getMessage()]
    assert len(warnings) == 3 and "only 8 more counted rounds" in warnings[-1]
    got = _scrape(registry)
    assert got[("taskmaster_oracle_missed_rounds", ())] == 31
    assert got[("taskmaster_oracle_rounds_before_jail", ())] == 8
    assert got[("taskmaster_oracle_jailed", ())] == 0
    assert got[("taskmaster_oracle_price_age_blocks", (("pair", "bitcoin/usd"),))] == 0
    assert got[("taskmaster_oracle_price_age_seconds", (("pair", "bitcoin/usd"),))] > 0
    for _ in range(10):
        chain.block(reports=[{}, GOOD, GOOD, GOOD])
    assert _scrape(registry)[("taskmaster_oracle_jailed", ())] == 1
    assert any("is jailed at height" in r.getMessage() for r in caplog.records)


def test_a_shared_outage_costs_no_round_before_jail(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10], {"window": "40"})
    liveness = OracleLiveness(chain.app)
    chain.block()
    chain.block(reports=[GOOD] * 4)
    assert liveness.standing is not None
    before = liveness.standing.rounds_before_jail
    for _ in range(5):
        chain.block(reports=[{}] * 4)
    assert liveness.standing.rounds_before_jail == before and liveness.standing.missed_in_window == 0


def test_on_chain_prices_and_the_last_reported_round_are_exported(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10], {"window": "40"})
    registry = CollectorRegistry()
    OracleLiveness(chain.app).register(registry)
    chain.block()
    for _ in range(3):  # validator 0 (this node) reports
        chain.block(reports=[GOOD, GOOD, GOOD, GOOD])
    reported_at = chain.height
    got = _scrape(registry)
    assert got[("taskmaster_oracle_last_reported_height", ())] == reported_at
    assert got[("taskmaster_oracle_price", (("pair", "bitcoin/usd"),))] == 67_000.0
    assert got[("taskmaster_oracle_price", (("pair", "ethereum/usd"),))] == 3_500.0
    for _ in range(2):  # now it misses: the last reported round stays where it was
        chain.block(reports=[{}, GOOD, GOOD, GOOD])
    got = _scrape(registry)
    assert got[("taskmaster_oracle_last_reported_height", ())] == reported_at
    assert got[("taskmaster_oracle_missed_rounds", ())] == 2
