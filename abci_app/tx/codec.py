"""Decoding and building signed transactions.

A :class:`DecodedTx` is what the ante checks and the message router see: the raw parts that were
signed, the parsed body and auth info, and the unpacked messages. Decoding never touches state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import DecodeError, Message
from nacl.signing import SigningKey
from taskmaster.tx.v1 import tx_pb2

from abci_app.errors import TX_DECODE, TX_TOO_LARGE, UNKNOWN_MESSAGE

MAX_TX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DecodedTx:
    """A parsed tx; ``raw`` is the exact bytes that travelled, ``hash`` its SHA-256 (CometBFT's tx hash)."""

    raw: bytes
    hash: bytes
    tx: tx_pb2.Tx
    body: tx_pb2.TxBody
    auth_info: tx_pb2.AuthInfo
    messages: tuple[Message, ...]


def decode_tx(
    raw: bytes, resolve: Callable[[str], type[Message] | None], max_bytes: int = MAX_TX_BYTES
) -> DecodedTx:
    """Parse ``raw`` and unpack each message with ``resolve(type_url)``.

    Raises ``tx too large`` past ``max_bytes``, ``tx parse error`` for bytes that are not a Tx, and
    ``unknown message type`` for a type URL no module handles.
    """
    if len(raw) > max_bytes:
        raise TX_TOO_LARGE(f"tx is {len(raw)} bytes; the limit is {max_bytes}")
    try:
        tx = tx_pb2.Tx.FromString(raw)
        body = tx_pb2.TxBody.FromString(tx.body_bytes)
        auth_info = tx_pb2.AuthInfo.FromString(tx.auth_info_bytes)
    except DecodeError as exc:
        raise TX_DECODE(f"bytes are not a taskmaster.tx.v1.Tx: {exc}") from exc
    if not tx.body_bytes or not tx.auth_info_bytes or not tx.signature:
        raise TX_DECODE("tx must carry body_bytes, auth_info_bytes and signature")
    if not body.messages:
        raise TX_DECODE("tx body holds no message; add at least one")
    messages = []
    for i, packed in enumerate(body.messages):
        cls = resolve(packed.type_url)
        if cls is None:
            raise UNKNOWN_MESSAGE(f"message {i} has unknown type URL {packed.type_url!r}")
        try:
            messages.append(cls.FromString(packed.value))
        except DecodeError as exc:
            raise TX_DECODE(f"message {i} ({packed.type_url}) does not decode: {exc}") from exc
    return DecodedTx(raw, hashlib.sha256(raw).digest(), tx, body, auth_info, tuple(messages))


def type_url(message: Message) -> str:
    """The Any type URL of a message: ``/`` + its full protobuf name."""
    return "/" + message.DESCRIPTOR.full_name


def sign_bytes(body_bytes: bytes, auth_info_bytes: bytes, chain_id: str, account_number: int) -> bytes:
    """The bytes an account signs: the deterministic serialization of a SignDoc."""
    doc = tx_pb2.SignDoc(
        body_bytes=body_bytes,
        auth_info_bytes=auth_info_bytes,
        chain_id=chain_id,
        account_number=account_number,
    )
    return doc.SerializeToString(deterministic=True)


def build_tx(
    key: SigningKey,
    messages: Sequence[Message],
    *,
    chain_id: str,
    account_number: int,
    sequence: int,
    fee: int,
    gas_limit: int,
    memo: str = "",
    timeout_height: int = 0,
) -> bytes:
    """Build and sign a tx (used by the CLI, tests and benchmarks)."""
    body = tx_pb2.TxBody(
        messages=[
            AnyProto(type_url=type_url(m), value=m.SerializeToString(deterministic=True)) for m in messages
        ],
        memo=memo,
        timeout_height=timeout_height,
        chain_id=chain_id,
    )
    auth = tx_pb2.AuthInfo(
        public_key=bytes(key.verify_key),
        sequence=sequence,
        fee=tx_pb2.Fee(amount=str(fee), gas_limit=gas_limit),
    )
    body_bytes = body.SerializeToString(deterministic=True)
    auth_bytes = auth.SerializeToString(deterministic=True)
    signature = key.sign(sign_bytes(body_bytes, auth_bytes, chain_id, account_number)).signature
    return tx_pb2.Tx(
        body_bytes=body_bytes, auth_info_bytes=auth_bytes, signature=signature
    ).SerializeToString(deterministic=True)
