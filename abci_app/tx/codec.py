"""Decoding and building signed transactions.

A :class:`DecodedTx` is what the ante checks and the message router see: the raw parts that were
signed, the parsed body and auth info, and the unpacked messages. Decoding never touches state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import Message
from nacl.signing import SigningKey
from taskmaster.tx.v1 import tx_pb2

from abci_app.canonical import NonCanonicalError, decode_canonical
from abci_app.errors import (
    INVALID_PUBKEY,
    INVALID_REQUEST,
    NON_CANONICAL,
    TX_DECODE,
    TX_TOO_LARGE,
    UNAUTHORIZED,
    UNKNOWN_MESSAGE,
)

MAX_TX_BYTES = 1024 * 1024
MAX_GAS_LIMIT = 100_000_000
"""Largest gas limit a tx may ask for (far below int64, the type of ``gas_wanted`` in ABCI answers)."""
MAX_MESSAGES = 64
"""Most messages one tx may carry."""
SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32


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
    """Parse ``raw`` and unpack each message with ``resolve(type_url)``; no state is read.

    Every part must be in its canonical encoding (abci_app/canonical.py): the Tx, the TxBody, the
    AuthInfo and each message, so the bytes that were signed are exactly the bytes that run and nobody
    relaying the tx can change its hash or size. Fixed-size fields must be exactly their size and the
    gas limit within ``1..MAX_GAS_LIMIT``, checked here, before anything reaches a response field.

    Raises ``tx too large`` past ``max_bytes``; ``tx parse error`` for bytes that are not a Tx or miss a
    part; ``non-canonical encoding`` for a part that decodes but is not canonical; ``unknown message
    type`` for a type URL no module handles; ``invalid public key`` and ``unauthorized`` for a key or
    signature of the wrong size; ``invalid request`` for a gas limit out of range.
    """
    if len(raw) > max_bytes:
        raise TX_TOO_LARGE(f"tx is {len(raw)} bytes; the limit is {max_bytes}")
    tx = _decode_part(tx_pb2.Tx, raw, "tx")
    if not tx.body_bytes or not tx.auth_info_bytes or not tx.signature:
        raise TX_DECODE("tx must carry body_bytes, auth_info_bytes and signature")
    body = _decode_part(tx_pb2.TxBody, tx.body_bytes, "tx body")
    auth_info = _decode_part(tx_pb2.AuthInfo, tx.auth_info_bytes, "tx auth info")
    if len(tx.signature) != SIGNATURE_BYTES:
        raise UNAUTHORIZED(f"signature must be {SIGNATURE_BYTES} bytes of ed25519, got {len(tx.signature)}")
    if len(auth_info.public_key) != PUBLIC_KEY_BYTES:
        raise INVALID_PUBKEY(
            f"public key must be {PUBLIC_KEY_BYTES} bytes of ed25519, got {len(auth_info.public_key)}"
        )
    gas_limit = auth_info.fee.gas_limit
    if not 1 <= gas_limit <= MAX_GAS_LIMIT:
        raise INVALID_REQUEST(f"gas_limit {gas_limit} must be between 1 and {MAX_GAS_LIMIT}")
    if not body.messages:
        raise TX_DECODE("tx body holds no message; add at least one")
    if len(body.messages) > MAX_MESSAGES:
        raise TX_DECODE(f"tx body holds {len(body.messages)} messages; at most {MAX_MESSAGES} are allowed")
    messages = []
    for i, packed in enumerate(body.messages):
        cls = resolve(packed.type_url)
        if cls is None:
            raise UNKNOWN_MESSAGE(f"message {i} has unknown type URL {packed.type_url[:128]!r}")
        messages.append(_decode_part(cls, packed.value, f"message {i} ({packed.type_url})"))
    return DecodedTx(raw, hashlib.sha256(raw).digest(), tx, body, auth_info, tuple(messages))


M = TypeVar("M", bound=Message)


def _decode_part(cls: type[M], raw: bytes, what: str) -> M:
    """``decode_canonical`` with its failure as a tx result: parse error, or non-canonical encoding."""
    try:
        return decode_canonical(cls, raw, what)
    except NonCanonicalError as exc:
        error = NON_CANONICAL if exc.decoded else TX_DECODE
        raise error(str(exc)) from exc


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
