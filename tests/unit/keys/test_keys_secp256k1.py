"""secp256k1 keys: the SDK's signatures and addresses, checked against cosmjs's vectors and OpenSSL."""

from __future__ import annotations

import base64
import hashlib

import bech32
import coincurve
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from abci_app.keys import secp256k1
from abci_app.keys.errors import InvalidKeyError
from abci_app.keys.hd import private_key_from_mnemonic
from tests.unit.keys.vectors import (
    FAUCET_ACCOUNTS,
    FAUCET_ADDRESS,
    FAUCET_MNEMONIC,
    SIGN_VECTORS,
    address_bytes,
)

FAUCET = private_key_from_mnemonic(FAUCET_MNEMONIC)


def _openssl_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """OpenSSL's ECDSA (through ``cryptography``), which accepts high-S: an independent verifier."""
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), public_key)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _high_s(signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:], "big")
    return signature[:32] + (secp256k1.CURVE_ORDER - s).to_bytes(32, "big")


@pytest.mark.parametrize(
    ("data", "digest"),
    [
        # the RIPEMD-160 page's examples (Bosselaers, "The hash function RIPEMD-160")
        (b"", "9c1185a5c5e9fc54612808977ee8f548b2258d31"),
        (b"a", "0bdc9d2d256b3ee9daae347be6f4dc835a467ffe"),
        (b"abc", "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"),
        (b"message digest", "5d0689ef49d2fae572b881b123a85ffa21595f36"),
    ],
)
def test_ripemd160_gives_the_published_digests(data: bytes, digest: str) -> None:
    assert secp256k1.ripemd160(data).hex() == digest


def test_the_faucet_key_has_cosmjs_public_key_and_address() -> None:
    pubkey, _ = FAUCET_ACCOUNTS[0]
    assert FAUCET.public_key == base64.b64decode(pubkey)
    assert secp256k1.address(FAUCET.public_key) == address_bytes(FAUCET_ADDRESS)
    assert FAUCET.bech32_address.startswith("task1")
    assert bech32.bech32_decode(FAUCET.bech32_address)[0] == "task"


def test_address_is_ripemd160_of_sha256_of_the_compressed_key() -> None:
    expected = secp256k1.ripemd160(hashlib.sha256(FAUCET.public_key).digest())
    assert FAUCET.address == expected and len(expected) == 20


@pytest.mark.parametrize(("sign_bytes", "signature"), SIGN_VECTORS)
def test_signing_reproduces_the_sdk_signatures_quoted_by_cosmjs(sign_bytes: str, signature: str) -> None:
    message = bytes.fromhex(sign_bytes)
    produced = FAUCET.sign(message)
    assert produced.hex() == signature  # RFC 6979 nonces: the same bytes as the SDK's signer
    assert secp256k1.verify(FAUCET.public_key, message, bytes.fromhex(signature))


@pytest.mark.parametrize(("sign_bytes", "signature"), SIGN_VECTORS)
def test_a_high_s_signature_is_refused_though_openssl_accepts_it(sign_bytes: str, signature: str) -> None:
    message, high = bytes.fromhex(sign_bytes), _high_s(bytes.fromhex(signature))
    assert _openssl_verifies(FAUCET.public_key, message, high)
    assert not secp256k1.is_low_s(high)
    assert not secp256k1.verify(FAUCET.public_key, message, high)


def test_a_signature_made_here_verifies_with_openssl_and_coincurve() -> None:
    key = secp256k1.generate()
    message = b"taskmaster interop"
    signature = key.sign(message)
    assert len(signature) == 64 and secp256k1.is_low_s(signature)
    assert _openssl_verifies(key.public_key, message, signature)
    assert secp256k1.verify(key.public_key, message, signature)


@pytest.mark.parametrize("length", [0, 63, 65, 70, 72])
def test_a_signature_that_is_not_64_bytes_is_refused(length: int) -> None:
    message = b"m"
    signature = FAUCET.sign(message)
    malformed = (signature * 2)[:length]
    assert not secp256k1.verify(FAUCET.public_key, message, malformed)


def test_a_der_signature_is_refused() -> None:
    message = b"m"
    signature = FAUCET.sign(message)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    assert not secp256k1.verify(FAUCET.public_key, message, der)


def test_r_or_s_at_or_above_the_order_is_refused() -> None:
    message = b"m"
    signature = FAUCET.sign(message)
    order = secp256k1.CURVE_ORDER.to_bytes(32, "big")
    assert not secp256k1.verify(FAUCET.public_key, message, order + signature[32:])
    assert not secp256k1.verify(FAUCET.public_key, message, signature[:32] + bytes(32))


def test_another_key_or_message_does_not_verify() -> None:
    signature = FAUCET.sign(b"m")
    assert not secp256k1.verify(FAUCET.public_key, b"n", signature)
    assert not secp256k1.verify(secp256k1.generate().public_key, b"m", signature)


@pytest.mark.parametrize(
    "public_key",
    [
        b"",
        bytes(33),
        b"\x04" + bytes(32),  # not a compressed prefix
        b"\x02" + b"\xff" * 32,  # x beyond the field: no such point
        coincurve.PublicKey(FAUCET.public_key).format(compressed=False),  # 65-byte uncompressed form
    ],
)
def test_a_malformed_public_key_is_refused(public_key: bytes) -> None:
    assert not secp256k1.verify(public_key, b"m", FAUCET.sign(b"m"))
    with pytest.raises(InvalidKeyError):
        secp256k1.address(public_key)


@pytest.mark.parametrize("secret", [bytes(32), secp256k1.CURVE_ORDER.to_bytes(32, "big"), b"\x01" * 31])
def test_a_private_key_outside_1_to_n_minus_1_is_refused(secret: bytes) -> None:
    with pytest.raises(InvalidKeyError):
        secp256k1.PrivKey(secret)


def test_a_private_key_never_prints_its_secret() -> None:
    assert FAUCET.secret.hex() not in repr(FAUCET)
    assert FAUCET.bech32_address in repr(FAUCET)
