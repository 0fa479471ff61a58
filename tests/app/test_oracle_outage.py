"""Issue 21 in process: a shared price-source outage jails nobody, and nothing hands the chain over.

The reproduction of the issue: after 20 healthy rounds every vote carries an empty extension (the
data source is down for everyone) for longer than the window. Before the fix, every validator was
jailed in one block, the set was "kept" with stale powers, and one new account bonding power 1 became
the whole validator set. Every test here also checks that staking's active set equals CometBFT's set
rebuilt from InitChain and every block's validator updates (``OracleChain.cometbft``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from google.protobuf.message import Message
from nacl.signing import SigningKey
from taskmaster.bank.v1 import bank_pb2
from taskmaster.oracle.v1 import oracle_pb2
from taskmaster.staking.v1 import staking_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.modules import NodeLocal
from abci_app.modules.auth import keeper as auth
from abci_app.modules.bank import keeper as bank
from abci_app.modules.distribution.keeper import pay_proposer
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.staking import keeper as staking
from abci_app.tx.address import address_from_pubkey, from_bech32
from abci_app.tx.ante import FEE_COLLECTOR
from abci_app.tx.codec import build_tx
from tests.app.driver import address_of, seeded_key
from tests.app.oracle_driver import CHAIN_ID, OracleChain

E18 = 10**18
GOOD = {"bitcoin/usd": 67_000 * E18, "ethereum/usd": 3_500 * E18}
WINDOW = 4  # TEST_ORACLE_PARAMS: a round every block, a window of 4, minimum valid 50%


def _tx(chain: OracleChain, key: SigningKey, messages: Sequence[Message]) -> bytes:
    ctx = chain.app._context(chain.app._block_branch(), chain.height)
    account = auth.get_account(ctx, from_bech32(address_of(key)))
    assert account is not None, "the signer needs an account (send it tokens first)"
    return build_tx(
        key,
        messages,
        chain_id=CHAIN_ID,
        account_number=account.account_number,
        sequence=account.sequence,
        fee=20_000,
        gas_limit=5_000_000,
    )


def _staking_set(chain: OracleChain) -> dict[bytes, int]:
    """Staking's active set of the committed state, by consensus key."""
    ctx = chain.app._context(chain.app._block_branch(), chain.height)
    return {
        staking.require_validator(ctx, operator).consensus_pubkey: power
        for operator, power in staking.active_set(ctx)
    }


def _keys(chain: OracleChain) -> list[bytes]:
    return [bytes(k.verify_key) for k in chain.keys]


def _run(
    chain: OracleChain, reports: list[dict[str, int] | None], txs: list[bytes] | None = None
) -> abci.ResponseFinalizeBlock:
    """One block; then staking's set must equal CometBFT's set, and CometBFT's set is never empty."""
    response = chain.block(txs, reports=reports)
    assert chain.cometbft, "CometBFT would have no validator"
    assert _staking_set(chain) == chain.cometbft
    return response


def _events(response: abci.ResponseFinalizeBlock, kind: str) -> list[abci.Event]:
    found = [e for e in response.events if e.type == kind]
    return found + [e for r in response.tx_results for e in r.events if e.type == kind]


def _bonded(chain: OracleChain) -> int:
    ctx = chain.app._context(chain.app._block_branch(), chain.height)
    return bank.balance(ctx, staking.BONDED_POOL, "utask")


def _newcomer_joins_with_power_1(chain: OracleChain) -> abci.ResponseFinalizeBlock:
    """A fresh account receives 2 TASK, then bonds 1,000,000 utask (power 1) as a validator."""
    newcomer = seeded_key("newcomer")
    send = bank_pb2.MsgSend(
        from_address=address_of(chain.operators[0]),
        to_address=address_of(newcomer),
        amount=[bank_pb2.Coin(denom="utask", amount="2000000")],
    )
    funded = _run(chain, [GOOD] * len(chain.keys), [_tx(chain, chain.operators[0], [send])])
    assert all(r.code == 0 for r in funded.tx_results[1:]), [r.log for r in funded.tx_results]
    create = staking_pb2.MsgCreateValidator(
        operator_address=address_of(newcomer),
        consensus_pubkey=bytes(seeded_key("consensus-newcomer").verify_key),
        self_bond="1000000",
        description=staking_pb2.Description(moniker="newcomer"),
        commission=staking_pb2.CommissionRates(),
    )
    reports = [GOOD if p else None for p in chain.powers]
    created = _run(chain, reports, [_tx(chain, newcomer, [create])])
    assert created.tx_results[-1].code == 0, created.tx_results[-1].log
    return created


def test_a_shared_outage_longer_than_the_window_jails_nobody_and_a_newcomer_takes_nothing(
    tmp_path: Path,
) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [100, 100, 100, 100])
    chain.block()
    for _ in range(20):
        _run(chain, [GOOD] * 4)
    bonded = _bonded(chain)
    for _ in range(3 * WINDOW + 3):  # the source answers nobody: every vote signs "no report"
        response = _run(chain, [{}] * 4)
        assert not _events(response, "ValidatorJailed") and not response.validator_updates
        assert len(_events(response, "OracleRoundFailed")) == 2
    assert _bonded(chain) == bonded, "nobody slashed"
    misses = chain.query(
        "/taskmaster.oracle.v1.Query/MissCounters",
        oracle_pb2.QueryMissCountersRequest(),
        oracle_pb2.QueryMissCountersResponse,
    )
    assert [c.missed_in_window for c in misses.counters] == [0, 0, 0, 0]  # type: ignore[attr-defined]
    created = _newcomer_joins_with_power_1(chain)
    newcomer_key = bytes(seeded_key("consensus-newcomer").verify_key)
    assert [(u.pub_key.ed25519, u.power) for u in created.validator_updates] == [(newcomer_key, 1)]
    assert chain.cometbft == {**dict.fromkeys(_keys(chain), 100), newcomer_key: 1}
    recovered = _run(chain, [GOOD] * 4)  # prices land again in the first round after the outage
    assert len(_events(recovered, "OraclePriceUpdated")) == 2


def test_one_feed_down_alone_is_jailed_by_the_window_and_the_others_are_not(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    jailed: list[bytes] = []
    for _ in range(WINDOW + 2):
        response = _run(chain, [GOOD, GOOD, GOOD, {}])
        jailed += [u.pub_key.ed25519 for u in response.validator_updates if u.power == 0]
    assert jailed == [_keys(chain)[3]]
    assert chain.cometbft == dict.fromkeys(_keys(chain)[:3], 10)
    records = chain.query(
        "/taskmaster.oracle.v1.Query/JailRecords",
        oracle_pb2.QueryJailRecordsRequest(),
        oracle_pb2.QueryJailRecordsResponse,
    ).records  # type: ignore[attr-defined]
    assert [r.consensus_address for r in records] == [chain.address(3)]


def test_a_jailed_validator_extends_no_vote_says_jailed_and_earns_no_fee(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    for _ in range(WINDOW):
        _run(chain, [GOOD, GOOD, GOOD, {}])
    ctx = chain.app._context(chain.app._block_branch(), chain.height + 1, proposer=chain.address(3))
    assert not staking.is_active(ctx, chain.address(3))
    assert staking.membership(ctx, chain.address(3)) == (False, "jailed")
    # CometBFT still asks validator 3 for the votes of the next two heights: they carry nothing
    chain.app.local = NodeLocal(consensus_address=chain.address(3), price_source=lambda: dict(GOOD))
    vote = chain.app.extend_vote(abci.RequestExtendVote(height=chain.height + 1))
    assert vote.vote_extension == b""
    # ... and if it proposes meanwhile, the block's fees stay for the next unjailed proposer
    payer = from_bech32(address_of(chain.operators[0]))
    bank.send(ctx, payer, FEE_COLLECTOR, "utask", 5_000)
    pay_proposer(ctx)
    assert bank.balance(ctx, FEE_COLLECTOR, "utask") == 5_000


def test_a_mass_jailing_attempt_then_a_create_validator_does_not_change_who_validates(
    tmp_path: Path,
) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    # every validator's feed fails in turn while the three others report: each one's window fills
    deferred = 0
    for failing in (3, 2, 1, 0):
        for _ in range(WINDOW + 2):
            reports: list[dict[str, int] | None] = [GOOD if p else None for p in chain.powers]
            if chain.powers[failing]:
                reports[failing] = {}
            response = _run(chain, reports)
            deferred += len(_events(response, "ValidatorJailDeferred"))
            _follow_cometbft(chain)
    # the first one is jailed (10 of 40 power); each further jailing would hold 1/3 or more
    assert chain.cometbft == dict.fromkeys(_keys(chain)[:3], 10)
    assert deferred > 0
    # a direct attempt on a block's state: the cap and staking's guard refuse all but what fits
    ctx = chain.app._context(chain.app._block_branch(), chain.height + 1)
    params = oracle.get_params(ctx)
    done = [oracle.jail(ctx, chain.address(i), "attempt", params) for i in range(4)]
    assert done == [False, False, False, False]
    assert staking.apply_validator_set(ctx) == []
    created = _newcomer_joins_with_power_1(chain)
    newcomer_key = bytes(seeded_key("consensus-newcomer").verify_key)
    assert [(u.pub_key.ed25519, u.power) for u in created.validator_updates] == [(newcomer_key, 1)]
    assert chain.cometbft == {**dict.fromkeys(_keys(chain)[:3], 10), newcomer_key: 1}


def _follow_cometbft(chain: OracleChain) -> None:
    """The driver's vote powers follow CometBFT's set (an update of block h applies at h + 2).

    Kept simple: a validator removed from the set stops voting two blocks after its update, which
    is what a real commit holds; the tests only remove validators.
    """
    history = chain.__dict__.setdefault("_removed_at", {})
    for i, key in enumerate(_keys(chain)):
        if key not in chain.cometbft and chain.powers[i]:
            history.setdefault(i, chain.height)
            if chain.height >= history[i] + 2:
                chain.powers[i] = 0


def test_jailing_the_consensus_address_of_a_stranger_changes_nothing(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10])
    ctx = chain.app._context(chain.app._block_branch(), 1)
    stranger = address_from_pubkey(bytes(seeded_key("stranger").verify_key))
    assert not oracle.jail(ctx, stranger, "no such validator", oracle.get_params(ctx))


def test_the_jailing_guard_counts_the_validators_jailed_earlier_in_the_same_block(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10] * 6)
    chain.block()
    ctx = chain.app._context(chain.app._block_branch(), chain.height + 1)
    params = oracle.get_params(ctx)
    done = [oracle.jail(ctx, chain.address(i), "every window full at once", params) for i in range(6)]
    assert done == [True, False, False, False, False, False]
    assert [(u.pub_key.ed25519, u.power) for u in staking.apply_validator_set(ctx)] == [(_keys(chain)[0], 0)]


def test_a_two_then_two_split_fails_its_rounds_and_jails_nobody(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    splits: list[list[dict[str, int] | None]] = [[{}, {}, GOOD, GOOD], [GOOD, GOOD, {}, {}]]
    for reports in splits:
        for _ in range(WINDOW + 2):
            response = _run(chain, reports)
            assert not _events(response, "ValidatorJailed") and not response.validator_updates
            assert len(_events(response, "OracleRoundFailed")) == 2
    assert chain.cometbft == dict.fromkeys(_keys(chain), 10)
