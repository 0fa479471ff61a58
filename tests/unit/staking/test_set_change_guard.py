"""The set-change guard: no block takes 1/3 or more of the set's power from its members (docs/staking.md)."""

from __future__ import annotations

from pathlib import Path

from abci_app.modules.staking import keeper
from tests.unit.staking.staking_chain import addr, create, run, start, undelegate, updates, validator, view


def test_undelegating_a_third_of_the_set_in_one_block_is_refused_and_says_to_split_it(tmp_path: Path) -> None:
    chain = start(str(tmp_path / "db"))
    operator = addr(chain, "operator")
    refused = run(chain, "operator", undelegate(chain, "operator", operator, 34_000_000))
    result = refused.tx_results[0]
    assert (result.codespace, result.code) == ("staking", keeper.SET_CHANGE_LIMIT.code)
    assert "would take 34 of the validator set's 100 power" in result.log
    assert "split it over later blocks" in result.log
    assert validator(chain, "operator").tokens == "100000000", "a refused undelegation leaves nothing"
    assert updates(refused) == []
    done = run(chain, "operator", undelegate(chain, "operator", operator, 33_000_000))
    assert done.tx_results[0].code == 0, done.tx_results[0].log
    assert [power for _, power in updates(done)] == [67]


def test_the_last_candidate_can_never_undelegate_below_one_unit_of_power(tmp_path: Path) -> None:
    chain = start(str(tmp_path / "db"))
    operator = addr(chain, "operator")
    for _ in range(30):  # every block takes what it may; the set never empties
        power = validator(chain, "operator").power
        amount = max(1, (power - 1) // 3) * 1_000_000 if power > 1 else 1_000_000
        run(chain, "operator", undelegate(chain, "operator", operator, amount))
        assert keeper.active_set(view(chain)) == keeper.top_candidates(view(chain)) != []
    assert validator(chain, "operator").power >= 1


def test_a_stronger_candidate_may_push_a_member_out_of_a_full_set(tmp_path: Path) -> None:
    chain = start(str(tmp_path / "db"), {"max_validators": "1", "unbonding_blocks": "3"})
    joined = run(chain, "user0", create(chain, "user0", 150_000_000))
    assert joined.tx_results[0].code == 0, joined.tx_results[0].log
    assert sorted(power for _, power in updates(joined)) == [0, 150]
