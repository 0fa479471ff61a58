"""The price oracle on a real 4-validator localnet with the CoinGecko simulator (one API key each).

Stored medians, an outlier, a failed round, jailing and unjailing are all observed through CometBFT's
RPC and the ``taskmaster`` CLI on every node, and checked against proofs and the injected extensions.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from taskmaster.kv.v1 import kv_pb2
from taskmaster.oracle.v1 import oracle_pb2
from taskmaster.staking.v1 import staking_pb2
from taskmaster.taskmaster.v1 import taskmaster_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.client import RpcClient
from abci_app.context import Context
from abci_app.modules.oracle.aggregate import stake_weighted_median
from abci_app.modules.oracle.codec import decode_extension
from abci_app.modules.oracle.injection import decode_injection, is_injection
from abci_app.modules.oracle.keys import latest_key
from abci_app.modules.oracle.task import count_key
from abci_app.modules.taskmaster import keeper as taskmaster
from abci_app.node.genesis import load_genesis
from abci_app.node.home import cometbft_binary
from abci_app.node.keyring import Keyring
from abci_app.store import ProofOp
from abci_app.store.proofs import verify_query_proof
from abci_app.tx.address import address_from_pubkey
from tests.app.genesis_queries import requests_for
from tests.integration.localnet_harness import Cluster, block_app_hash, run_cli, wait_for, wait_for_height

pytestmark = pytest.mark.integration
E18 = 10**18
BTC = "bitcoin/usd"
PAIRS = ["bitcoin/usd", "ethereum/usd"]
BASE = {"bitcoin/usd": 67187_330000000000000000, "ethereum/usd": 3512_080000000000000000}
PARAMS = {
    "intervalBlocks": "1",
    "startHeight": "2",
    "maxPriceAgeSeconds": "3",
    "window": "8",
    "minValidBps": "5000",
    "jailDuration": "6",
    "slashBps": "100",
    "graceRounds": "2",
    "historySize": "20",
    "upgradeHeight": "12",
}
TASK_TX = ["--gas", "600000", "--fee", "3000"]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # the oracle task starts at store layout v1 and migrates to v2 at height 12
    app_state = {"oracle": {"params": PARAMS}, "taskmaster": {"versions": {"oracle": 1}}}
    cluster = Cluster.create(tmp_path_factory.mktemp("oracle"), 4, app_state=app_state)
    try:
        cluster.start()
        for i in range(4):  # no drift: every honest validator is served exactly the base prices
            cluster.set_feed(i, {"drift_per_s": {p: "0" for p in PAIRS}})
        yield cluster
    finally:
        cluster.close()


def query(net: Cluster, i: int, method: str, request: object, response_type: type, height: int = 0) -> object:
    return net.client(i).query(f"/taskmaster.oracle.v1.Query/{method}", request, response_type, height)  # type: ignore[arg-type]


def price(net: Cluster, i: int, pair: str = BTC, height: int = 0) -> oracle_pb2.PriceRecord | None:
    answer = net.client(i).abci_query(
        "/taskmaster.oracle.v1.Query/Price",
        oracle_pb2.QueryPriceRequest(pair=pair).SerializeToString(),
        height,
    )
    return oracle_pb2.QueryPriceResponse.FromString(answer.value).price if answer.code == 0 else None


def wait_for_price_after(net: Cluster, height: int, timeout: float = 40.0) -> oracle_pb2.PriceRecord:
    found: list[oracle_pb2.PriceRecord] = []

    def fresh() -> bool:
        record = price(net, 0)
        if record is not None and record.height > height:
            found.append(record)
            return True
        return False

    wait_for(fresh, timeout, f"a price written after height {height}")
    return found[-1]


def test_stored_median_matches_the_injected_reports_on_every_node_with_proofs(net: Cluster) -> None:
    # the feeds changed to "no drift" when the fixture started: give every cache a few polls
    record = wait_for_price_after(net, net.client(0).height() + 4)
    wait_for_height(net.rpc(3), record.height + 1)
    # the injection of that block carries the signed reports: recompute the weighted median from them
    block = RpcClient(net.rpc(1)).call("block", {"height": str(record.height)})["block"]
    injected = decode_injection(base64.b64decode(block["data"]["txs"][0]), len(PAIRS))
    reports = []
    for vote in injected.votes:
        prices = decode_extension(vote.vote_extension, len(PAIRS))
        if 0 in prices:
            reports.append((prices[0], vote.validator.power))
    assert int(record.price) == stake_weighted_median(reports) == BASE[BTC]
    for i in range(4):
        same = price(net, i, height=record.height)
        assert same is not None and same.SerializeToString() == record.SerializeToString()
        answer = net.client(i).abci_query(
            "/store/oracle/key", latest_key(BTC), height=record.height, prove=True
        )
        ops = [
            ProofOp(op["type"], base64.b64decode(op["key"]), base64.b64decode(op["data"]))
            for op in answer.proof_ops
        ]
        app_hash = bytes.fromhex(block_app_hash(net.rpc(i), answer.height + 1))
        verify_query_proof(app_hash, "oracle", latest_key(BTC), answer.value, ops)


def test_one_feed_1000x_off_does_not_move_the_median(net: Cluster) -> None:
    net.set_feed(3, {"skew": "1000"})
    try:
        start = net.client(0).height() + 3  # let the skewed quote reach node 3's cache
        for _ in range(3):
            record = wait_for_price_after(net, start)
            assert int(record.price) == BASE[BTC]
            start = record.height
    finally:
        net.set_feed(3, {"skew": "1"})


def test_two_of_four_feeds_down_fail_rounds_without_halting(net: Cluster) -> None:
    def failures() -> int:
        resp = net.client(0).query(
            "/taskmaster.taskmaster.v1.Query/Task",
            taskmaster_pb2.QueryTaskRequest(name="oracle"),
            taskmaster_pb2.QueryTaskResponse,
        )
        return int(resp.task.failure_count)  # type: ignore[attr-defined]

    before = failures()
    net.set_feed(2, {"mode": "error500"})
    net.set_feed(3, {"mode": "error500"})
    try:
        wait_for(lambda: failures() >= before + 2, 30.0, "failed oracle rounds")
        stuck = price(net, 0)
        height = net.client(0).height()
        wait_for_height(net.rpc(0), height + 2)  # the chain keeps going
        assert price(net, 0) == stuck, "no price may be written while 2 of 4 feeds are down"
    finally:
        net.set_feed(2, {"mode": "ok"})
        net.set_feed(3, {"mode": "ok"})
    wait_for_price_after(net, net.client(0).height())


def _validator_powers(net: Cluster, i: int) -> dict[str, int]:
    result = RpcClient(net.rpc(i)).call("validators", {})
    return {v["address"]: int(v["voting_power"]) for v in result["validators"]}


def _staking_set(net: Cluster, i: int, height: int) -> dict[str, int]:
    """Staking's active set at ``height`` as CometBFT names it: consensus address -> power."""
    resp = net.client(i).query(
        "/taskmaster.staking.v1.Query/ActiveSet",
        staking_pb2.QueryActiveSetRequest(),
        staking_pb2.QueryActiveSetResponse,
        height,
    )
    return {
        address_from_pubkey(v.consensus_pubkey).hex().upper(): v.power
        for v in resp.validators  # type: ignore[attr-defined]
    }


def _cometbft_set(net: Cluster, i: int, height: int) -> dict[str, int]:
    result = RpcClient(net.rpc(i)).call("validators", {"height": str(height)})
    return {v["address"]: int(v["voting_power"]) for v in result["validators"]}


def _oracle_status(net: Cluster) -> taskmaster_pb2.TaskStatus:
    resp = net.client(0).query(
        "/taskmaster.taskmaster.v1.Query/Task",
        taskmaster_pb2.QueryTaskRequest(name="oracle"),
        taskmaster_pb2.QueryTaskResponse,
    )
    return resp.task  # type: ignore[attr-defined,no-any-return]


def _bonded(net: Cluster) -> int:
    resp = net.client(0).query(
        "/taskmaster.staking.v1.Query/Pool", staking_pb2.QueryPoolRequest(), staking_pb2.QueryPoolResponse
    )
    return int(resp.bonded_tokens)  # type: ignore[attr-defined]


def _misses(net: Cluster) -> dict[bytes, int]:
    """Each validator's misses in the oracle window, by consensus address."""
    answer = query(
        net, 0, "MissCounters", oracle_pb2.QueryMissCountersRequest(), oracle_pb2.QueryMissCountersResponse
    )
    return {c.consensus_address: c.missed_in_window for c in answer.counters}  # type: ignore[attr-defined]


def test_every_feed_down_longer_than_the_window_jails_nobody_and_prices_resume(net: Cluster) -> None:
    """Issue 21 on a real localnet: the source answers 500 to every validator for > the window."""
    window = int(PARAMS["window"])
    wait_for_price_after(net, 0)
    jailed_before = query(
        net, 0, "JailRecords", oracle_pb2.QueryJailRecordsRequest(), oracle_pb2.QueryJailRecordsResponse
    ).records  # type: ignore[attr-defined]
    bonded = _bonded(net)
    members = _validator_powers(net, 0)
    assert len(members) == 4
    missed_before = _misses(net)
    for i in range(4):
        net.set_feed(i, {"mode": "error500"})
    try:
        # once the cached quotes are stale, every round fails both pairs: wait for 1.5 windows of them
        first = _oracle_status(net).failure_count
        wait_for(lambda: _oracle_status(net).failure_count >= first + 2, 30.0, "the first failed round")
        start = _oracle_status(net).failure_count
        wait_for(
            lambda: _oracle_status(net).failure_count >= start + 2 * (window + window // 2),
            60.0,
            f"{window + window // 2} failed rounds (longer than the window of {window})",
        )
        assert price(net, 0) is not None  # the last price stays readable, it just ages
    finally:
        for i in range(4):
            net.set_feed(i, {"mode": "ok"})
    recovered_at = net.client(0).height()
    records = query(
        net, 0, "JailRecords", oracle_pb2.QueryJailRecordsRequest(), oracle_pb2.QueryJailRecordsResponse
    ).records  # type: ignore[attr-defined]
    assert list(records) == list(jailed_before), "nobody is jailed for a shared outage"
    assert _bonded(net) == bonded, "nobody is slashed for a shared outage"
    assert _validator_powers(net, 0) == members
    # The outage's rounds count against nobody: at most the edge rounds do, where the first quotes to
    # go stale leave a validator out of a round that the other three (3/4 of the power) still pass.
    # Misses of earlier tests stay in the window (rounds no pair passed do not move it).
    missed_after = _misses(net)
    grew = {v: missed_after.get(v, 0) - missed_before.get(v, 0) for v in missed_after}
    assert all(n <= 2 for n in grew.values()), f"misses counted during a shared outage: {grew}"
    # recovery: the chain holds no grudge, so the first round whose reports hold 2/3 of the power writes
    # the price (how soon each validator reports again is its price feed's back-off: node-local)
    record = wait_for_price_after(net, recovered_at, timeout=60.0)
    first_quorum = _first_round_with_quorum_after(net, recovered_at, record.height)
    assert record.height == first_quorum, "the price lands in the first round the reports can carry it"
    # staking's set and CometBFT's agree on every node, at a height with no change pending
    height = net.client(0).height()
    for i in range(4):
        wait_for_height(net.rpc(i), height)
        assert _staking_set(net, i, height) == _cometbft_set(net, i, height) == members


def _first_round_with_quorum_after(net: Cluster, after: int, until: int) -> int:
    """The first block in (after, until] whose injection carries reports of 2/3 of the power."""
    client = RpcClient(net.rpc(0))
    for height in range(after + 1, until + 1):
        txs = client.call("block", {"height": str(height)})["block"]["data"]["txs"] or []
        if not txs or not is_injection(base64.b64decode(txs[0])):
            continue
        injected = decode_injection(base64.b64decode(txs[0]), len(PAIRS))
        total = sum(v.validator.power for v in injected.votes)
        reporting = sum(
            v.validator.power
            for v in injected.votes
            if len(decode_extension(v.vote_extension, len(PAIRS))) == len(PAIRS)
        )
        if 3 * reporting >= 2 * total:
            return height
    raise AssertionError(f"no round between {after} and {until} carried 2/3 of the power")


def test_a_feed_down_for_a_window_is_jailed_then_unjailed(net: Cluster) -> None:
    address = json.loads((net.home(1) / "config" / "priv_validator_key.json").read_text())["address"]
    assert _validator_powers(net, 0)[address] == 100
    net.set_feed(1, {"mode": "unauthorized"})
    try:
        wait_for(
            lambda: address not in _validator_powers(net, 0), 60.0, "validator 1 to leave the set (jailed)"
        )
    finally:
        net.set_feed(1, {"mode": "ok"})
    records = query(
        net, 2, "JailRecords", oracle_pb2.QueryJailRecordsRequest(), oracle_pb2.QueryJailRecordsResponse
    )
    record = next(r for r in records.records if r.consensus_address.hex().upper() == address)  # type: ignore[attr-defined]
    assert record.active and "oracle rounds" in record.reason
    active = [r.consensus_address.hex().upper() for r in records.records if r.active]  # type: ignore[attr-defined]
    assert active == [address], "only the validator whose feed failed alone is jailed"
    before = net.client(0).height()
    wait_for_height(net.rpc(0), before + 3)  # three validators keep the chain going
    wait_for_height(net.rpc(0), record.jailed_until + 1, timeout=30.0)
    done = run_cli("tx", "oracle", "unjail", "validator", node=net.rpc(1), home=net.home(1))
    assert json.loads(done.stdout)["tx_result"]["code"] == 0, done.stdout
    wait_for(
        lambda: _validator_powers(net, 0).get(address) == 99, 20.0, "validator 1 back with its slashed power"
    )
    # its node followed: the feed stopped at the jailing commit and started at the unjailing one, once each
    wait_for(lambda: len(_feed_transitions(net, 1)) >= 3, 20.0, "node 1's feed to start after the unjail")
    started, stopped, restarted = _feed_transitions(net, 1)[-3:]
    assert started.startswith("price feed started at height")
    assert stopped.startswith("price feed stopped at height") and stopped.endswith("(jailed)")
    assert restarted.startswith("price feed started at height") and "power 99" in restarted


def _feed_transitions(net: Cluster, i: int) -> list[str]:
    """The price feed's start and stop lines in node ``i``'s application log, oldest first."""
    text = net.net.log_file(i).read_text(errors="replace")
    lines = [line.split("abci_app.oracle: ", 1)[-1] for line in text.splitlines()]
    return [line for line in lines if re.match(r"price feed (started|stopped) at height", line)]


def test_store_migration_runs_at_the_upgrade_height_on_every_node(net: Cluster) -> None:
    wait_for_height(net.rpc(0), 13)

    def version(i: int, height: int) -> int:
        resp = net.client(i).query(
            "/taskmaster.taskmaster.v1.Query/Task",
            taskmaster_pb2.QueryTaskRequest(name="oracle"),
            taskmaster_pb2.QueryTaskResponse,
            height,
        )
        return int(resp.task.consensus_version)  # type: ignore[attr-defined]

    for i in range(4):
        wait_for_height(net.rpc(i), 13)
        assert (version(i, 11), version(i, 12)) == (1, 2)
        before = net.client(i).abci_query("/store/oracle/key", count_key(BTC), height=11)
        after = net.client(i).abci_query("/store/oracle/key", count_key(BTC), height=12)
        assert before.value == b"" and int.from_bytes(after.value, "big") > 0
    hashes = {block_app_hash(net.rpc(i), 13) for i in range(4)}
    assert len(hashes) == 1


# -- genesis export (runs last: it stops this localnet and restarts its homes on the export) ------------


def _with_start(net: Cluster, *args: str) -> dict[str, object]:
    """A tasks tx whose start is a margin after the height the CLI reads; again, wider, if it lands late."""
    margin = 6
    for _ in range(4):
        result = run_cli(*args, "--start-in", str(margin), *TASK_TX, node=net.rpc(0), home=net.keyring_home)
        out: dict[str, object] = json.loads(result.stdout) if result.stdout.strip() else {}
        code = int(out.get("check_tx", {}).get("code", 0)) or int(out.get("tx_result", {}).get("code", 0))  # type: ignore[attr-defined]
        if code != 3:  # 3: the start block is no longer in the future
            assert result.returncode == 0 and code == 0, result.stdout + result.stderr
            return out
        margin *= 2
    raise AssertionError(f"{args} kept landing after its start block")


def _answers(
    requests: list[tuple[str, bytes]], ask: Callable[[str, bytes], tuple[int, str, bytes]]
) -> dict[tuple[str, bytes], tuple[int, str, bytes]]:
    return {(path, data): ask(path, data) for path, data in requests}


def test_an_export_of_the_stopped_localnet_starts_a_chain_that_answers_the_same(
    net: Cluster, tmp_path: Path
) -> None:
    faucet = Keyring(net.keyring_home).get("faucet").address
    jailed = json.loads((net.home(2) / "config" / "priv_validator_key.json").read_text())["address"]
    net.set_feed(2, {"mode": "unauthorized"})  # validator 2 misses its window while the tasks run
    _with_start(net, "tx", "tasks", "schedule", "faucet", "--kv-put", "exported=1")
    far = run_cli(
        "tx",
        "tasks",
        "schedule",
        "faucet",
        "--kv-put",
        "later=1",
        "--start",
        "100000",
        *TASK_TX,
        node=net.rpc(0),
        home=net.keyring_home,
    )
    assert json.loads(far.stdout)["tx_result"]["code"] == 0, far.stdout

    def written() -> bool:
        answer = net.client(0).query(
            "/taskmaster.kv.v1.Query/Get",
            kv_pb2.QueryGetRequest(owner=faucet, key=b"exported"),
            kv_pb2.QueryGetResponse,
        )
        return bool(answer.found)  # type: ignore[attr-defined]

    wait_for(written, 60.0, "the near task to write its kv entry")

    def jail_record(height: int = 0) -> oracle_pb2.JailRecord | None:
        request = oracle_pb2.QueryJailRecordsRequest()
        answer = query(net, 0, "JailRecords", request, oracle_pb2.QueryJailRecordsResponse, height)
        found = [r for r in answer.records if r.consensus_address.hex().upper() == jailed and r.active]  # type: ignore[attr-defined]
        return found[0] if found else None

    wait_for(lambda: jail_record() is not None, 60.0, "validator 2 to be jailed")
    net.close()  # at once: the new chain starts well inside the jail period

    # export node 0, keep its old database aside to ask it offline, restart every home on the export
    out = tmp_path / "genesis.json"
    run_cli("export", "--output-file", str(out), node=net.rpc(0), home=net.home(0))
    genesis = load_genesis(out)
    height = int(genesis["initial_height"]) - 1
    old_db = tmp_path / "old.db"
    shutil.move(net.home(0) / "data" / "app.db", old_db)
    old = Application(AppConfig(db_path=str(old_db)))
    # the export's validator set is the old chain's unjailed validators at that height: not validator 2,
    # nor any other that a loaded machine made miss its window too (CI saw one more jailed)
    listed = old.query(
        abci.RequestQuery(
            path="/taskmaster.staking.v1.Query/Validators",
            data=staking_pb2.QueryValidatorsRequest().SerializeToString(),
            height=height,
        )
    )
    validators = staking_pb2.QueryValidatorsResponse.FromString(listed.value).validators
    bonded = {address_from_pubkey(v.consensus_pubkey).hex().upper() for v in validators if not v.jailed}
    assert jailed not in bonded and bonded, [(v.moniker, v.jailed) for v in validators]
    assert sorted(v["address"] for v in genesis["validators"]) == sorted(bonded)
    for i in range(net.size):
        subprocess.run(
            [cometbft_binary(), "unsafe-reset-all", "--home", str(net.home(i))],
            check=True,
            capture_output=True,
        )
        shutil.rmtree(net.home(i) / "data" / "app.db", ignore_errors=True)
        (net.home(i) / "config" / "genesis.json").write_text(out.read_text())
    state = genesis["app_state"]
    requests = [
        (path, request.SerializeToString())
        for path, route in sorted(old.router.queries.items())
        if not path.startswith("/taskmaster.taskmaster.")  # the first block opens a round (see below)
        for request in requests_for(route.request_type, state)
    ]

    def ask_old(path: str, data: bytes) -> tuple[int, str, bytes]:
        answer = old.query(abci.RequestQuery(path=path, data=data, height=height))
        return answer.code, answer.codespace, answer.value

    before = _answers(requests, ask_old)
    status_before = taskmaster.statuses(Context(branch=old.store.branch(height), chain_id="", height=height))
    old.close()

    net.start()
    net.wait_for_height(height + 1)
    # the jail record came across (read at the first block: a loaded machine may pass its end before the
    # unjail below lands), and the validator may unjail no earlier than it could before the export
    record = jail_record(height + 1)
    assert record is not None
    early = run_cli("tx", "oracle", "unjail", "validator", node=net.rpc(2), home=net.home(2), check=False)
    landed = json.loads(early.stdout)
    code = int(landed.get("check_tx", {}).get("code", 0)) or int(landed.get("tx_result", {}).get("code", 0))
    if code:
        assert code == 3 and "jailed until height" in early.stdout, early.stdout  # STILL_JAILED
    else:
        assert int(landed["height"]) >= record.jailed_until, early.stdout

    def ask_new(path: str, data: bytes) -> tuple[int, str, bytes]:
        answer = net.client(0).abci_query(path, data, height + 1)
        return answer.code, answer.codespace, answer.value

    # the first block of the new chain runs no tx, no task and no oracle round: its state is the export's
    assert _answers(requests, ask_new) == before
    answer = net.client(0).query(
        "/taskmaster.taskmaster.v1.Query/Task",
        taskmaster_pb2.QueryTaskRequest(name="oracle"),
        taskmaster_pb2.QueryTaskResponse,
        height + 1,
    )
    assert isinstance(answer, taskmaster_pb2.QueryTaskResponse)
    status = answer.task
    (old_status,) = status_before
    assert (status.consensus_version, status.success_count, status.failure_count, status.last_result) == (
        old_status.consensus_version,
        old_status.success_count,
        old_status.failure_count,
        old_status.last_result,
    )

    # the oracle runs on; the validator unjails once its period is over
    wait_for_price_after(net, height + 1)
    if code:
        wait_for_height(net.rpc(0), record.jailed_until + 1, timeout=60.0)
        done = run_cli("tx", "oracle", "unjail", "validator", node=net.rpc(2), home=net.home(2))
        assert json.loads(done.stdout)["tx_result"]["code"] == 0, done.stdout
    wait_for(lambda: jailed in _validator_powers(net, 0), 30.0, "validator 2 back in the set")
