"""The ASCII-armored private key export (``keys export`` / ``keys import``), docs/keys.md.

The layout is the Cosmos SDK's (``crypto/armor.go``), which is OpenPGP ASCII armor (RFC 4880 section
6.2): a ``-----BEGIN TENDERMINT PRIVATE KEY-----`` line, ``name: value`` header lines, a blank line, the
body in base64 (64 characters a line), ``=`` and the base64 CRC-24 of the body, and the END line.

What differs from the SDK: the SDK writes ``kdf: bcrypt`` (or ``scrypt``), a ``salt`` header, and a
body that is xsalsa20-poly1305 over the amino-encoded key. Here the headers are ``kdf: argon2id``,
``kdfparams``, ``salt``, ``cipher: chacha20-poly1305``, ``check`` and ``type: secp256k1``, and the body is
the 12-byte nonce then ChaCha20-Poly1305 over the raw 32-byte key, with every header but ``check`` bound as
associated data. An SDK export is recognised and refused with a message saying so.
"""

from __future__ import annotations

import base64
import binascii
import re

from abci_app.keys.errors import ArmorError, KeysError
from abci_app.keys.sealed import (
    CIPHER_NAME,
    DEFAULT_KDF,
    KDF_NAME,
    NONCE_LEN,
    KdfParams,
    Sealed,
    new_salt,
    open_sealed,
    seal,
)
from abci_app.keys.secp256k1 import KEY_TYPE, PrivKey

BLOCK_TYPE_PRIVKEY = "TENDERMINT PRIVATE KEY"
LINE_LEN = 64
MAX_ARMOR_CHARS = 64 * 1024
_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB
_BLOCK_TYPE = re.compile(r"^[A-Z0-9][A-Z0-9 ]{0,62}[A-Z0-9]$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_HEX = re.compile(r"^[0-9A-Fa-f]*$")
_PRIVKEY_HEADERS = ("check", "cipher", "kdf", "kdfparams", "salt", "type")


def crc24(data: bytes) -> int:
    """The OpenPGP CRC-24 of ``data`` (RFC 4880 section 6.1)."""
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF


def encode_armor(block_type: str, headers: dict[str, str], data: bytes) -> str:
    """``data`` armored as ``block_type`` with ``headers`` (written sorted by name)."""
    if not _BLOCK_TYPE.match(block_type):
        raise ArmorError(f"armor block type {block_type!r} must be uppercase letters, digits and spaces")
    lines = [f"-----BEGIN {block_type}-----"]
    for name in sorted(headers):
        value = headers[name]
        if not _HEADER_NAME.match(name) or not value.isprintable() or value != value.strip():
            raise ArmorError(f"armor header {name!r}: {value!r} cannot be written")
        lines.append(f"{name}: {value}")
    lines.append("")
    body = base64.b64encode(data).decode("ascii")
    lines += [body[i : i + LINE_LEN] for i in range(0, len(body), LINE_LEN)]
    lines.append("=" + base64.b64encode(crc24(data).to_bytes(3, "big")).decode("ascii"))
    lines.append(f"-----END {block_type}-----")
    return "\n".join(lines) + "\n"


def decode_armor(text: str | bytes) -> tuple[str, dict[str, str], bytes]:
    """(block type, headers, data) of an armored block; :class:`ArmorError` for anything malformed.

    Blank lines and text before the BEGIN line are skipped, CRLF line ends and trailing spaces are
    accepted; the CRC-24 line is required and checked; nothing but blank lines may follow the END line.
    """
    lines = _armor_lines(text)
    begin = next((i for i, line in enumerate(lines) if line.startswith("-----BEGIN ")), None)
    if begin is None:
        raise ArmorError("no '-----BEGIN ...-----' line: this is not an armored key")
    block_type = _block_type(lines[begin])
    at = begin + 1
    headers: dict[str, str] = {}
    while at < len(lines) and lines[at] != "":
        name, sep, value = lines[at].partition(":")
        if not sep or not _HEADER_NAME.match(name) or value[:1] not in ("", " "):
            raise ArmorError(
                f"armor line {at + 1} is not a 'name: value' header (end headers with a blank line)"
            )
        if name in headers:
            raise ArmorError(f"armor header {name!r} appears twice")
        headers[name] = value[1:]
        at += 1
    at += 1  # the blank line
    body_lines: list[str] = []
    while at < len(lines) and not lines[at].startswith(("=", "-----")):
        if not _BASE64_LINE.match(lines[at]):
            raise ArmorError(f"armor line {at + 1} is not base64")
        body_lines.append(lines[at])
        at += 1
    if at >= len(lines) or not lines[at].startswith("="):
        raise ArmorError("the armor has no '=' CRC-24 line before its END line")
    crc_line, at = lines[at], at + 1
    if at >= len(lines) or lines[at] != f"-----END {block_type}-----":
        raise ArmorError(f"the armor must end with '-----END {block_type}-----'")
    if any(line != "" for line in lines[at + 1 :]):
        raise ArmorError("text follows the armor's END line")
    data = _b64(("".join(body_lines)), "body")
    crc = _b64(crc_line[1:], "CRC-24")
    if len(crc) != 3 or int.from_bytes(crc, "big") != crc24(data):
        raise ArmorError("the armor's CRC-24 does not match its body: the text was damaged in copying")
    return block_type, headers, data


def _armor_lines(text: str | bytes) -> list[str]:
    if len(text) > MAX_ARMOR_CHARS:
        raise ArmorError(f"an armored key is at most {MAX_ARMOR_CHARS} characters; this is {len(text)}")
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise ArmorError("an armored key is ASCII text; this has other bytes") from None
    if not text.isascii():
        raise ArmorError("an armored key is ASCII text; this has other characters")
    return [line.rstrip(" \t\r") for line in text.split("\n")]


def _block_type(begin_line: str) -> str:
    prefix = "-----BEGIN "
    if not begin_line.endswith("-----") or len(begin_line) < len(prefix) + 5:
        raise ArmorError(f"malformed armor BEGIN line: {begin_line[:80]!r}")
    block_type = begin_line[len(prefix) : -5]
    if not _BLOCK_TYPE.match(block_type):
        raise ArmorError(f"malformed armor block type {block_type[:64]!r}")
    return block_type


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ArmorError(f"the armor's {what} is not valid base64") from None


def _hex(headers: dict[str, str], name: str) -> bytes:
    value = headers[name]
    if not _HEX.match(value) or len(value) % 2:
        raise ArmorError(f"armor header {name!r} must be hexadecimal")
    return bytes.fromhex(value)


def _associated_data(headers: dict[str, str]) -> bytes:
    return "".join(f"{name}: {headers[name]}\n" for name in sorted(headers)).encode("ascii")


def encrypt_armor_priv_key(key: PrivKey, passphrase: str, params: KdfParams = DEFAULT_KDF) -> str:
    """``key`` encrypted under ``passphrase`` and armored as a ``TENDERMINT PRIVATE KEY``."""
    salt = new_salt()
    headers = {
        "cipher": CIPHER_NAME,
        "kdf": KDF_NAME,
        "kdfparams": params.text(),
        "salt": salt.hex().upper(),
        "type": KEY_TYPE,
    }
    # every header but the check (which comes out of the sealing) is bound as associated data
    sealed = seal(key.secret, passphrase, _associated_data(headers), params, salt)
    headers["check"] = sealed.check.hex().upper()
    return encode_armor(BLOCK_TYPE_PRIVKEY, headers, sealed.nonce + sealed.ciphertext)


def unarmor_decrypt_priv_key(text: str | bytes, passphrase: str) -> PrivKey:
    """The private key in an armored export; every failure is a :class:`KeysError` saying which.

    :class:`ArmorError` for malformed text or an export of a kind not read here (an SDK export),
    :class:`~abci_app.keys.errors.WrongPassphraseError` for a wrong passphrase,
    :class:`~abci_app.keys.errors.CorruptedKeyError` for an altered export.
    """
    block_type, headers, data = decode_armor(text)
    if block_type != BLOCK_TYPE_PRIVKEY:
        raise ArmorError(f"unrecognized armor type {block_type!r}, expected {BLOCK_TYPE_PRIVKEY!r}")
    kdf = headers.get("kdf", "")
    if kdf in ("bcrypt", "scrypt"):
        raise ArmorError(
            f"this key was exported by the Cosmos SDK (kdf {kdf}, xsalsa20 body), which this keyring "
            "does not read: recover the key from its mnemonic with `keys add --recover` instead"
        )
    if kdf != KDF_NAME:
        raise ArmorError(f"unrecognized KDF type {kdf[:40]!r}: expected {KDF_NAME!r}")
    missing = [name for name in _PRIVKEY_HEADERS if name not in headers]
    extra = sorted(set(headers) - set(_PRIVKEY_HEADERS))
    if missing or extra:
        raise ArmorError(f"armored key headers: missing {missing}, unexpected {extra}")
    if headers["type"] != KEY_TYPE or headers["cipher"] != CIPHER_NAME:
        raise ArmorError(
            f"armored key is {headers['type'][:40]!r} under {headers['cipher'][:40]!r}; "
            f"expected {KEY_TYPE!r} under {CIPHER_NAME!r}"
        )
    try:
        params = KdfParams.parse(headers["kdfparams"])
    except KeysError as e:
        raise ArmorError(f"armored key: {e}") from None
    if len(data) <= NONCE_LEN:
        raise ArmorError("the armored key's body is too short to hold a nonce and a key")
    sealed = Sealed(params, _hex(headers, "salt"), data[:NONCE_LEN], _hex(headers, "check"), data[NONCE_LEN:])
    bound = {name: value for name, value in headers.items() if name != "check"}
    secret = open_sealed(sealed, passphrase, _associated_data(bound), "armored key")
    try:
        return PrivKey(secret)
    except KeysError as e:
        raise ArmorError(f"the armored key decrypts to no valid secp256k1 key: {e}") from None
