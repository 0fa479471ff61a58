"""The Cosmos SDK tx format: cosmjs's SIGN_MODE_DIRECT vectors, a tx laid out as cosmjs lays it out,
secp256k1's low-S rule, canonical encodings, and the decoder on arbitrary bytes."""

from __future__ import annotations

import contextlib
import hashlib

from cosmos.tx.v1beta1 import tx_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from tendermint.abci import types_pb2 as abci

from abci_app.errors import NON_CANONICAL, TX_DECODE, UNAUTHORIZED, AppError
from abci_app.keys import secp256k1
from abci_app.keys.hd import hd_path, private_key_from_mnemonic
from abci_app.router import default_router
from abci_app.tx.ante import SignatureCache
from abci_app.tx.codec import auth_info_bytes, body_bytes, decode_tx, sign_bytes
from tests.app.driver import CHAIN_ID, Chain
from tests.unit.keys.vectors import FAUCET_MNEMONIC, SIGN_VECTORS

FAUCET = private_key_from_mnemonic(FAUCET_MNEMONIC)


# --- a protobuf wire writer of our own, so the cosmjs-shaped tx does not come from the codec under test


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _uint(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value) if value else b""


def _cosmjs_send(from_address: str, to_address: str, amount: str) -> bytes:
    """cosmjs's MsgSend as an Any (ts-proto: fields in order, defaults left out)."""
    coin = _len(1, b"utask") + _len(2, amount.encode())
    msg = _len(1, from_address.encode()) + _len(2, to_address.encode()) + _len(3, coin)
    return _len(1, b"/cosmos.bank.v1beta1.MsgSend") + _len(2, msg)


def _cosmjs_auth_info(public_key: bytes, sequence: int, fee: str, gas_limit: int) -> bytes:
    """cosmjs's ``makeAuthInfoBytes``: one SignerInfo (secp256k1 Any, single SIGN_MODE_DIRECT = 1,
    sequence) and a Fee (coins, gas limit; payer and granter empty, so absent)."""
    pubkey_any = _len(1, b"/cosmos.crypto.secp256k1.PubKey") + _len(2, _len(1, public_key))
    mode_info = _len(1, _uint(1, 1))
    signer_info = _len(1, pubkey_any) + _len(2, mode_info) + _uint(3, sequence)
    coin = _len(1, b"utask") + _len(2, fee.encode())
    return _len(1, signer_info) + _len(2, _len(1, coin) + _uint(2, gas_limit))


def _cosmjs_sign_doc(body: bytes, auth: bytes, chain_id: str, account_number: int) -> bytes:
    return _len(1, body) + _len(2, auth) + _len(3, chain_id.encode()) + _uint(4, account_number)


def _cosmjs_tx(key: secp256k1.PrivKey, chain: Chain, to: str, amount: str, sequence: int) -> bytes:
    body = _len(1, _cosmjs_send(key.bech32_address, to, amount))
    auth = _cosmjs_auth_info(key.public_key, sequence, "500", 200_000)
    number = chain.account_number(key.bech32_address)
    signature = key.sign(_cosmjs_sign_doc(body, auth, CHAIN_ID, number))
    return _len(1, body) + _len(2, auth) + _len(3, signature)


def _fund(chain: Chain, address: str, amount: int = 1_000_000) -> None:
    result = chain.block([chain.send_tx("user0", address, str(amount))])
    assert result.tx_results[0].code == 0, result.tx_results[0].log


def _check(chain: Chain, raw: bytes) -> abci.ResponseCheckTx:
    return chain.app.check_tx(abci.RequestCheckTx(tx=raw))


# --- tests


def test_our_sign_bytes_are_cosmjs_sign_mode_direct_vectors_and_verify() -> None:
    """cosmjs testutils.spec.ts ``testVectors`` (made with simd): rebuilding each SignDoc from its parts
    with our encoders gives the same bytes, and the faucet's published signature verifies."""
    for sign_doc_hex, signature_hex in SIGN_VECTORS:
        doc = tx_pb2.SignDoc.FromString(bytes.fromhex(sign_doc_hex))
        body = tx_pb2.TxBody.FromString(doc.body_bytes)
        auth = tx_pb2.AuthInfo.FromString(doc.auth_info_bytes)
        info = auth.signer_infos[0]
        pubkey = info.public_key.value[2:]  # PubKey{key = 1}: tag, length 33, key
        rebuilt_body = body_bytes(list(_unpack_sends(body)), body.memo, body.timeout_height)
        assert rebuilt_body == doc.body_bytes
        fee = auth.fee.amount[0]
        assert fee.denom == "ucosm"  # our builder writes utask: compare the rest through a fee swap
        ours = tx_pb2.AuthInfo.FromString(
            auth_info_bytes(pubkey, info.sequence, int(fee.amount), auth.fee.gas_limit)
        )
        ours.fee.amount[0].denom = "ucosm"
        assert ours.SerializeToString(deterministic=True) == doc.auth_info_bytes
        signed = sign_bytes(doc.body_bytes, doc.auth_info_bytes, doc.chain_id, doc.account_number)
        assert signed == bytes.fromhex(sign_doc_hex)
        assert pubkey == FAUCET.public_key
        assert SignatureCache().verify(pubkey, signed, bytes.fromhex(signature_hex))
        assert FAUCET.sign(signed) == bytes.fromhex(signature_hex)  # RFC 6979, as cosmjs


def _unpack_sends(body: tx_pb2.TxBody):  # type: ignore[no-untyped-def]
    from cosmos.bank.v1beta1 import tx_pb2 as bank_tx

    for packed in body.messages:
        assert packed.type_url == "/cosmos.bank.v1beta1.MsgSend"
        yield bank_tx.MsgSend.FromString(packed.value)


def test_a_tx_laid_out_as_cosmjs_does_is_accepted_and_runs(chain: Chain) -> None:
    _fund(chain, FAUCET.bech32_address)
    recipient = private_key_from_mnemonic(FAUCET_MNEMONIC, path=hd_path(0, 1)).bech32_address
    raw = _cosmjs_tx(FAUCET, chain, recipient, "1234", sequence=0)
    assert _check(chain, raw).code == 0, _check(chain, raw).log
    result = chain.block([raw]).tx_results[0]
    assert result.code == 0, result.log
    assert chain.balance(recipient) == 1234
    assert chain.balance(FAUCET.bech32_address) == 1_000_000 - 1234 - 500
    # the tx hash CometBFT shows is SHA-256 of the TxRaw bytes
    assert decode_tx(raw, default_router().resolve).hash == hashlib.sha256(raw).digest()


def test_the_address_of_a_secp256k1_signer_is_ripemd160_of_sha256() -> None:
    digest = secp256k1.ripemd160(hashlib.sha256(FAUCET.public_key).digest())
    from abci_app.tx.address import address_from_pubkey

    assert address_from_pubkey(FAUCET.public_key) == digest


def test_a_high_s_signature_is_refused(chain: Chain) -> None:
    _fund(chain, FAUCET.bech32_address)
    raw = _cosmjs_tx(FAUCET, chain, FAUCET.bech32_address, "1", sequence=0)
    tx = tx_pb2.TxRaw.FromString(raw)
    s = int.from_bytes(tx.signatures[0][32:], "big")
    tx.signatures[0] = tx.signatures[0][:32] + (secp256k1.CURVE_ORDER - s).to_bytes(32, "big")
    answer = _check(chain, tx.SerializeToString(deterministic=True))
    assert answer.code == UNAUTHORIZED.code and answer.codespace == UNAUTHORIZED.codespace, answer.log
    assert "signature verification failed" in answer.log
    assert _check(chain, raw).code == 0  # the low-S original is fine


def test_a_non_canonical_auth_info_is_refused(chain: Chain) -> None:
    _fund(chain, FAUCET.bech32_address)
    body = _len(1, _cosmjs_send(FAUCET.bech32_address, FAUCET.bech32_address, "1"))
    auth = _cosmjs_auth_info(FAUCET.public_key, 0, "500", 200_000)
    # the same AuthInfo with its fee written before its signer info: equal to a lenient parser
    parsed = tx_pb2.AuthInfo.FromString(auth)
    reordered = _len(2, parsed.fee.SerializeToString()) + _len(1, parsed.signer_infos[0].SerializeToString())
    assert tx_pb2.AuthInfo.FromString(reordered) == parsed
    signature = FAUCET.sign(
        _cosmjs_sign_doc(body, reordered, CHAIN_ID, chain.account_number(FAUCET.bech32_address))
    )
    answer = _check(chain, _len(1, body) + _len(2, reordered) + _len(3, signature))
    assert (answer.codespace, answer.code) == (NON_CANONICAL.codespace, NON_CANONICAL.code), answer.log
    assert "tx auth info is not the canonical encoding of cosmos.tx.v1beta1.AuthInfo" in answer.log


def test_the_old_format_with_a_chain_id_in_the_body_is_refused(chain: Chain) -> None:
    """Field 4 of the SDK's TxBody is not ours to read: a body carrying it is not canonical."""
    body = _len(1, _cosmjs_send(FAUCET.bech32_address, FAUCET.bech32_address, "1")) + _len(
        4, CHAIN_ID.encode()
    )
    auth = _cosmjs_auth_info(FAUCET.public_key, 0, "500", 200_000)
    answer = _check(chain, _len(1, body) + _len(2, auth) + _len(3, bytes(64)))
    assert answer.code == NON_CANONICAL.code, answer.log


def test_fee_payer_and_granter_are_refused_with_what_to_change(chain: Chain) -> None:
    raw = chain.send_tx("user0", FAUCET.bech32_address, "1")
    tx = tx_pb2.TxRaw.FromString(raw)
    auth = tx_pb2.AuthInfo.FromString(tx.auth_info_bytes)
    auth.fee.granter = FAUCET.bech32_address
    tx.auth_info_bytes = auth.SerializeToString(deterministic=True)
    answer = _check(chain, tx.SerializeToString(deterministic=True))
    assert answer.code == TX_DECODE.code
    assert "fee payer and fee granter are not supported" in answer.log


def test_two_signatures_or_signer_infos_are_refused(chain: Chain) -> None:
    raw = chain.send_tx("user0", FAUCET.bech32_address, "1")
    tx = tx_pb2.TxRaw.FromString(raw)
    tx.signatures.append(tx.signatures[0])
    answer = _check(chain, tx.SerializeToString(deterministic=True))
    assert answer.code == TX_DECODE.code and "exactly one signature" in answer.log


def test_a_secp256k1_and_an_ed25519_key_never_share_a_cache_entry() -> None:
    """The cache key starts with the key's size: 33 bytes of secp256k1 key cannot be read as 32 bytes of
    ed25519 key followed by a signature byte."""
    message = b"\x0a\x03abc"
    signature = FAUCET.sign(message)
    cache = SignatureCache()
    assert cache.verify(FAUCET.public_key, message, signature)
    assert not cache.verify(FAUCET.public_key[:32], message, FAUCET.public_key[32:] + signature[:63])
    assert not cache.verify(FAUCET.public_key + b"\x00", message, signature)


_ROUTER = default_router()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_the_decoder_raises_only_its_own_errors_on_arbitrary_bytes(raw: bytes) -> None:
    with contextlib.suppress(AppError):
        decode_tx(raw, _ROUTER.resolve)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=200), st.lists(st.binary(max_size=80), max_size=3))
def test_the_decoder_raises_only_its_own_errors_on_arbitrary_parts(
    body: bytes, auth: bytes, signatures: list[bytes]
) -> None:
    raw = tx_pb2.TxRaw(body_bytes=body, auth_info_bytes=auth, signatures=signatures).SerializeToString()
    for simulate in (False, True):
        with contextlib.suppress(AppError):
            decode_tx(raw, _ROUTER.resolve, simulate=simulate)


# --- the SDK's codes and log wording, which clients match on


def test_a_wrong_sequence_gives_the_sdks_code_and_message(chain: Chain) -> None:
    raw = chain.send_tx("user0", FAUCET.bech32_address, "1", sequence=3)
    answer = _check(chain, raw)
    assert (answer.codespace, answer.code) == ("sdk", 32)
    assert answer.log == "account sequence mismatch, expected 0, got 3: incorrect account sequence"


def test_an_out_of_gas_log_is_parsed_by_cosmpys_regex(chain: Chain) -> None:
    """cosmpy aerial/tx_helpers.py: ``out of gas`` in raw_log, then
    ``gasWanted:\\s*(\\d+).*?gasUsed:\\s*(\\d+)``."""
    import re

    result = chain.block([chain.send_tx("user0", FAUCET.bech32_address, "1", gas=2_000, fee=2)]).tx_results[0]
    assert (result.codespace, result.code) == ("sdk", 11), result.log
    assert "out of gas" in result.log and result.log.startswith("out of gas in location: ")
    assert result.log.endswith(": out of gas")
    found = re.search(r"gasWanted:\s*(\d+).*?gasUsed:\s*(\d+)", result.log)
    assert found is not None
    wanted, used = int(found.group(1)), int(found.group(2))
    assert wanted == 2_000 and used > wanted


def test_an_insufficient_fee_log_is_parsed_by_cosmpys_regex(chain: Chain) -> None:
    """cosmpy: ``insufficient fees`` in raw_log, then ``required:\\s*(\\d+\\w+)``."""
    import re

    answer = _check(chain, chain.send_tx("user0", FAUCET.bech32_address, "1", fee=1, gas=200_000))
    assert (answer.codespace, answer.code) == ("sdk", 13)
    assert answer.log.startswith("insufficient fees; got: 1utask required: ")
    assert answer.log.endswith(": insufficient fee")
    found = re.search(r"required:\s*(\d+\w+)", answer.log)
    assert found is not None and found.group(1) == "200utask"


def test_a_send_has_the_sdks_events_and_tx_msg_data(chain: Chain) -> None:
    import base64

    from cosmos.bank.v1beta1 import tx_pb2 as bank_tx
    from cosmos.base.abci.v1beta1 import abci_pb2

    _fund(chain, FAUCET.bech32_address)
    recipient = private_key_from_mnemonic(FAUCET_MNEMONIC, path=hd_path(0, 1)).bech32_address
    raw = _cosmjs_tx(FAUCET, chain, recipient, "7", sequence=0)
    result = chain.block([raw]).tx_results[0]
    assert result.code == 0, result.log
    events = [(e.type, {a.key: a.value for a in e.attributes}) for e in result.events]
    assert all(a.key for e in result.events for a in e.attributes), "no empty attribute key"
    sender = FAUCET.bech32_address
    signature = tx_pb2.TxRaw.FromString(raw).signatures[0]
    assert ("tx", {"fee": "500utask", "fee_payer": sender}) in events
    assert ("tx", {"acc_seq": f"{sender}/0"}) in events
    assert ("tx", {"signature": base64.b64encode(signature).decode()}) in events
    message = {"action": "/cosmos.bank.v1beta1.MsgSend", "sender": sender, "module": "bank", "msg_index": "0"}
    assert ("message", message) in events
    assert ("coin_spent", {"spender": sender, "amount": "7utask", "msg_index": "0"}) in events
    assert ("coin_received", {"receiver": recipient, "amount": "7utask", "msg_index": "0"}) in events
    assert (
        "transfer",
        {"recipient": recipient, "sender": sender, "amount": "7utask", "msg_index": "0"},
    ) in events
    # the message's events: its message event first, then its handler's (as the SDK's baseapp)
    assert [t for t, a in events if "msg_index" in a] == [
        "message",
        "coin_spent",
        "coin_received",
        "transfer",
    ]
    data = abci_pb2.TxMsgData.FromString(result.data)
    assert not data.data  # field 1, deprecated, left empty as the SDK 0.50 does
    assert [r.type_url for r in data.msg_responses] == ["/cosmos.bank.v1beta1.MsgSendResponse"]
    assert data.msg_responses[0].Unpack(bank_tx.MsgSendResponse())
    assert result.data[:1] == b"\x12"  # msg_responses is field 2


# --- cosmos.tx.v1beta1.Service/Simulate over abci_query, as cosmjs sends it


def _cosmjs_simulation_tx(key: secp256k1.PrivKey, to: str, amount: str, sequence: int) -> bytes:
    """cosmjs modules/tx/queries.js ``simulate``: SIGN_MODE_UNSPECIFIED, an empty Fee, one empty signature."""
    body = _len(1, _cosmjs_send(key.bech32_address, to, amount))
    pubkey_any = _len(1, b"/cosmos.crypto.secp256k1.PubKey") + _len(2, _len(1, key.public_key))
    signer_info = _len(1, pubkey_any) + _len(2, _len(1, b"")) + _uint(3, sequence)
    auth = _len(1, signer_info) + _len(2, b"")
    return _len(1, body) + _len(2, auth) + _len(3, b"")


def _simulate(chain: Chain, request: bytes) -> abci.ResponseQuery:
    return chain.app.query(abci.RequestQuery(path="/cosmos.tx.v1beta1.Service/Simulate", data=request))


def test_simulate_answers_gas_used_for_cosmjs_unsigned_tx_and_the_real_tx_then_fits(chain: Chain) -> None:
    from cosmos.tx.v1beta1 import service_pb2

    _fund(chain, FAUCET.bech32_address)
    recipient = private_key_from_mnemonic(FAUCET_MNEMONIC, path=hd_path(0, 1)).bech32_address
    request = service_pb2.SimulateRequest(tx_bytes=_cosmjs_simulation_tx(FAUCET, recipient, "5", 0))
    answer = _simulate(chain, request.SerializeToString())
    assert answer.code == 0, answer.log
    response = service_pb2.SimulateResponse.FromString(answer.value)
    used = response.gas_info.gas_used
    assert used > 0
    assert [r.type_url for r in response.result.msg_responses] == ["/cosmos.bank.v1beta1.MsgSendResponse"]
    assert any(e.type == "transfer" for e in response.result.events)
    assert chain.balance(recipient) == 0  # nothing changed
    # cosmjs then signs with gas_limit = ceil(gas_used x 1.4): the real tx fits in it
    body = _len(1, _cosmjs_send(FAUCET.bech32_address, recipient, "5"))
    gas = -(-used * 14 // 10)
    auth = _cosmjs_auth_info(FAUCET.public_key, 0, str(-(-gas * 25 // 10_000)), gas)
    number = chain.account_number(FAUCET.bech32_address)
    raw = _len(1, body) + _len(2, auth) + _len(3, FAUCET.sign(_cosmjs_sign_doc(body, auth, CHAIN_ID, number)))
    result = chain.block([raw]).tx_results[0]
    assert result.code == 0, result.log
    assert result.gas_used <= gas


def test_simulate_accepts_the_deprecated_tx_field_and_reports_a_failing_tx(chain: Chain) -> None:
    from cosmos.tx.v1beta1 import service_pb2

    raw = chain.send_tx("user0", FAUCET.bech32_address, "1")
    parts = tx_pb2.TxRaw.FromString(raw)
    tx = tx_pb2.Tx(
        body=tx_pb2.TxBody.FromString(parts.body_bytes),
        auth_info=tx_pb2.AuthInfo.FromString(parts.auth_info_bytes),
        signatures=list(parts.signatures),
    )
    answer = _simulate(chain, service_pb2.SimulateRequest(tx=tx).SerializeToString())
    assert answer.code == 0, answer.log
    too_much = chain.send_tx("user0", FAUCET.bech32_address, str(10**30), sequence=0)
    failed = _simulate(chain, service_pb2.SimulateRequest(tx_bytes=too_much).SerializeToString())
    assert (failed.codespace, failed.code) == ("bank", 3) and "needs" in failed.log
    empty = _simulate(chain, b"")
    assert (empty.codespace, empty.code) == ("sdk", 2) and "tx_bytes" in empty.log
