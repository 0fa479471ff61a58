"""A chain across separate network hosts: each validator in its own network namespace and address.

Four operators run the genesis ceremony through the CLI (``devtools/operators.py``) and start their nodes,
each inside its own namespace (``devtools/netns.py``), joined by a bridge. Then, in order, on that one
chain: prices land and agree; a fifth operator joins by create-validator and leaves by undelegating (its
feed follows); one validator's link goes down for 30 s and it catches up; a 2 | 2 split stops the chain
and healing resumes it; the proposer is cut off mid-round while txs wait (none lost, none twice, no
evidence of double signing); at the end every node has the same block and app hash at every height.

Then every link is delayed by 100 ms each way (netem, or toxiproxy in front of each node's P2P port) and
the chain still commits and writes prices. Needs root and ``ip netns``; skipped with the reason elsewhere.
About three minutes.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from taskmaster.bank.v1 import bank_pb2

from abci_app.client import RpcClient, RpcError
from abci_app.node.keyring import Keyring
from abci_app.tx.codec import build_tx
from devtools.multihost import Multihost
from devtools.netns import NetnsError, unavailable
from devtools.operators import height, taskmaster, tm_json
from tests.integration.localnet_harness import HarnessError, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.netns]
VALIDATORS = 4
JOINER = 4


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Multihost]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"separate hosts need Linux network namespaces: {reason}")
    try:
        chain = Multihost.create(tmp_path_factory.mktemp("multihost"), validators=VALIDATORS, spare=1)
    except NetnsError as exc:
        pytest.skip(f"separate hosts need Linux network namespaces: {exc}")
    try:
        chain.start(range(VALIDATORS))
        if not chain.wait_for_heights(3, 120.0):
            raise HarnessError(f"the multi-host chain did not reach height 3\n{chain.logs()}")
        yield chain
    finally:
        chain.close()


def _wait(net: Multihost, predicate: object, timeout: float, what: str) -> None:
    try:
        wait_for(predicate, timeout, what, interval=0.5)  # type: ignore[arg-type]
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{net.logs()}") from None


def _prices(net: Multihost, i: int, at: int = 0) -> list[dict[str, object]]:
    args = ["--height", str(at)] if at else []
    answer = tm_json("query", "oracle", "prices", "--node", net.operators[i].rpc, *args)
    return list(answer.get("prices", []))


def _wait_for_reporters(net: Multihost, count: int, after: int, timeout: float = 90.0) -> int:
    """The height of a price written after ``after`` with ``count`` reporters for every pair."""
    found: list[int] = []

    def reported() -> bool:
        prices = _prices(net, 0)
        heights = {int(p["height"]) for p in prices if p.get("reporter_count") == count}  # type: ignore[call-overload]
        if len(prices) == 2 and len(heights) == 1 and min(heights) > after:
            found.append(heights.pop())
            return True
        return False

    _wait(net, reported, timeout, f"prices reported by {count} validators after height {after}")
    return found[-1]


def _cometbft_set(net: Multihost, i: int = 0) -> dict[str, int]:
    answer = net.operators[i].client().call("validators", {"per_page": "100"})
    return {v["pub_key"]["value"]: int(v["voting_power"]) for v in answer["validators"]}


def _consensus_key(net: Multihost, i: int) -> str:
    path = net.operators[i].home / "config" / "priv_validator_key.json"
    return str(json.loads(path.read_text())["pub_key"]["value"])


def _feed_lines(net: Multihost, i: int) -> list[str]:
    text = net.operators[i].log_file.read_text(errors="replace")
    return [
        line for line in text.splitlines() if "abci_app.oracle: price feed" in line and " at height " in line
    ]


def _heights(net: Multihost, indices: range | list[int]) -> list[int]:
    return [height(net.operators[i]) for i in indices]


def _height_inside(net: Multihost, i: int) -> int:
    """Node ``i``'s height, asked from inside its own namespace."""
    status = tm_json("status", "--node", net.operators[i].rpc, prefix=net.hosts.prefix(i))
    return int(status["sync_info"]["latest_block_height"])


def test_four_operators_on_four_hosts_make_blocks_and_agree_on_prices(net: Multihost) -> None:
    addresses = {op.host for op in net.operators[:VALIDATORS]}
    assert len(addresses) == VALIDATORS and all(op.ports.p2p == 26656 for op in net.operators)
    assert set(_cometbft_set(net).values()) == {100} and len(_cometbft_set(net)) == VALIDATORS
    at = _wait_for_reporters(net, VALIDATORS, 0)
    answers = [_prices(net, i, at) for i in range(VALIDATORS)]
    assert all(a == answers[0] for a in answers)


def test_a_fifth_operator_joins_by_staking_reports_prices_and_leaves_by_undelegating(net: Multihost) -> None:
    op = net.operators[JOINER]
    address = net.join(JOINER)
    net.start([JOINER])
    _wait(net, lambda: height(op) >= height(net.operators[0]) - 1 > 0, 90.0, "the joiner to catch up")
    faucet = net.operators[0]
    taskmaster(
        "tx",
        "bank",
        "send",
        "faucet",
        address,
        "200000000utask",
        "--home",
        str(faucet.home),
        "--node",
        faucet.rpc,
    )
    created = tm_json(
        "tx", "staking", "create-validator", "--from", "operator", "--amount", "100000000utask",
        "--moniker", op.name, "--home", str(op.home), "--node", op.rpc,
    )  # fmt: skip
    joined_at = int(created["height"])
    key = _consensus_key(net, JOINER)
    _wait(net, lambda: _cometbft_set(net, 1).get(key) == 100, 30.0, "the joiner in CometBFT's /validators")
    _wait(net, lambda: any("started" in line for line in _feed_lines(net, JOINER)), 10.0, "the joiner's feed")
    assert f"price feed started at height {joined_at}" in _feed_lines(net, JOINER)[0]
    _wait_for_reporters(net, VALIDATORS + 1, joined_at)  # its reports count in the medians
    left = tm_json(
        "tx", "staking", "undelegate", address, "99500000utask", "--from", "operator",
        "--home", str(op.home), "--node", op.rpc,
    )  # fmt: skip
    _wait(net, lambda: key not in _cometbft_set(net, 2), 30.0, "the joiner to leave CometBFT's set")
    lines = _feed_lines(net, JOINER)
    assert len(lines) == 2 and f"price feed stopped at height {left['height']}" in lines[1]
    # 500,000 utask of self-delegation left is below staking's min_self_delegation (1,000,000): as in
    # the SDK, the operator's validator is jailed, which takes it out of the set and stops its feed
    assert "(jailed" in lines[1]
    _wait_for_reporters(net, VALIDATORS, int(left["height"]) + 2)
    entries = tm_json("query", "staking", "unbonding", address, "--node", op.rpc)["entries"]
    assert [e["balance"] for e in entries] == ["99500000"]


def test_a_validator_cut_off_for_30_seconds_catches_up_while_the_others_go_on(net: Multihost) -> None:
    cut, others = 3, [0, 1, 2]
    net.hosts.link_down(cut)
    try:
        start = max(_heights(net, others))
        deadline = time.monotonic() + 30.0
        _wait(net, lambda: min(_heights(net, others)) >= start + 5, 30.0, "blocks without validator 3")
        while time.monotonic() < deadline:  # the cut lasts 30 s, whatever happens meanwhile
            time.sleep(1.0)
        behind = max(_heights(net, others))
        assert height(net.operators[cut]) == 0  # not even its RPC is reachable through the cut link
        assert _height_inside(net, cut) < behind - 5  # asked on its own host: it fell behind
    finally:
        net.hosts.link_up(cut)
    _wait(net, lambda: height(net.operators[cut]) >= behind, 120.0, "validator 3 to catch up")


def test_a_two_two_split_makes_no_block_and_the_healed_chain_goes_on(net: Multihost) -> None:
    # the full node of the operator who left relays consensus messages too: it goes with the left side
    left, right = [0, 1, JOINER], [2, 3]
    net.hosts.split(left, right)
    try:
        time.sleep(3.0)  # a block in flight when the split came may still commit
        frozen = max(_heights(net, range(VALIDATORS)))
        time.sleep(10.0)  # ten block times: no side holds 2/3 of the power
        assert max(_heights(net, range(VALIDATORS))) == frozen
    finally:
        net.hosts.heal()
    _wait(net, lambda: min(_heights(net, range(VALIDATORS))) >= frozen + 3, 120.0, "blocks after healing")


def _proposer(net: Multihost) -> int:
    """The index of the validator proposing the current round (from CometBFT's /consensus_state)."""
    state = net.operators[0].client().call("consensus_state", {})["round_state"]
    address = state["proposer"]["address"]
    for i in range(VALIDATORS):
        path = net.operators[i].home / "config" / "priv_validator_key.json"
        if json.loads(path.read_text())["address"] == address:
            return i
    raise AssertionError(f"proposer {address} is none of the validators")


def test_cutting_the_proposer_mid_round_loses_no_tx_and_makes_no_double_sign(net: Multihost) -> None:
    faucet = Keyring(net.operators[0].home).get("faucet")
    recipient = Keyring(net.operators[0].home).add("cut-recipient").address
    proposer = _proposer(net)
    entry = next(i for i in range(VALIDATORS) if i != proposer)
    client = net.operators[entry].client()
    account = client.account(faucet.address)
    assert account is not None
    send = bank_pb2.MsgSend(
        from_address=faucet.address, to_address=recipient, amount=[bank_pb2.Coin(denom="utask", amount="7")]
    )
    hashes = []
    for n in range(5):
        raw = build_tx(
            faucet.signing_key, [send], chain_id=net.chain_id, account_number=account.account_number,
            sequence=account.sequence + n, fee=500, gas_limit=200_000,
        )  # fmt: skip
        answer = client.broadcast(raw, "sync")
        assert int(answer["code"]) == 0, answer
        hashes.append(answer["hash"])
    net.hosts.link_down(proposer)  # while the round it proposes runs
    cut_at = max(_heights(net, [entry]))
    try:
        others = [i for i in range(VALIDATORS) if i != proposer]
        _wait(net, lambda: min(_heights(net, others)) >= cut_at + 3, 60.0, "blocks without the proposer")
    finally:
        net.hosts.link_up(proposer)
    top = max(_heights(net, [entry]))
    _wait(net, lambda: height(net.operators[proposer]) >= top, 120.0, "the cut proposer to catch up")
    for i in range(VALIDATORS):
        rpc = net.operators[i].client()
        for tx_hash in hashes:
            found = rpc.call("tx_search", {"query": f"tx.hash='{tx_hash}'"})
            assert int(found["total_count"]) == 1, (
                f"node {i}: tx {tx_hash} committed {found['total_count']} times"
            )
        balance = tm_json("query", "bank", "balance", recipient, "--node", net.operators[i].rpc)
        assert int(balance["balance"]["amount"]) == 35
    for h in range(max(1, cut_at - 2), top + 1):
        evidence = client.call("block", {"height": str(h)})["block"]["evidence"]["evidence"]
        assert evidence == [], f"evidence of misbehaviour in block {h}: {evidence}"


def _first_byte_ms(host: str, port: int) -> float:
    """Milliseconds from connecting to ``host:port`` until the first byte arrives (CometBFT speaks first)."""
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=5.0) as conn:
        conn.recv(1)
    return (time.monotonic() - started) * 1000


def test_with_every_link_delayed_100_ms_the_chain_commits_and_writes_prices(net: Multihost) -> None:
    if not net.latency:
        pytest.skip("no way to delay links here: no netem in this kernel and toxiproxy not installed")
    target = net.operators[1]
    net.set_delay(100)
    try:
        if net.latency == "toxiproxy":  # the proxy in front of the node's P2P port holds each byte 100 ms
            assert _first_byte_ms(target.host, target.external_port) >= 100
        start = max(_heights(net, range(VALIDATORS)))
        _wait(
            net, lambda: min(_heights(net, range(VALIDATORS))) >= start + 5, 60.0, "blocks with 100 ms links"
        )
        _wait_for_reporters(net, VALIDATORS, start, timeout=60.0)
    finally:
        net.set_delay(0)


def test_every_node_has_the_same_block_and_app_hash_at_every_height(net: Multihost) -> None:
    # the four validators, and the joiner if it was started on this chain (pytest may have made the
    # module's chain anew between tests, e.g. when a worker's queue ran empty: then it never joined)
    indices = [i for i in range(VALIDATORS + 1) if i < VALIDATORS or net.operators[i].log_file.exists()]
    answered = dict.fromkeys(indices, 0)

    def all_answer_past_20() -> bool:
        # Each node is asked until it has once answered above 20, then left alone: on a loaded machine
        # one node's RPC can miss several polls in a row, and asking every node again each poll (as the
        # check did) needed all five to answer within the same poll.
        for i in indices:
            if answered[i] <= 20:
                with contextlib.suppress(RpcError, KeyError, ValueError, OSError):
                    answered[i] = net.operators[i].client(timeout=10.0).height()
        return min(answered.values()) > 20

    try:
        _wait(net, all_answer_past_20, 300.0, "every node to answer with a height above 20")
    except HarnessError as exc:
        raise HarnessError(f"heights last answered, by node: {answered}\n{exc}") from None
    top = min(answered.values())

    def headers(i: int) -> dict[int, tuple[str, str]]:
        found: dict[int, tuple[str, str]] = {}
        low = 1
        while low <= top:
            high = min(top, low + 19)
            metas = _patient_call(net, i, "blockchain", {"minHeight": str(low), "maxHeight": str(high)})
            for meta in metas["block_metas"]:
                found[int(meta["header"]["height"])] = (meta["block_id"]["hash"], meta["header"]["app_hash"])
            low = high + 1
        return found

    reference = headers(0)
    assert sorted(reference) == list(range(1, top + 1))
    for i in indices[1:]:
        assert headers(i) == reference, f"node {i} differs from node 0"


def _patient_call(net: Multihost, i: int, method: str, params: dict[str, str]) -> Any:
    """One RPC call to node ``i``, retried until it answers (a loaded machine can miss one)."""
    answers: list[Any] = []

    def answered() -> bool:
        try:
            answers.append(RpcClient(net.operators[i].rpc, timeout=10.0).call(method, params))
        except (RpcError, OSError):
            return False
        return True

    _wait(net, answered, 300.0, f"node {i} to answer {method} {params}")
    return answers[-1]
