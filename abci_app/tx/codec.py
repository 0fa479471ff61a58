"""Decoding and building signed transactions in the Cosmos SDK's format (``cosmos.tx.v1beta1``).

A tx is a ``TxRaw{body_bytes, auth_info_bytes, signatures}``: ``TxBody{messages, memo, timeout_height}``
(no chain id: it is only in the SignDoc), ``AuthInfo{signer_infos, fee}`` with exactly one
``SignerInfo{public_key (Any), mode_info single SIGN_MODE_DIRECT, sequence}`` and
``Fee{amount (Coin, utask), gas_limit}``. The signer signs the deterministic encoding of
``SignDoc{body_bytes, auth_info_bytes, chain_id, account_number}``.

Two key types sign (docs/abci.md): ``/cosmos.crypto.secp256k1.PubKey`` (33 bytes; ECDSA over
SHA-256 of the SignDoc, 64-byte low-S ``r || s``; what cosmjs, cosmpy and the keyring use) and
``/cosmos.crypto.ed25519.PubKey`` (32 bytes; ed25519 over the SignDoc; existing accounts and
validators' operator keys).

A :class:`DecodedTx` is what the ante checks and the message router see: the raw parts that were
signed, the parsed body and auth info, the signer's key and fee, and the unpacked messages. Decoding
never touches state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from cosmos.base.v1beta1 import coin_pb2
from cosmos.crypto.ed25519 import keys_pb2 as ed25519_pb2
from cosmos.crypto.secp256k1 import keys_pb2 as secp256k1_pb2
from cosmos.tx.signing.v1beta1 import signing_pb2
from cosmos.tx.v1beta1 import tx_pb2
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import Message
from nacl.signing import SigningKey

from abci_app.canonical import NonCanonicalError, decode_canonical
from abci_app.errors import (
    INVALID_PUBKEY,
    INVALID_REQUEST,
    NON_CANONICAL,
    TX_DECODE,
    TX_TOO_LARGE,
    UNAUTHORIZED,
    UNKNOWN_MESSAGE,
    shown,
)
from abci_app.keys.secp256k1 import PrivKey

MAX_TX_BYTES = 1024 * 1024
MAX_GAS_LIMIT = 100_000_000
"""Largest gas limit a tx may ask for (far below int64, the type of ``gas_wanted`` in ABCI answers)."""
MAX_MESSAGES = 64
"""Most messages one tx may carry."""
MAX_FEE_DIGITS = 30
"""Most digits of a fee amount (far above any supply; a bound on the integer the ante parses)."""
SIGNATURE_BYTES = 64
ED25519_PUBKEY_URL = "/cosmos.crypto.ed25519.PubKey"
SECP256K1_PUBKEY_URL = "/cosmos.crypto.secp256k1.PubKey"
PUBLIC_KEY_BYTES = {ED25519_PUBKEY_URL: 32, SECP256K1_PUBKEY_URL: 33}
"""The fixed size of each accepted key type's public key."""
PUBKEY_URL_BY_SIZE = {size: url for url, size in PUBLIC_KEY_BYTES.items()}
FEE_DENOM = "utask"
SIGN_MODE_DIRECT = signing_pb2.SIGN_MODE_DIRECT

Signer = SigningKey | PrivKey
"""A key that signs txs: ed25519 (PyNaCl) or secp256k1 (abci_app/keys)."""


@dataclass(frozen=True)
class DecodedTx:
    """A parsed tx; ``raw`` is the exact bytes that travelled, ``hash`` its SHA-256 (CometBFT's tx hash).

    ``public_key`` is the raw key (32 bytes ed25519 or 33 bytes secp256k1), ``fee`` the utask amount.
    """

    raw: bytes
    hash: bytes
    tx: tx_pb2.TxRaw
    body: tx_pb2.TxBody
    auth_info: tx_pb2.AuthInfo
    messages: tuple[Message, ...]
    public_key: bytes
    sequence: int
    fee: int
    gas_limit: int

    @property
    def signature(self) -> bytes:
        """The one signature (empty in a simulation that sends none)."""
        return self.tx.signatures[0]


def decode_tx(
    raw: bytes,
    resolve: Callable[[str], type[Message] | None],
    max_bytes: int = MAX_TX_BYTES,
    *,
    simulate: bool = False,
) -> DecodedTx:
    """Parse ``raw`` and unpack each message with ``resolve(type_url)``; no state is read.

    Every part must be in its canonical encoding (abci_app/canonical.py): the TxRaw, the TxBody, the
    AuthInfo, the public key and each message, so the bytes that were signed are exactly the bytes that
    run and nobody relaying the tx can change its hash or size. Fixed-size fields must be exactly their
    size and the gas limit within ``1..MAX_GAS_LIMIT``, checked here, before anything reaches a
    response field.

    ``simulate`` (the SDK's Simulate): the signature, the sign mode and the gas limit are not checked
    (cosmjs simulates with an empty signature, SIGN_MODE_UNSPECIFIED and an empty fee); everything
    else is.

    Raises ``tx too large`` past ``max_bytes``; ``tx parse error`` for bytes that are not a tx, miss a
    part or use a feature this chain does not support; ``non-canonical encoding`` for a part that
    decodes but is not canonical; ``unknown message type`` for a type URL no module handles;
    ``invalid public key`` and ``unauthorized`` for a key or signature of the wrong type or size;
    ``invalid request`` for a gas limit out of range.
    """
    if len(raw) > max_bytes:
        raise TX_TOO_LARGE(f"tx is {len(raw)} bytes; the limit is {max_bytes}")
    tx = _decode_part(tx_pb2.TxRaw, raw, "tx")
    if not tx.body_bytes or not tx.auth_info_bytes:
        raise TX_DECODE("tx must carry body_bytes and auth_info_bytes")
    if len(tx.signatures) != 1:
        raise TX_DECODE(f"tx must carry exactly one signature, got {len(tx.signatures)}")
    body = _decode_part(tx_pb2.TxBody, tx.body_bytes, "tx body")
    if body.extension_options or body.non_critical_extension_options:
        raise TX_DECODE("extension options are not supported; leave them unset")
    auth_info = _decode_part(tx_pb2.AuthInfo, tx.auth_info_bytes, "tx auth info")
    public_key, sequence = _signer(auth_info, simulate)
    if not simulate and len(tx.signatures[0]) != SIGNATURE_BYTES:
        raise UNAUTHORIZED(f"signature must be {SIGNATURE_BYTES} bytes, got {len(tx.signatures[0])}")
    fee = _fee(auth_info)
    gas_limit = auth_info.fee.gas_limit
    if not simulate and not 1 <= gas_limit <= MAX_GAS_LIMIT:
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
    return DecodedTx(
        raw, hashlib.sha256(raw).digest(), tx, body, auth_info, tuple(messages),
        public_key, sequence, fee, gas_limit,
    )  # fmt: skip


def _signer(auth_info: tx_pb2.AuthInfo, simulate: bool) -> tuple[bytes, int]:
    """The one signer's raw public key and sequence, checked for type, size and sign mode."""
    if len(auth_info.signer_infos) != 1:
        raise TX_DECODE(f"tx must have exactly one signer_info, got {len(auth_info.signer_infos)}")
    if auth_info.HasField("tip"):
        raise TX_DECODE("tips are not supported; leave auth_info.tip unset")
    info = auth_info.signer_infos[0]
    if info.mode_info.WhichOneof("sum") != "single" or (
        not simulate and info.mode_info.single.mode != SIGN_MODE_DIRECT
    ):
        raise TX_DECODE("signer_info.mode_info must be single SIGN_MODE_DIRECT, the only sign mode accepted")
    packed = info.public_key
    url = packed.type_url
    cls: type[Message]
    if url == SECP256K1_PUBKEY_URL:
        cls = secp256k1_pb2.PubKey
    elif url == ED25519_PUBKEY_URL:
        cls = ed25519_pb2.PubKey
    else:
        raise INVALID_PUBKEY(
            f"public key type {shown(url, 64)} is not accepted; use {SECP256K1_PUBKEY_URL} "
            f"(or {ED25519_PUBKEY_URL})"
        )
    size = PUBLIC_KEY_BYTES[url]
    value = packed.value
    if len(value) == size + 2 and value[0] == 0x0A and value[1] == size:
        # the canonical PubKey{key = 1} of a key of the right size is exactly tag, length, key: the
        # one comparison decode_canonical would make, without building the message (hot: every tx)
        return bytes(value[2:]), int(info.sequence)
    key = _decode_part(cls, value, "public key").key  # type: ignore[attr-defined]
    if len(key) != size:
        raise INVALID_PUBKEY(f"a {url} public key is {size} bytes, got {len(key)}")
    return bytes(key), int(info.sequence)


def _fee(auth_info: tx_pb2.AuthInfo) -> int:
    """The fee in utask: no coin or one utask coin with a decimal amount; payer and granter unset."""
    fee = auth_info.fee
    if fee.payer or fee.granter:
        raise TX_DECODE("fee payer and fee granter are not supported; leave them empty (the signer pays)")
    if not fee.amount:
        return 0
    if len(fee.amount) != 1 or fee.amount[0].denom != FEE_DENOM:
        raise INVALID_REQUEST(f"the fee must be one coin of {FEE_DENOM}")
    text = fee.amount[0].amount
    if not text.isascii() or not text.isdigit() or len(text) > MAX_FEE_DIGITS:
        raise INVALID_REQUEST(
            f"fee amount {shown(text, 40)} must be a decimal integer of at most {MAX_FEE_DIGITS} digits"
        )
    return int(text)


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
    """The bytes an account signs: the deterministic serialization of a ``cosmos.tx.v1beta1.SignDoc``."""
    doc = tx_pb2.SignDoc(
        body_bytes=body_bytes,
        auth_info_bytes=auth_info_bytes,
        chain_id=chain_id,
        account_number=account_number,
    )
    return doc.SerializeToString(deterministic=True)


def public_key_of(key: Signer) -> bytes:
    """The raw public key of a signer: 32 bytes (ed25519) or 33 bytes (secp256k1)."""
    if isinstance(key, PrivKey):
        return key.public_key
    return bytes(key.verify_key)


def pack_public_key(public_key: bytes) -> AnyProto:
    """A raw public key as the SDK's Any (its type follows from its size, fixed per type)."""
    url = PUBKEY_URL_BY_SIZE.get(len(public_key))
    if url == SECP256K1_PUBKEY_URL:
        inner: Message = secp256k1_pb2.PubKey(key=public_key)
    elif url == ED25519_PUBKEY_URL:
        inner = ed25519_pb2.PubKey(key=public_key)
    else:
        raise ValueError(f"a public key is 32 (ed25519) or 33 (secp256k1) bytes, got {len(public_key)}")
    return AnyProto(type_url=url, value=inner.SerializeToString(deterministic=True))


def sign(key: Signer, message: bytes) -> bytes:
    """The 64-byte signature of ``message`` (the SignDoc bytes) by ``key``."""
    if isinstance(key, PrivKey):
        return key.sign(message)
    return bytes(key.sign(message).signature)


def auth_info_bytes(public_key: bytes, sequence: int, fee: int, gas_limit: int) -> bytes:
    """The canonical AuthInfo of one SIGN_MODE_DIRECT signer paying ``fee`` utask."""
    auth = tx_pb2.AuthInfo(
        signer_infos=[
            tx_pb2.SignerInfo(
                public_key=pack_public_key(public_key),
                mode_info=tx_pb2.ModeInfo(single=tx_pb2.ModeInfo.Single(mode=SIGN_MODE_DIRECT)),
                sequence=sequence,
            )
        ],
        fee=tx_pb2.Fee(
            amount=[coin_pb2.Coin(denom=FEE_DENOM, amount=str(fee))] if fee else [], gas_limit=gas_limit
        ),
    )
    return auth.SerializeToString(deterministic=True)


def body_bytes(messages: Sequence[Message], memo: str = "", timeout_height: int = 0) -> bytes:
    """The canonical TxBody of ``messages``."""
    body = tx_pb2.TxBody(
        messages=[
            AnyProto(type_url=type_url(m), value=m.SerializeToString(deterministic=True)) for m in messages
        ],
        memo=memo,
        timeout_height=timeout_height,
    )
    return body.SerializeToString(deterministic=True)


def tx_raw(body: bytes, auth: bytes, signature: bytes) -> bytes:
    """The canonical TxRaw of the signed parts."""
    return tx_pb2.TxRaw(body_bytes=body, auth_info_bytes=auth, signatures=[signature]).SerializeToString(
        deterministic=True
    )


def build_tx(
    key: Signer,
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
    """Build and sign a tx (used by the CLI, tests and benchmarks): a TxRaw, SIGN_MODE_DIRECT."""
    body = body_bytes(messages, memo, timeout_height)
    auth = auth_info_bytes(public_key_of(key), sequence, fee, gas_limit)
    return tx_raw(body, auth, sign(key, sign_bytes(body, auth, chain_id, account_number)))
