"""The ``min_self_delegation`` param: a validator costs a bond, not dust (issue 20: 1 utask validators).

create-validator below the minimum is refused naming it; an operator whose own delegation falls below
it is jailed (the Cosmos SDK's x/staking rule) and cannot unjail until it delegates back up to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from abci_app.modules.staking import keeper
from abci_app.router import default_router
from abci_app.tx.address import from_bech32
from tests.app.driver import Chain
from tests.unit.staking.staking_chain import (
    addr,
    create,
    delegate,
    run,
    start,
    undelegate,
    updates,
    validator,
    view,
)

MINIMUM = 1_000_000  # the default: one unit of power


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    chain = start(str(tmp_path / "db"))
    yield chain
    chain.app.close()


def test_the_default_minimum_is_one_unit_of_power(chain: Chain) -> None:
    params = keeper.get_params(view(chain))
    assert params.min_self_delegation == str(MINIMUM) == params.power_reduction


def test_create_validator_below_the_minimum_is_refused_naming_it_and_leaves_no_validator(
    chain: Chain,
) -> None:
    balance = chain.balance(addr(chain, "user0"))
    (result,) = run(chain, "user0", create(chain, "user0", MINIMUM - 1)).tx_results
    assert (result.codespace, result.code) == ("staking", keeper.SELF_DELEGATION_BELOW_MINIMUM.code)
    assert "at least 1000000utask" in result.log and "min_self_delegation" in result.log, result.log
    assert keeper.get_validator(view(chain), from_bech32(addr(chain, "user0"))) is None
    assert chain.balance(addr(chain, "user0")) == balance - 500  # the fee only
    (result,) = run(chain, "user0", create(chain, "user0", MINIMUM)).tx_results
    assert result.code == 0, result.log


def test_a_one_utask_validator_is_refused(chain: Chain) -> None:
    (result,) = run(chain, "user1", create(chain, "user1", 1)).tx_results
    assert result.code == keeper.SELF_DELEGATION_BELOW_MINIMUM.code and "1000000utask" in result.log


def test_the_param_0_allows_any_self_bond(tmp_path: Path) -> None:
    chain = start(str(tmp_path / "db"), {"max_validators": "2", "min_self_delegation": "0"})
    (result,) = run(chain, "user0", create(chain, "user0", 1)).tx_results
    assert result.code == 0, result.log
    chain.app.close()


def test_a_self_undelegation_below_the_minimum_jails_and_unjail_waits_for_the_bond(chain: Chain) -> None:
    operator = addr(chain, "user0")
    run(chain, "user0", create(chain, "user0", 3_000_000))
    run(chain, "user1", delegate(chain, "user1", operator, 5_000_000))  # power stays above one unit
    response = run(chain, "user0", undelegate(chain, "user0", operator, 2_500_000))
    assert response.tx_results[0].code == 0, response.tx_results[0].log
    events = [e for e in response.tx_results[0].events if e.type == "jail_below_min_self_delegation"]
    assert [(a.key, a.value) for a in events[0].attributes][1:-1] == [
        ("self_delegation", "500000utask"),
        ("min_self_delegation", "1000000utask"),
    ]
    assert validator(chain, "user0").jailed and updates(response) == [(updates(response)[0][0], 0)]
    ctx = chain.app._context(chain.app._block_branch(), chain.height + 1)
    with pytest.raises(Exception, match="unjailing needs a self-delegation of at least 1000000utask"):
        keeper.unjail(ctx, from_bech32(operator))
    run(chain, "user0", delegate(chain, "user0", operator, 600_000))
    ctx = chain.app._context(chain.app._block_branch(), chain.height + 1)
    assert keeper.unjail(ctx, from_bech32(operator)) == 6
    assert [u.power for u in keeper.end_block(ctx)] == [6]
    default_router().check_invariants(ctx)


def test_others_undelegating_never_jail_and_a_self_undelegation_above_the_minimum_does_not(
    chain: Chain,
) -> None:
    operator = addr(chain, "user0")
    run(chain, "user0", create(chain, "user0", 2_000_000))
    run(chain, "user1", delegate(chain, "user1", operator, 5_000_000))
    run(chain, "user1", undelegate(chain, "user1", operator, 5_000_000))
    run(chain, "user0", undelegate(chain, "user0", operator, 1_000_000))
    assert not validator(chain, "user0").jailed
    run(chain, "user0", undelegate(chain, "user0", operator, 1))
    assert validator(chain, "user0").jailed
