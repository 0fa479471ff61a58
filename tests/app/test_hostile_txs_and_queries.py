"""Hostile txs and queries against an in-process Application: each gets an error code, nothing halts.

Each test here reproduces a finding of the hardening issue (docs/security.md) on the code before it
was fixed: a tx or query that made an ABCI method raise (CometBFT then stops the node), a cache that
changed an answer, a relayer padding a signed tx, a send that broke a module invariant.
"""

from __future__ import annotations

import dataclasses

import pytest
from cosmos.tx.v1beta1 import tx_pb2
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import Message
from taskmaster.bank.v1 import bank_pb2
from taskmaster.tasks.v1 import query_pb2 as tasks_query_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.abci.server import _APP_HANDLERS
from abci_app.client import SIMULATE_PATH
from abci_app.context import Context
from abci_app.errors import INTERNAL, INVALID_REQUEST, NON_CANONICAL, TX_DECODE, UNAUTHORIZED
from abci_app.modules import QUERY_INTERNAL, QUERY_INVALID
from abci_app.modules.bank.keeper import SEND_DISABLED
from abci_app.modules.staking.keeper import BONDED_POOL
from abci_app.modules.tasks.keeper import FEE_POOL, MODULE_ACCOUNT
from abci_app.router import END_BLOCK_ORDER, Router
from abci_app.tx.address import to_bech32
from abci_app.tx.ante import FEE_COLLECTOR, SignatureCache
from abci_app.tx.codec import sign_bytes
from tests.app.driver import CHAIN_ID, Chain, address_of, seeded_key
from tests.interpreter import int_max_str_digits


def _check(chain: Chain, raw: bytes) -> abci.ResponseCheckTx:
    """CheckTx through the server's own dispatch, so the answer must also serialize as CometBFT reads it."""
    response = _APP_HANDLERS["check_tx"](chain.app, abci.Request(check_tx=abci.RequestCheckTx(tx=raw)))
    response.SerializeToString()
    assert response.WhichOneof("value") == "check_tx"
    return response.check_tx


def _query(chain: Chain, **fields: object) -> abci.ResponseQuery:
    request = abci.Request(query=abci.RequestQuery(**fields))  # type: ignore[arg-type]
    response = _APP_HANDLERS["query"](chain.app, request)
    response.SerializeToString()
    assert response.WhichOneof("value") == "query"
    return response.query


def _parts(raw: bytes) -> tuple[tx_pb2.TxRaw, tx_pb2.TxBody, tx_pb2.AuthInfo]:
    tx = tx_pb2.TxRaw.FromString(raw)
    return tx, tx_pb2.TxBody.FromString(tx.body_bytes), tx_pb2.AuthInfo.FromString(tx.auth_info_bytes)


def _resign(chain: Chain, body_bytes: bytes, auth_bytes: bytes, signer: str = "user0") -> bytes:
    """A tx over exactly these body and auth-info bytes, validly signed by ``signer``."""
    key = chain.accounts[signer]
    doc = sign_bytes(body_bytes, auth_bytes, CHAIN_ID, chain.account_number(address_of(key)))
    signature = key.sign(doc).signature
    return tx_pb2.TxRaw(
        body_bytes=body_bytes, auth_info_bytes=auth_bytes, signatures=[signature]
    ).SerializeToString()


UNKNOWN_FIELD = b"\xfa\x3e\x03abc"  # field 999, length-delimited, 3 bytes


def test_a_gas_limit_beyond_int64_is_an_error_code_not_a_halt(chain: Chain) -> None:
    tx, _body, auth = _parts(chain.send_tx("user0", address_of(seeded_key("x")), "1"))
    for gas_limit in (2**63, 2**64 - 1, 100_000_001, 0):
        auth.fee.gas_limit = gas_limit
        raw = tx_pb2.TxRaw(
            body_bytes=tx.body_bytes,
            auth_info_bytes=auth.SerializeToString(deterministic=True),
            signatures=[bytes(64)],
        ).SerializeToString()
        answer = _check(chain, raw)
        assert (answer.codespace, answer.code) == (INVALID_REQUEST.codespace, INVALID_REQUEST.code), gas_limit
        assert "gas_limit" in answer.log
        assert 0 <= answer.gas_wanted < 2**63


def test_a_signature_cache_hit_needs_the_same_key_signature_and_message() -> None:
    key = seeded_key("cache")
    message = b"\x0a\x05hello world"
    signature = key.sign(message).signature
    cache = SignatureCache()
    public_key = bytes(key.verify_key)
    assert cache.verify(public_key, message, signature)
    # the same concatenation with a byte moved from the message into the signature
    assert not cache.verify(public_key, message[1:], signature + message[:1])
    assert not cache.verify(public_key, message + signature[-1:], signature[:-1])
    assert cache.verify(public_key, message, signature)  # the hit itself still answers


def test_a_signature_that_is_not_64_bytes_is_refused(chain: Chain) -> None:
    raw = chain.send_tx("user0", address_of(seeded_key("x")), "1")
    tx = tx_pb2.TxRaw.FromString(raw)
    for signature in (tx.signatures[0] + b"\x00", tx.signatures[0][:63]):
        padded = tx_pb2.TxRaw(
            body_bytes=tx.body_bytes, auth_info_bytes=tx.auth_info_bytes, signatures=[signature]
        ).SerializeToString()
        answer = _check(chain, padded)
        assert (answer.codespace, answer.code) == (UNAUTHORIZED.codespace, UNAUTHORIZED.code)
        assert "64 bytes" in answer.log


def test_unknown_fields_in_a_signed_tx_are_refused_as_non_canonical(chain: Chain) -> None:
    raw = chain.send_tx("user0", address_of(seeded_key("x")), "1", sequence=0)
    tx, body, _auth = _parts(raw)
    outer_padded = raw + UNKNOWN_FIELD
    body_padded = _resign(chain, tx.body_bytes + UNKNOWN_FIELD, tx.auth_info_bytes)
    auth_padded = _resign(chain, tx.body_bytes, tx.auth_info_bytes + UNKNOWN_FIELD)
    body.messages[0].value += UNKNOWN_FIELD
    msg_padded = _resign(chain, body.SerializeToString(deterministic=True), tx.auth_info_bytes)
    for padded in (outer_padded, body_padded, auth_padded, msg_padded):
        answer = _check(chain, padded)
        assert (answer.codespace, answer.code) == (NON_CANONICAL.codespace, NON_CANONICAL.code), answer.log
        assert "canonical" in answer.log
    assert _check(chain, raw).code == 0  # the untouched tx is still fine


def test_a_non_canonical_field_order_or_duplicate_field_is_refused(chain: Chain) -> None:
    raw = chain.send_tx("user0", address_of(seeded_key("x")), "1")
    tx = tx_pb2.TxRaw.FromString(raw)
    reordered = (
        tx_pb2.TxRaw(signatures=[tx.signatures[0]]).SerializeToString()
        + tx_pb2.TxRaw(body_bytes=tx.body_bytes, auth_info_bytes=tx.auth_info_bytes).SerializeToString()
    )
    duplicated = raw + tx_pb2.TxRaw(body_bytes=tx.body_bytes).SerializeToString()
    for variant in (reordered, duplicated):
        assert tx_pb2.TxRaw.FromString(variant) == tx  # the same message to a lenient parser
        answer = _check(chain, variant)
        assert (answer.codespace, answer.code) == (NON_CANONICAL.codespace, NON_CANONICAL.code)


def test_a_padded_tx_cannot_be_executed_in_a_block_either(chain: Chain) -> None:
    victim = address_of(chain.accounts["user0"])
    before = chain.balance(victim)
    raw = chain.send_tx("user0", address_of(seeded_key("x")), "1")
    result = chain.block([raw + UNKNOWN_FIELD]).tx_results[0]
    assert (result.codespace, result.code) == (NON_CANONICAL.codespace, NON_CANONICAL.code)
    assert chain.balance(victim) == before  # no fee taken: the padded bytes were never the signed tx


def test_bytes_that_are_not_a_tx_are_a_parse_error(chain: Chain) -> None:
    for garbage in (b"\xff", b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", b"\x0a" * 1000):
        answer = _check(chain, garbage)
        assert (answer.codespace, answer.code) == (TX_DECODE.codespace, TX_DECODE.code)


@pytest.mark.parametrize(
    "account", [FEE_COLLECTOR, BONDED_POOL, MODULE_ACCOUNT, FEE_POOL], ids=lambda a: to_bech32(a)[:12]
)
def test_module_accounts_cannot_receive_a_send(chain: Chain, account: bytes) -> None:
    tx = chain.send_tx("user0", to_bech32(account), "1")
    simulated = _query(chain, path=SIMULATE_PATH, data=tx)  # CheckTx runs no message: simulation does
    assert (simulated.codespace, simulated.code) == ("bank", SEND_DISABLED.code)
    assert "module account" in simulated.log
    result = chain.block([tx]).tx_results[0]
    assert (result.codespace, result.code) == ("bank", SEND_DISABLED.code)
    chain.app.router.check_invariants(chain.app._context(chain.app._block_branch(), chain.height))


@pytest.mark.parametrize("height", [-1, -(2**63), 2**62, 3])
def test_a_query_at_an_impossible_height_is_an_invalid_query(chain: Chain, height: int) -> None:
    for path, data in (
        ("/taskmaster.tasks.v1.Query/GetTasksInRange", b""),
        ("/store/bank/key", b"\x01"),
    ):
        answer = _query(chain, path=path, data=data, height=height)
        assert (answer.codespace, answer.code) == ("query", QUERY_INVALID.code), (path, answer.log)
        assert "height" in answer.log


def test_oversized_query_paths_and_data_are_invalid_queries(chain: Chain) -> None:
    answer = _query(chain, path="/" + "x" * 10_000, data=b"")
    assert answer.code == QUERY_INVALID.code
    answer = _query(chain, path="/store/bank/key", data=b"k" * (1 << 20))
    assert answer.code == QUERY_INVALID.code
    request = tasks_query_pb2.QueryGetTasksInRangeRequest().SerializeToString()
    answer = _query(chain, path="/taskmaster.tasks.v1.Query/GetTasksInRange", data=request + b"\xff")
    assert answer.code == QUERY_INVALID.code


def test_an_unexpected_exception_in_check_tx_or_query_is_an_internal_error_code(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug nobody foresaw")

    raw = chain.send_tx("user0", address_of(seeded_key("x")), "1")
    monkeypatch.setattr("abci_app.app.run_check_tx", broken)
    answer = _check(chain, raw)
    assert (answer.codespace, answer.code) == (INTERNAL.codespace, INTERNAL.code)
    monkeypatch.setattr(chain.app.store, "branch", broken)
    queried = _query(chain, path="/taskmaster.tasks.v1.Query/GetTasksInRange", data=b"")
    assert (queried.codespace, queried.code) == ("query", QUERY_INTERNAL.code)


def test_an_end_block_hook_that_raises_fails_alone_and_the_block_goes_on(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:

    def broken_end_block(ctx: object) -> None:
        raise ZeroDivisionError("a module bug")

    modules = [
        dataclasses.replace(m, end_block=broken_end_block) if m.name == "tasks" else m
        for m in chain.app.router.modules
    ]
    monkeypatch.setattr(chain.app, "router", Router(modules, END_BLOCK_ORDER))
    recipient = address_of(seeded_key("y"))
    response = chain.block([chain.send_tx("user0", recipient, "5")])
    assert response.tx_results[0].code == 0
    failed = [e for e in response.events if e.type == "block_step_failed"]
    assert [(a.key, a.value) for a in failed[0].attributes] == [
        ("step", "tasks end block"),
        ("error", "ZeroDivisionError"),
    ]
    assert chain.balance(recipient) == 5


def test_a_handler_that_raises_fails_its_tx_with_a_deterministic_log(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_send(ctx: Context, msg: Message) -> Message:
        raise KeyError(object())  # the repr of an object holds a memory address

    route = chain.app.router.msgs["/taskmaster.bank.v1.MsgSend"]

    monkeypatch.setitem(
        chain.app.router.msgs, "/taskmaster.bank.v1.MsgSend", dataclasses.replace(route, handler=broken_send)
    )
    result = chain.block([chain.send_tx("user0", address_of(seeded_key("y")), "5")]).tx_results[0]
    assert (result.codespace, result.code) == (INTERNAL.codespace, INTERNAL.code)
    assert "0x" not in result.log


def test_a_memory_error_in_a_handler_fails_its_tx_and_the_block_goes_on(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # outside the wasm runtime a MemoryError is most likely an input a check missed, the same on every
    # node: it fails the tx like any handler bug, it must not stop every node (docs/abci.md)
    def huge_allocation(ctx: Context, msg: Message) -> Message:
        raise MemoryError

    route = chain.app.router.msgs["/taskmaster.bank.v1.MsgSend"]
    monkeypatch.setitem(
        chain.app.router.msgs,
        "/taskmaster.bank.v1.MsgSend",
        dataclasses.replace(route, handler=huge_allocation),
    )
    response = chain.block([chain.send_tx("user0", address_of(seeded_key("y")), "5")])
    assert (response.tx_results[0].codespace, response.tx_results[0].code) == (
        INTERNAL.codespace,
        INTERNAL.code,
    )
    assert "MemoryError" in response.tx_results[0].log


def test_an_any_with_an_unknown_type_url_is_refused_with_a_bounded_log(chain: Chain) -> None:
    tx, body, _auth = _parts(chain.send_tx("user0", address_of(seeded_key("x")), "1"))
    body.messages.append(AnyProto(type_url="/" + "z" * 5000, value=b""))
    answer = _check(chain, _resign(chain, body.SerializeToString(deterministic=True), tx.auth_info_bytes))
    assert answer.code != 0
    assert len(answer.log) < 1000


def test_a_bank_send_with_a_huge_amount_is_refused_whatever_the_int_digit_limit(chain: Chain) -> None:

    tx, body, _auth = _parts(chain.send_tx("user0", address_of(seeded_key("x")), "1"))
    send = bank_pb2.MsgSend.FromString(body.messages[0].value)
    send.amount[0].amount = "9" * 5000
    body.messages[0].value = send.SerializeToString(deterministic=True)
    raw = _resign(chain, body.SerializeToString(deterministic=True), tx.auth_info_bytes)
    answers = []
    for digits in (640, 0):
        with int_max_str_digits(digits):
            answers.append(_query(chain, path=SIMULATE_PATH, data=raw).SerializeToString(deterministic=True))
    assert answers[0] == answers[1]
    assert abci.ResponseQuery.FromString(answers[0]).codespace == "bank"
