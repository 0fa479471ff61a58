"""The price oracle, driven in process through PrepareProposal / ProcessProposal / FinalizeBlock / Commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from taskmaster.oracle.v1 import oracle_pb2
from taskmaster.taskmaster.v1 import taskmaster_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.modules.oracle.codec import encode_extension
from abci_app.modules.oracle.injection import (
    INJECTION_PREFIX,
    decode_injection,
    encode_injection,
    extension_sign_bytes,
    last_commit_of,
)
from abci_app.modules.oracle.task import count_key
from abci_app.tx.codec import build_tx
from tests.app.driver import address_of
from tests.app.oracle_driver import CHAIN_ID, OracleChain

E18 = 10**18
ACCEPT = abci.ResponseProcessProposal.ACCEPT
REJECT = abci.ResponseProcessProposal.REJECT


def _prices(chain: OracleChain) -> dict[str, oracle_pb2.PriceRecord]:
    resp = chain.query(
        "/taskmaster.oracle.v1.Query/Prices", oracle_pb2.QueryPricesRequest(), oracle_pb2.QueryPricesResponse
    )
    return {r.pair: r for r in resp.prices}  # type: ignore[attr-defined]


def _report(btc: int, eth: int) -> dict[str, int]:
    return {"bitcoin/usd": btc * E18, "ethereum/usd": eth * E18}


def test_stored_price_is_the_stake_weighted_lower_median(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 20, 30, 40])
    chain.block()  # height 1 opens the first round
    chain.block(reports=[_report(100, 1), _report(200, 2), _report(300, 3), _report(400, 4)])
    prices = _prices(chain)
    assert int(prices["bitcoin/usd"].price) == 300 * E18
    assert int(prices["ethereum/usd"].price) == 3 * E18
    assert (prices["bitcoin/usd"].reporting_power, prices["bitcoin/usd"].reporter_count) == (100, 4)
    assert prices["bitcoin/usd"].height == 2


def test_one_validator_1000x_off_does_not_move_the_median(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    chain.block(
        reports=[
            _report(67000, 3000),
            _report(67010, 3001),
            _report(67020, 3002),
            _report(67_000_000, 3_000_000),
        ]
    )
    prices = _prices(chain)
    assert int(prices["bitcoin/usd"].price) == 67010 * E18
    assert int(prices["ethereum/usd"].price) == 3001 * E18


def test_two_of_four_feeds_down_fail_the_round_and_write_nothing(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    response = chain.block(reports=[_report(1, 1), _report(1, 1), {}, {}])
    assert _prices(chain) == {}
    failed = [e for r in response.tx_results for e in r.events if e.type == "OracleRoundFailed"]
    assert len(failed) == 2
    status = chain.query(
        "/taskmaster.taskmaster.v1.Query/Task",
        taskmaster_pb2.QueryTaskRequest(name="oracle"),
        taskmaster_pb2.QueryTaskResponse,
    )
    assert status.task.failure_count == 2 and status.task.success_count == 0  # type: ignore[attr-defined]


def test_a_validator_missing_its_window_is_jailed_then_unjailed(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    good = _report(5, 5)
    jailed_at = None
    for _ in range(4):
        response = chain.block(reports=[good, good, good, {}])
        if any(u.power == 0 for u in response.validator_updates):
            jailed_at = chain.height
            update = response.validator_updates[0]
            assert update.pub_key.ed25519 == bytes(chain.keys[3].verify_key)
    assert jailed_at is not None, "validator 3 should be jailed after missing a whole window"
    records = chain.query(
        "/taskmaster.oracle.v1.Query/JailRecords",
        oracle_pb2.QueryJailRecordsRequest(),
        oracle_pb2.QueryJailRecordsResponse,
    ).records  # type: ignore[attr-defined]
    assert [r.active for r in records] == [True]
    assert records[0].slashed == str(10 * 1_000_000 // 100)
    assert "missed 4 of the last 4" in records[0].reason

    operator = chain.operators[3]

    def unjail(sequence: int, sdk: bool = False) -> bytes:
        import bech32
        from cosmos.slashing.v1beta1 import tx_pb2 as slashing_pb2

        from abci_app.modules.auth import keeper as auth
        from abci_app.tx.address import from_bech32

        ctx = chain.app._context(chain.app._block_branch(), chain.height)
        account = auth.get_account(ctx, from_bech32(address_of(operator)))
        assert account is not None
        message: oracle_pb2.MsgUnjail | slashing_pb2.MsgUnjail = oracle_pb2.MsgUnjail(
            operator_address=address_of(operator)
        )
        if sdk:  # the SDK's /cosmos.slashing.v1beta1.MsgUnjail, the operator as taskvaloper1...
            data = bech32.convertbits(list(from_bech32(address_of(operator))), 8, 5, True)
            assert data is not None
            message = slashing_pb2.MsgUnjail(validator_addr=bech32.bech32_encode("taskvaloper", data))
        return build_tx(
            operator,
            [message],
            chain_id=CHAIN_ID,
            account_number=account.account_number,
            sequence=sequence,
            fee=500,
            gas_limit=400_000,
        )

    early = chain.block([unjail(0)], reports=[good, good, good, None])
    assert (early.tx_results[1].codespace, early.tx_results[1].code) == ("oracle", 3)
    while chain.height < jailed_at + 3:
        chain.block(reports=[good, good, good, None])
    done = chain.block([unjail(1, sdk=True)], reports=[good, good, good, None])
    assert done.tx_results[1].code == 0, done.tx_results[1].log
    assert [(u.pub_key.ed25519, u.power) for u in done.validator_updates] == [
        (bytes(chain.keys[3].verify_key), 9)
    ]


def test_process_proposal_rejects_bad_injections(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    commit = chain.votes([_report(1, 1)] * 4)
    last = last_commit_of(commit)
    prepared = chain.app.prepare_proposal(
        abci.RequestPrepareProposal(
            height=2, max_tx_bytes=1 << 20, local_last_commit=commit, time=Timestamp(seconds=1)
        )
    )
    injection = prepared.txs[0]
    assert injection.startswith(INJECTION_PREFIX)

    def process(txs: list[bytes], last_commit: abci.CommitInfo = last) -> int:
        return chain.app.process_proposal(
            abci.RequestProcessProposal(txs=txs, height=2, proposed_last_commit=last_commit)
        ).status

    assert process([injection]) == ACCEPT
    assert process([]) == REJECT, "missing"
    assert process([injection, injection]) == REJECT, "duplicated"
    forged = decode_injection(injection)
    forged.votes[1].vote_extension = forged.votes[0].vote_extension[:-1] + b"\x01"
    assert process([encode_injection(forged)]) == REJECT, "bad signature"
    wrong_power = decode_injection(injection)
    wrong_power.votes[2].validator.power = 99
    assert process([encode_injection(wrong_power)]) == REJECT, "power does not match the commit"
    thin = decode_injection(injection)
    for vote in thin.votes[1:3]:
        vote.vote_extension = b""
        vote.extension_signature = b""
    assert process([encode_injection(thin)]) == REJECT, "backed by no more than 2/3"
    other_round = abci.CommitInfo()
    other_round.CopyFrom(last)
    other_round.round = 1
    assert process([injection], other_round) == REJECT, "round mismatch"


def test_prepare_proposal_prunes_invalid_extensions(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    commit = chain.votes([_report(1, 1)] * 4)
    commit.votes[3].extension_signature = bytes(64)
    prepared = _prepare(chain, commit)
    injected = decode_injection(prepared.txs[0])
    assert injected.votes[3].vote_extension == b"" and injected.votes[3].extension_signature == b""
    assert all(v.vote_extension for v in injected.votes[:3])


def test_a_user_tx_never_passes_as_an_injection(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    fake = encode_injection(chain.votes([_report(1, 1)] * 4))
    check = chain.app.check_tx(abci.RequestCheckTx(tx=fake))
    assert (check.codespace, check.code) == ("sdk", 2)


def test_extend_vote_reports_fresh_quotes_only_when_due(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10], {"intervalBlocks": "3", "startHeight": "3"})
    chain.app.price_source = lambda: {"bitcoin/usd": 67187330000000000000000, "ethereum/usd": 3 * E18}
    chain.block()
    chain.block()
    due = chain.app.extend_vote(abci.RequestExtendVote(height=3, time=Timestamp(seconds=5)))
    assert due.vote_extension and len(due.vote_extension) < 1024
    verdict = chain.app.verify_vote_extension(
        abci.RequestVerifyVoteExtension(height=3, vote_extension=due.vote_extension)
    )
    assert verdict.status == abci.ResponseVerifyVoteExtension.ACCEPT
    chain.block()
    not_due = chain.app.extend_vote(abci.RequestExtendVote(height=4, time=Timestamp(seconds=6)))
    assert not_due.vote_extension == b""


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xff", b"\x0a\x03\x08\x09\x12", b"\x0a\x04\x08\x00\x12\x00"],
    ids=["undecodable", "unknown pair", "zero price"],
)
def test_verify_vote_extension_rejects_garbage(tmp_path: Path, garbage: bytes) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10])
    verdict = chain.app.verify_vote_extension(
        abci.RequestVerifyVoteExtension(height=1, vote_extension=garbage)
    )
    assert verdict.status == abci.ResponseVerifyVoteExtension.REJECT


def test_migration_to_v2_runs_at_the_upgrade_height(tmp_path: Path) -> None:
    # the task starts at layout version 1, as a chain launched before v2 would have
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10], {"upgradeHeight": "4"}, {"oracle": 1})

    def version() -> int:
        status = chain.query(
            "/taskmaster.taskmaster.v1.Query/Task",
            taskmaster_pb2.QueryTaskRequest(name="oracle"),
            taskmaster_pb2.QueryTaskResponse,
        )
        return int(status.task.consensus_version)  # type: ignore[attr-defined]

    def count() -> bytes | None:
        return chain.app.store.query("oracle", count_key("bitcoin/usd")).value

    chain.block()
    chain.block(reports=[_report(1, 1)] * 2)
    chain.block(reports=[_report(2, 1)] * 2)
    assert (version(), count()) == (1, None)
    chain.block(reports=[_report(3, 1)] * 2)  # height 4: the migration back-fills 3 rounds
    assert version() == 2
    assert count() == (3).to_bytes(8, "big")
    chain.block(reports=[_report(4, 1)] * 2)  # v2 code keeps the count up to date
    assert count() == (4).to_bytes(8, "big")


def test_twap_weights_prices_by_time(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10])
    chain.block()
    chain.block(reports=[_report(100, 1)])
    chain.block(reports=[_report(200, 1)])
    chain.block(reports=[_report(200, 1)])
    twap = chain.query(
        "/taskmaster.oracle.v1.Query/Twap",
        oracle_pb2.QueryTwapRequest(pair="bitcoin/usd"),
        oracle_pb2.QueryTwapResponse,
    )
    assert int(twap.twap) == 150 * E18 and twap.samples == 3  # type: ignore[attr-defined]


# -- canonical encodings and finding 8 (a proposer clearing honest extensions) ----------------------

UNKNOWN_FIELD = b"\x18\x01"  # field 3, varint 1: not part of VoteExtension


def _prepare(chain: OracleChain, commit: abci.ExtendedCommitInfo) -> abci.ResponsePrepareProposal:
    """Block 2 as this node would propose it from ``commit``."""
    return chain.app.prepare_proposal(
        abci.RequestPrepareProposal(height=2, max_tx_bytes=1 << 20, local_last_commit=commit)
    )


def _clear(index: int) -> Callable[[abci.ExtendedCommitInfo], None]:
    def change(injected: abci.ExtendedCommitInfo) -> None:
        injected.votes[index].vote_extension = b""
        injected.votes[index].extension_signature = b""

    return change


def _counters(chain: OracleChain) -> dict[bytes, oracle_pb2.MissInfo]:
    resp = chain.query(
        "/taskmaster.oracle.v1.Query/MissCounters",
        oracle_pb2.QueryMissCountersRequest(),
        oracle_pb2.QueryMissCountersResponse,
    )
    return {c.consensus_address: c for c in resp.counters}  # type: ignore[attr-defined]


def test_a_proposer_clearing_an_honest_extension_never_gets_it_jailed(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    good = _report(5, 5)
    for _ in range(8):  # two whole windows, validator 3's signed report cleared every time
        response = chain.block(reports=[good] * 4, tamper=_clear(3))
        assert all(u.power != 0 for u in response.validator_updates), "validator 3 was jailed"
        cleared = [e for r in response.tx_results for e in r.events if e.type == "OracleReportCleared"]
        assert [{a.key: a.value for a in e.attributes}["consensus_address"] for e in cleared] == [
            chain.address(3).hex().upper()
        ]
    counters = _counters(chain)
    assert chain.address(3) not in counters, "a cleared vote is not a round of the validator's window"
    assert counters[chain.address(2)].rounds_seen == 8
    assert int(_prices(chain)["bitcoin/usd"].price) == 5 * E18


def test_a_signed_no_report_is_still_a_miss(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    reports: list[dict[str, int] | None] = [_report(5, 5), _report(5, 5), _report(5, 5), {}]
    chain.block(reports=reports)
    assert _counters(chain)[chain.address(3)].missed_in_window == 1


def test_a_validator_rejects_a_proposal_that_clears_its_own_extension(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    commit = chain.votes([_report(1, 1)] * 4)
    prepared = _prepare(chain, commit)
    last = last_commit_of(commit)

    def process_cleared(index: int) -> int:
        injected = decode_injection(prepared.txs[0])
        _clear(index)(injected)
        return chain.app.process_proposal(
            abci.RequestProcessProposal(txs=[encode_injection(injected)], height=2, proposed_last_commit=last)
        ).status

    assert process_cleared(2) == ACCEPT, "another validator's vote: indistinguishable from a pruned one"
    assert process_cleared(0) == REJECT, "this node's own signed extension was dropped"
    assert "own commit vote" in caplog.text


def test_verify_vote_extension_rejects_a_non_canonical_extension_and_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10])
    raw = encode_extension(_report(1, 1), ["bitcoin/usd", "ethereum/usd"]) + UNKNOWN_FIELD
    verdict = chain.app.verify_vote_extension(
        abci.RequestVerifyVoteExtension(height=1, vote_extension=raw, validator_address=chain.address(0))
    )
    assert verdict.status == abci.ResponseVerifyVoteExtension.REJECT
    assert "not the canonical encoding" in caplog.text


def _signed_commit(chain: OracleChain, extension_of_3: bytes) -> abci.ExtendedCommitInfo:
    """Four commit votes; validator 3 (byzantine) signs ``extension_of_3``."""
    commit = chain.votes([_report(1, 1)] * 4)
    vote = commit.votes[3]
    vote.vote_extension = extension_of_3
    vote.extension_signature = (
        chain.keys[3].sign(extension_sign_bytes(extension_of_3, chain.height, 0, CHAIN_ID)).signature
    )
    return commit


def test_a_signed_non_canonical_extension_is_pruned_and_never_accepted_in_an_injection(
    tmp_path: Path,
) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    padded = encode_extension(_report(1, 1), ["bitcoin/usd", "ethereum/usd"]) + UNKNOWN_FIELD
    commit = _signed_commit(chain, padded)
    prepared = _prepare(chain, commit)
    pruned = decode_injection(prepared.txs[0])
    assert (pruned.votes[3].vote_extension, pruned.votes[3].extension_signature) == (b"", b"")
    last = last_commit_of(commit)
    kept = INJECTION_PREFIX + commit.SerializeToString(deterministic=True)
    verdict = chain.app.process_proposal(
        abci.RequestProcessProposal(txs=[kept], height=2, proposed_last_commit=last)
    )
    assert verdict.status == REJECT


def test_process_proposal_rejects_a_non_canonical_injection(tmp_path: Path) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10, 10, 10, 10])
    chain.block()
    commit = chain.votes([_report(1, 1)] * 4)
    prepared = _prepare(chain, commit)
    last = last_commit_of(commit)
    for tx in (prepared.txs[0] + b"\x18\x07", prepared.txs[0] + b"\x2a\x00"):  # unknown field; empty vote
        verdict = chain.app.process_proposal(
            abci.RequestProcessProposal(txs=[tx], height=2, proposed_last_commit=last)
        )
        assert verdict.status == REJECT


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (
            "/taskmaster.oracle.v1.Query/Twap",
            oracle_pb2.QueryTwapRequest(pair="bitcoin/usd", window_seconds=2**64 - 1),
        ),
        ("/taskmaster.oracle.v1.Query/Twap", oracle_pb2.QueryTwapRequest(pair="x" * 10_000)),
        ("/taskmaster.oracle.v1.Query/Price", oracle_pb2.QueryPriceRequest(pair="x" * 10_000)),
        ("/taskmaster.oracle.v1.Query/History", oracle_pb2.QueryHistoryRequest(pair="x" * 10_000)),
    ],
    ids=["twap window", "twap pair", "price pair", "history pair"],
)
def test_oracle_queries_beyond_their_bounds_are_invalid(tmp_path: Path, path: str, query: Message) -> None:
    chain = OracleChain.start(str(tmp_path / "db"), [10])
    chain.block()
    chain.block(reports=[_report(1, 1)])
    answer = chain.app.query(abci.RequestQuery(path=path, data=query.SerializeToString()))
    assert (answer.codespace, answer.code) == ("query", 2), answer.log
    assert len(answer.log) < 300


def test_oracle_params_out_of_range_are_refused_at_genesis(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="jail_duration"):
        OracleChain.start(str(tmp_path / "db"), [10], {"jailDuration": str(2**63)})
