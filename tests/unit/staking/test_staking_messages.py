"""Staking messages in-process: the active set, updates to CometBFT, unbonding, slashing, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from taskmaster.staking.v1 import staking_pb2

from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking import keeper
from abci_app.router import default_router
from abci_app.tx.address import from_bech32
from tests.app.driver import Chain
from tests.unit.staking.staking_chain import (
    addr,
    consensus_key,
    create,
    delegate,
    run,
    start,
    undelegate,
    updates,
    validator,
    view,
)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    c = start(str(tmp_path / "db"))
    yield c
    c.app.close()


def _ok(response: object) -> None:
    results = response.tx_results  # type: ignore[attr-defined]
    assert [(r.code, r.log) for r in results] == [(0, "")]


def _failed(response: object, codespace: str, code: int, words: str) -> None:
    (result,) = response.tx_results  # type: ignore[attr-defined]
    assert (result.codespace, result.code) == (codespace, code), result.log
    assert words in result.log


def test_a_created_validator_enters_the_set_at_the_end_of_its_block_with_the_power_of_its_bond(
    chain: Chain,
) -> None:
    response = run(chain, "user0", create(chain, "user0", 30_000_000))
    _ok(response)
    assert updates(response) == [(consensus_key("user0"), 30)]
    record = validator(chain, "user0")
    assert (record.tokens, record.delegator_shares, record.power, record.active) == (
        "30000000",
        "30000000",
        30,
        True,
    )
    assert record.moniker == "user0" and record.commission.rate_bps == 500


def test_a_block_that_changes_no_validator_sends_no_update(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    assert updates(chain.block([chain.send_tx("user1", addr(chain, "user2"), "5")])) == []


def test_the_top_max_validators_by_power_are_active_and_the_weakest_leaves_with_power_zero(
    chain: Chain,
) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    response = run(chain, "user1", create(chain, "user1", 50_000_000))
    # max_validators is 2: the genesis validator (100) and user1 (50) stay; user0 (30) leaves
    assert updates(response) == sorted(
        [(consensus_key("user0"), 0), (consensus_key("user1"), 50)],
        key=lambda u: from_bech32(addr(chain, "user0" if u[0] == consensus_key("user0") else "user1")),
    )
    assert not validator(chain, "user0").active and validator(chain, "user1").active


def test_equal_power_is_broken_by_the_lower_operator_address(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 40_000_000))
    run(chain, "user1", create(chain, "user1", 40_000_000))
    lower = min(("user0", "user1"), key=lambda n: from_bech32(addr(chain, n)))
    higher = "user1" if lower == "user0" else "user0"
    assert validator(chain, lower).active and not validator(chain, higher).active


def test_delegation_lifts_a_validator_into_the_set(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    run(chain, "user1", create(chain, "user1", 50_000_000))
    response = run(chain, "user2", delegate(chain, "user2", addr(chain, "user0"), 30_000_000))
    _ok(response)
    assert sorted(p for _, p in updates(response)) == [0, 60]
    assert validator(chain, "user0").active and not validator(chain, "user1").active


def test_undelegated_tokens_return_exactly_after_unbonding_blocks(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    before = chain.balance(addr(chain, "user0"))
    response = run(chain, "user0", undelegate(chain, "user0", addr(chain, "user0"), 10_000_000))
    _ok(response)
    height = chain.height
    fee = 500
    assert updates(response) == [(consensus_key("user0"), 20)]
    assert chain.balance(addr(chain, "user0")) == before - fee
    while chain.height < height + 2:
        chain.block([])
        assert chain.balance(addr(chain, "user0")) == before - fee
    chain.block([])  # height + unbonding_blocks (3): paid at its end-block
    assert chain.balance(addr(chain, "user0")) == before - fee + 10_000_000
    assert keeper.unbonding_entries_of(view(chain), from_bech32(addr(chain, "user0"))) == []


def test_undelegating_below_one_unit_of_power_leaves_the_set(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    response = run(chain, "user0", undelegate(chain, "user0", addr(chain, "user0"), 29_500_000))
    assert updates(response) == [(consensus_key("user0"), 0)]
    assert validator(chain, "user0").power == 0 and not validator(chain, "user0").active


def test_a_slash_reaches_every_delegation_in_proportion(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    run(chain, "user1", delegate(chain, "user1", addr(chain, "user0"), 10_000_000))
    ctx = chain.app._context(chain.app._block_branch(), chain.height + 1)
    operator = from_bech32(addr(chain, "user0"))
    assert keeper.slash(ctx, operator, 1000) == 4_000_000
    worth = {
        d.delegator_address: keeper.token_value(keeper.require_validator(ctx, operator), int(d.shares))
        for d in keeper.delegations_to(ctx, operator)
    }
    assert worth == {addr(chain, "user0"): 27_000_000, addr(chain, "user1"): 9_000_000}
    assert [u.power for u in keeper.end_block(ctx)] == [36]
    default_router().check_invariants(ctx)


def test_an_undelegation_after_a_slash_pays_the_slashed_worth(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    ctx = chain.app._context(chain.app._block_branch(), chain.height + 1)
    keeper.slash(ctx, from_bech32(addr(chain, "user0")), 5000)
    with pytest.raises(Exception, match="worth 15000000"):
        keeper.undelegate(
            ctx, from_bech32(addr(chain, "user0")), from_bech32(addr(chain, "user0")), 15_000_001
        )
    entry = keeper.undelegate(
        ctx, from_bech32(addr(chain, "user0")), from_bech32(addr(chain, "user0")), 15_000_000
    )
    assert entry.balance == "15000000"
    assert (
        keeper.get_delegation(ctx, from_bech32(addr(chain, "user0")), from_bech32(addr(chain, "user0")))
        is None
    )
    assert [u.power for u in keeper.end_block(ctx)] == [0]
    default_router().check_invariants(ctx)


def test_edit_validator_keeps_fields_marked_do_not_modify_and_bounds_the_rate_change(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    edit = staking_pb2.MsgEditValidator(
        operator_address=addr(chain, "user0"),
        description=staking_pb2.Description(
            moniker=keeper.DO_NOT_MODIFY,
            identity="KEYBASE",
            website=keeper.DO_NOT_MODIFY,
            security_contact=keeper.DO_NOT_MODIFY,
            details=keeper.DO_NOT_MODIFY,
        ),
        commission_rate_bps=550,
    )
    _ok(run(chain, "user0", edit))
    record = validator(chain, "user0")
    assert (record.moniker, record.description.identity, record.commission.rate_bps) == (
        "user0",
        "KEYBASE",
        550,
    )
    too_far = staking_pb2.MsgEditValidator(operator_address=addr(chain, "user0"), commission_rate_bps=900)
    too_far.description.moniker = keeper.DO_NOT_MODIFY
    _failed(run(chain, "user0", too_far), "staking", 9, "at most 100 bps")


def _bad_creates(chain: Chain) -> list[tuple[staking_pb2.MsgCreateValidator, str, int, str]]:
    short_key = create(chain, "user1", 1_000_000)
    short_key.consensus_pubkey = b"\x01" * 31
    used_key = create(chain, "user1", 1_000_000)
    used_key.consensus_pubkey = bytes(chain.validator_key.verify_key)
    no_name = create(chain, "user1", 1_000_000, moniker=" ")
    bad_rate = create(chain, "user1", 1_000_000)
    bad_rate.commission.rate_bps = 3000
    zero = create(chain, "user1", 0)
    fraction = create(chain, "user1", 1)
    fraction.self_bond = "1.5"
    broke = create(chain, "user1", 10**13)
    return [
        (short_key, "staking", 3, "32 bytes"),
        (used_key, "staking", 3, "already used"),
        (no_name, "staking", 8, "moniker"),
        (bad_rate, "staking", 9, "exceeds max_rate_bps"),
        (zero, "bank", 0, "greater than zero"),
        (fraction, "bank", 0, "positive integer"),
        (broke, "bank", 0, "needs"),
    ]


def test_every_bad_create_validator_fails_with_a_clear_error_and_leaves_no_state(chain: Chain) -> None:
    for msg, codespace, code, words in _bad_creates(chain):
        before = chain.app.store.last_app_hash
        balance = chain.balance(addr(chain, "user1"))
        (result,) = run(chain, "user1", msg).tx_results
        assert result.codespace == codespace and (code == 0 or result.code == code), result.log
        assert words in result.log, result.log
        assert keeper.get_validator(view(chain), from_bech32(addr(chain, "user1"))) is None
        assert chain.balance(addr(chain, "user1")) == balance - 500  # only the fee
        assert chain.app.store.last_app_hash != before


def test_bad_delegations_and_undelegations_fail_with_clear_errors(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    nobody = addr(chain, "user2")
    cases = [
        ("user1", delegate(chain, "user1", nobody, 5), "staking", 2, "no validator is operated by"),
        ("user1", undelegate(chain, "user1", addr(chain, "user0"), 5), "staking", 6, "has no delegation"),
        (
            "user0",
            undelegate(chain, "user0", addr(chain, "user0"), 30_000_001),
            "staking",
            6,
            "worth 30000000",
        ),
        ("user0", create(chain, "user0", 1_000_000), "staking", 4, "already operates"),
        ("user1", delegate(chain, "user1", "task1nope", 5), "sdk", 0, "validator_address"),
    ]
    for signer, msg, codespace, code, words in cases:
        (result,) = run(chain, signer, msg).tx_results
        assert result.codespace == codespace and (code == 0 or result.code == code), result.log
        assert words in result.log, result.log
    default_router().check_invariants(view(chain))


def test_at_most_seven_unbondings_per_validator_wait_at_once(tmp_path: Path) -> None:
    chain = start(str(tmp_path / "long"), {"max_validators": "2", "unbonding_blocks": "100"})
    run(chain, "user0", create(chain, "user0", 30_000_000))
    for _ in range(7):
        _ok(run(chain, "user0", undelegate(chain, "user0", addr(chain, "user0"), 1)))
    _failed(
        run(chain, "user0", undelegate(chain, "user0", addr(chain, "user0"), 1)), "staking", 7, "wait for one"
    )


def test_the_pools_hold_the_bonded_tokens_and_the_pending_unbondings(chain: Chain) -> None:
    run(chain, "user0", create(chain, "user0", 30_000_000))
    run(chain, "user0", undelegate(chain, "user0", addr(chain, "user0"), 4_000_000))
    ctx = view(chain)
    assert bank.balance(ctx, keeper.BONDED_POOL, "utask") == 100_000_000 + 26_000_000
    assert bank.balance(ctx, keeper.UNBONDING_POOL, "utask") == 4_000_000
    default_router().check_invariants(ctx)


def _valoper(chain: Chain, name: str) -> str:
    import bech32

    data = bech32.convertbits(list(from_bech32(addr(chain, name))), 8, 5, True)
    assert data is not None
    return str(bech32.bech32_encode("taskvaloper", data))


def test_the_sdks_msg_delegate_and_msg_undelegate_run_ours(chain: Chain) -> None:
    """``/cosmos.staking.v1beta1.MsgDelegate`` / ``MsgUndelegate`` (cosmjs's ``delegateTokens``): the
    validator as ``taskvaloper1...``, the amount a Coin in the bond denom."""
    from cosmos.base.v1beta1 import coin_pb2
    from cosmos.staking.v1beta1 import tx_pb2 as sdk

    run(chain, "user0", create(chain, "user0", 30_000_000))
    run(chain, "user1", create(chain, "user1", 50_000_000))
    coin = coin_pb2.Coin(denom="utask", amount="30000000")
    msg = sdk.MsgDelegate(
        delegator_address=addr(chain, "user2"), validator_address=_valoper(chain, "user0"), amount=coin
    )
    response = run(chain, "user2", msg)
    _ok(response)
    assert sorted(p for _, p in updates(response)) == [0, 60]
    back = sdk.MsgUndelegate(
        delegator_address=addr(chain, "user2"),
        validator_address=_valoper(chain, "user0"),
        amount=coin_pb2.Coin(denom="utask", amount="10000000"),
    )
    undelegated = run(chain, "user2", back)
    _ok(undelegated)
    # user0 falls to 50, level with user1, which wins the tie (the lower operator address): they swap
    assert sorted(p for _, p in updates(undelegated)) == [0, 50]
    wrong_prefix = sdk.MsgDelegate(
        delegator_address=addr(chain, "user2"), validator_address=addr(chain, "user0"), amount=coin
    )
    _failed(run(chain, "user2", wrong_prefix), "sdk", 7, "taskvaloper1")
    wrong_denom = sdk.MsgDelegate(
        delegator_address=addr(chain, "user2"),
        validator_address=_valoper(chain, "user0"),
        amount=coin_pb2.Coin(denom="uatom", amount="1"),
    )
    _failed(run(chain, "user2", wrong_denom), "bank", 2, "bond denom utask")


def test_the_sdks_create_and_edit_validator_run_ours(chain: Chain) -> None:
    """cosmjs's MsgCreateValidator / MsgEditValidator: valoper address, ed25519 PubKey Any, a Coin, and
    rates in the SDK's Dec wire form (10^18 times the rate)."""
    from cosmos.base.v1beta1 import coin_pb2
    from cosmos.crypto.ed25519 import keys_pb2 as ed25519_pb2
    from cosmos.staking.v1beta1 import staking_pb2 as sdk_types
    from cosmos.staking.v1beta1 import tx_pb2 as sdk
    from google.protobuf.any_pb2 import Any as AnyProto

    pubkey = AnyProto(
        type_url="/cosmos.crypto.ed25519.PubKey",
        value=ed25519_pb2.PubKey(key=consensus_key("user0")).SerializeToString(),
    )
    create_msg = sdk.MsgCreateValidator(
        description=sdk_types.Description(moniker="sdk-made"),
        commission=sdk_types.CommissionRates(
            rate="50000000000000000", max_rate="200000000000000000", max_change_rate="10000000000000000"
        ),
        min_self_delegation="1",
        validator_address=_valoper(chain, "user0"),
        pubkey=pubkey,
        value=coin_pb2.Coin(denom="utask", amount="30000000"),
    )
    _ok(run(chain, "user0", create_msg))
    record = validator(chain, "user0")
    assert (record.moniker, record.consensus_pubkey, record.commission.rate_bps) == (
        "sdk-made",
        consensus_key("user0"),
        500,
    )
    assert (record.commission.max_rate_bps, record.commission.max_change_rate_bps) == (2000, 100)
    edit = sdk.MsgEditValidator(
        description=sdk_types.Description(
            moniker=keeper.DO_NOT_MODIFY,
            identity="KEYBASE",
            website=keeper.DO_NOT_MODIFY,
            security_contact=keeper.DO_NOT_MODIFY,
            details=keeper.DO_NOT_MODIFY,
        ),
        validator_address=_valoper(chain, "user0"),
        commission_rate="55000000000000000",
    )
    _ok(run(chain, "user0", edit))
    record = validator(chain, "user0")
    assert (record.moniker, record.description.identity, record.commission.rate_bps) == (
        "sdk-made",
        "KEYBASE",
        550,
    )
    half_bps = sdk.MsgEditValidator(
        description=sdk_types.Description(moniker=keeper.DO_NOT_MODIFY),
        validator_address=_valoper(chain, "user0"),
        commission_rate="55000000000000001",
    )
    _failed(run(chain, "user0", half_bps), "staking", 3, "whole basis points")
