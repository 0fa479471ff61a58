"""secp256k1 account keys, as the Cosmos SDK's ``crypto/keys/secp256k1`` defines them.

* public key: 33 bytes, SEC1 compressed (``0x02``/``0x03`` then X); proto ``/cosmos.crypto.secp256k1.PubKey``
* signature: ECDSA over SHA-256 of the message, 64 bytes ``r || s`` big-endian, with ``s <= n/2`` (low-S).
  Signing always produces low-S (libsecp256k1, RFC 6979 nonces, so deterministic); verifying refuses a
  high-S signature, as the SDK's ``VerifySignature`` does, so a signature has one valid spelling.
* address: RIPEMD-160(SHA-256(public key)), 20 bytes, shown as bech32 ``task1...``.

The curve arithmetic is libsecp256k1's, through coincurve; nothing of it is written here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

import coincurve
from coincurve.ecdsa import cdata_to_der, deserialize_compact
from Crypto.Hash import RIPEMD160

from abci_app.keys.errors import InvalidKeyError
from abci_app.tx.address import to_bech32

KEY_TYPE = "secp256k1"
PUBKEY_TYPE_URL = "/cosmos.crypto.secp256k1.PubKey"
PRIVKEY_LEN = 32
PUBKEY_LEN = 33
SIGNATURE_LEN = 64
ADDRESS_LEN = 20
# the order n of the curve's base point (SEC 2, section 2.4.1)
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_ORDER = CURVE_ORDER // 2


@dataclass(frozen=True, repr=False)
class PrivKey:
    """A secp256k1 private key: 32 big-endian bytes, a scalar in ``[1, n-1]``."""

    secret: bytes
    _key: coincurve.PrivateKey = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) != PRIVKEY_LEN:
            raise InvalidKeyError(f"a secp256k1 private key is {PRIVKEY_LEN} bytes")
        try:
            key = coincurve.PrivateKey(self.secret)
        except ValueError:
            raise InvalidKeyError("a secp256k1 private key must be a scalar in [1, n-1]") from None
        object.__setattr__(self, "_key", key)

    def __repr__(self) -> str:  # never print the secret
        return f"PrivKey(address={self.bech32_address})"

    @property
    def public_key(self) -> bytes:
        """The 33-byte compressed public key."""
        return bytes(self._key.public_key.format(compressed=True))

    @property
    def address(self) -> bytes:
        """The 20-byte account address."""
        return address(self.public_key)

    @property
    def bech32_address(self) -> str:
        """The account address as ``task1...``."""
        return to_bech32(self.address)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte low-S ``r || s`` signature of SHA-256(``message``)."""
        # a recoverable signature is r || s || recovery id, and libsecp256k1 signs with low S
        return bytes(self._key.sign_recoverable(message, hasher=_sha256)[:SIGNATURE_LEN])


def generate() -> PrivKey:
    """A new private key from the operating system's randomness (not from a mnemonic)."""
    return PrivKey(coincurve.PrivateKey().secret)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ripemd160(data: bytes) -> bytes:
    """RIPEMD-160 of ``data`` (pycryptodome's: OpenSSL 3 may refuse it through hashlib)."""
    return bytes(RIPEMD160.new(data).digest())


def address(public_key: bytes) -> bytes:
    """The 20-byte address of a 33-byte compressed public key: RIPEMD-160(SHA-256(public key))."""
    check_public_key(public_key)
    return ripemd160(hashlib.sha256(public_key).digest())


def bech32_address(public_key: bytes) -> str:
    """The address of ``public_key`` as ``task1...``."""
    return to_bech32(address(public_key))


def check_public_key(public_key: bytes) -> None:
    """Raise :class:`InvalidKeyError` unless ``public_key`` is a valid 33-byte compressed point."""
    _parsed_public_key(public_key)


@lru_cache(maxsize=1 << 14)
def _parsed_public_key(public_key: bytes) -> coincurve.PublicKey:
    # parsing decompresses the point (a square root): senders repeat, so parsed keys are kept
    if not isinstance(public_key, bytes) or len(public_key) != PUBKEY_LEN or public_key[0] not in (2, 3):
        raise InvalidKeyError(
            f"a secp256k1 public key is {PUBKEY_LEN} bytes, compressed (0x02 or 0x03 first)"
        )
    try:
        return coincurve.PublicKey(public_key)
    except ValueError:
        raise InvalidKeyError("the public key is not a point on secp256k1") from None


def is_low_s(signature: bytes) -> bool:
    """Whether the ``s`` half of a 64-byte ``r || s`` signature is at most n/2."""
    return int.from_bytes(signature[32:64], "big") <= HALF_ORDER


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid low-S ``r || s`` signature of SHA-256(``message``) by ``public_key``.

    False for a signature that is not 64 bytes, has ``r`` or ``s`` out of range, or a high ``s``, and
    for a public key that is not a valid compressed point.
    """
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_LEN or not is_low_s(signature):
        return False
    try:
        key = _parsed_public_key(public_key)
        parsed = deserialize_compact(signature)  # refuses r or s >= n
    except (InvalidKeyError, ValueError):
        return False
    # libsecp256k1's verify also refuses a high S by itself; the check above makes it explicit
    return bool(key.verify(cdata_to_der(parsed), message, hasher=_sha256))
