"""Staking's keeper API is the only way other modules change a validator: slash, jail, unjail."""

from __future__ import annotations

from pathlib import Path

import pytest
from taskmaster.staking.v1 import staking_pb2

from abci_app.context import Context
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


def test_jailing_the_only_validator_is_refused_and_leaves_the_set_as_it_was(tmp_path: Path) -> None:
    chain, operator = _operator_ctx(tmp_path)
    ctx = chain.app._context(chain.app._block_branch(), 1)
    assert staking.apply_validator_set(ctx) == []
    child = ctx.child()
    with pytest.raises(AppError, match="would take 100 of the validator set's 100 power"):
        staking.jail(child, operator)
    child.branch.discard()
    assert staking.apply_validator_set(ctx) == []
    assert staking.active_set(ctx) == [(operator, 100)] and staking.top_candidates(ctx) == [(operator, 100)]
    chain.app.close()


def test_unjail_restores_the_power_of_the_tokens_left_after_the_slash(tmp_path: Path) -> None:
    chain, _ = _operator_ctx(tmp_path)
    user = from_bech32(address_of(chain.accounts["user0"]))
    ctx = chain.app._context(chain.app._block_branch(), 1)
    _small_validator(ctx, user, 30_000_000)
    staking.apply_validator_set(ctx)
    staking.slash(ctx, user, 100)
    staking.jail(ctx, user)  # 30 of 130 leaves in this block: below 1/3
    assert [u.power for u in staking.apply_validator_set(ctx)] == [0]
    assert staking.unjail(ctx, user) == 29
    assert [u.power for u in staking.apply_validator_set(ctx)] == [29]
    chain.app.close()


def test_unjail_refuses_a_validator_slashed_below_one_unit_of_power(tmp_path: Path) -> None:
    chain, _ = _operator_ctx(tmp_path)
    user = from_bech32(address_of(chain.accounts["user0"]))
    ctx = chain.app._context(chain.app._block_branch(), 1)
    _small_validator(ctx, user, 1_000_000)  # not in CometBFT's set yet: no set change is guarded
    staking.slash(ctx, user, 9_999)  # 100 utask left: below the 1,000,000 of one unit
    staking.jail(ctx, user)
    with pytest.raises(AppError, match="less than one unit of power"):
        staking.unjail(ctx, user)
    chain.app.close()


def _small_validator(ctx: Context, operator: bytes, amount: int) -> None:
    staking.create_validator(
        ctx,
        operator,
        bytes(seeded_key("consensus-small").verify_key),
        amount,
        staking_pb2.Description(moniker="small"),
        staking_pb2.CommissionRates(),
    )
