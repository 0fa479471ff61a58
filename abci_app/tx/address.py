"""Account addresses, the Cosmos SDK's rules, shown as bech32 ``task1...``.

* secp256k1 (33-byte compressed key): RIPEMD-160(SHA-256(key)), as cosmjs and cosmpy derive it;
* ed25519 (32-byte key): the first 20 bytes of SHA-256(key), the SDK's and CometBFT's rule.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import bech32
from Crypto.Hash import RIPEMD160

from abci_app.errors import INVALID_ADDRESS, shown

HRP = "task"
VALOPER_HRP = "taskvaloper"
"""The SDK's validator operator prefix: an operator account's 20 bytes shown as ``taskvaloper1...``."""
ADDRESS_LEN = 20
ADDRESS_CACHE_SIZE = 4096
"""Addresses each bech32 cache keeps (about 250 bytes an entry, so about 1 MB each at the bound): the
hot ones are a block's senders and the module accounts. 65,536 let a node under tx load grow by about
16 MB per cache over days before the bound held."""


SECP256K1_PUBKEY_LEN = 33


def address_from_pubkey(public_key: bytes) -> bytes:
    """The 20-byte address of a public key; the key type follows from its fixed size.

    33 bytes (secp256k1): RIPEMD-160(SHA-256(key)); otherwise (ed25519, 32 bytes; also CometBFT's
    validator address rule): SHA-256(key)[:20].
    """
    digest = hashlib.sha256(public_key).digest()
    if len(public_key) == SECP256K1_PUBKEY_LEN:
        return bytes(RIPEMD160.new(digest).digest())
    return digest[:ADDRESS_LEN]


@lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def to_bech32(address: bytes) -> str:
    """Render a 20-byte address as ``task1...``."""
    data = bech32.convertbits(list(address), 8, 5, True)
    assert data is not None
    return str(bech32.bech32_encode(HRP, data))


def from_bech32(text: str, field: str = "address") -> bytes:
    """Parse ``task1...`` into 20 bytes; raises an ``invalid address`` AppError naming ``field``."""
    return _parse_bech32(text, field)


@lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def _parse_bech32(text: str, field: str) -> bytes:
    # pure and hot (every balance access of every tx): cached; errors are never cached
    quoted = shown(text, 100)
    hrp, data = bech32.bech32_decode(text)
    if hrp is None or data is None:
        raise INVALID_ADDRESS(f"{field} {quoted} is not valid bech32 (expected {HRP}1...)")
    if hrp != HRP:
        raise INVALID_ADDRESS(f"{field} {quoted} has prefix {hrp!r}; expected {HRP!r}")
    raw = bech32.convertbits(data, 5, 8, False)
    if raw is None or len(raw) != ADDRESS_LEN:
        raise INVALID_ADDRESS(f"{field} {quoted} must decode to {ADDRESS_LEN} bytes")
    if text != text.lower():  # one spelling per address (bech32 also decodes the all-uppercase one)
        raise INVALID_ADDRESS(f"{field} {quoted} must be written in lowercase: {text.lower()}")
    return bytes(raw)


def from_valoper_bech32(text: str, field: str = "validator_address") -> bytes:
    """Parse ``taskvaloper1...`` into 20 bytes; raises an ``invalid address`` AppError naming ``field``."""
    hrp, data = bech32.bech32_decode(text)
    raw = bech32.convertbits(data, 5, 8, False) if data is not None else None
    if hrp != VALOPER_HRP or raw is None or len(raw) != ADDRESS_LEN or text != text.lower():
        raise INVALID_ADDRESS(
            f"{field} {shown(text, 100)} must be a lowercase bech32 {VALOPER_HRP}1... validator address"
        )
    return bytes(raw)
