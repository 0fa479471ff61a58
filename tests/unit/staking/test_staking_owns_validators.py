"""Staking's keeper API is the only way other modules change a validator: slash, jail, unjail."""

from __future__ import annotations

from pathlib import Path

import pytest

from abci_app.errors import AppError
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking import keeper as staking
from abci_app.modules.staking.invariants import bonded_pool_matches_tokens
from abci_app.tx.address import from_bech32
from tests.app.driver import Chain, address_of, seeded_key


def _operator_ctx(tmp_path: Path) -> tuple[Chain, bytes]:
    chain = Chain.start(str(tmp_path / "db"))
    return chain, from_bech32(address_of(seeded_key("operator")))


def test_slash_burns_from_the_bonded_pool_and_keeps_the_pool_equal_to_the_tokens(tmp_path: Path) -> None:
    chain, operator = _operator_ctx(tmp_path)
    ctx = chain.app._context(chain.app._block_branch(), 1)
    supply = bank.supply(ctx, "utask")
    assert staking.slash(ctx, operator, 250) == 100_000_000 * 250 // 10_000
    validator = staking.get_validator(ctx, operator)
    assert validator is not None and validator.tokens == str(100_000_000 - 2_500_000)
    assert bank.supply(ctx, "utask") == supply - 2_500_000
    bonded_pool_matches_tokens(ctx)
    chain.app.close()


def test_jailing_the_only_validator_keeps_the_set_and_unjail_restores_the_power_of_its_tokens(
    tmp_path: Path,
) -> None:
    chain, operator = _operator_ctx(tmp_path)
    ctx = chain.app._context(chain.app._block_branch(), 1)
    assert staking.apply_validator_set(ctx) == []
    staking.slash(ctx, operator, 100)
    staking.jail(ctx, operator)
    assert staking.apply_validator_set(ctx) == []  # CometBFT cannot run with no validator
    assert [e.type for e in ctx.events][-1] == "validator_set_kept"
    assert staking.unjail(ctx, operator) == 99
    assert [u.power for u in staking.apply_validator_set(ctx)] == [99]
    chain.app.close()


def test_unjail_refuses_a_validator_slashed_below_one_unit_of_power(tmp_path: Path) -> None:
    chain, operator = _operator_ctx(tmp_path)
    ctx = chain.app._context(chain.app._block_branch(), 1)
    staking.slash(ctx, operator, 9_999)  # 10,000 utask left: below the 1,000,000 of one unit
    staking.jail(ctx, operator)
    with pytest.raises(AppError, match="less than one unit of power"):
        staking.unjail(ctx, operator)
    chain.app.close()
