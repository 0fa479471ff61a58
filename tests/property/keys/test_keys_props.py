"""Property tests of the keys package: signatures have one valid spelling and resist any change;
the armor round-trips; and whatever bytes reach the armor parser, a key file or a mnemonic, the only
exceptions are the package's own errors.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from tempfile import TemporaryDirectory

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from abci_app.keys import armor, hd, secp256k1
from abci_app.keys.errors import ArmorError, KeysError
from abci_app.keys.keyring import Keyring
from abci_app.keys.passphrase import fixed
from abci_app.keys.sealed import KdfParams

FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)
secrets = st.integers(min_value=1, max_value=secp256k1.CURVE_ORDER - 1).map(
    lambda n: secp256k1.PrivKey(n.to_bytes(32, "big"))
)
messages = st.binary(max_size=512)


def _openssl_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), public_key)
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@given(secrets, messages)
def test_every_signature_is_low_s_and_verifies_here_and_with_openssl(
    key: secp256k1.PrivKey, message: bytes
) -> None:
    signature = key.sign(message)
    assert len(signature) == 64 and secp256k1.is_low_s(signature)
    assert secp256k1.verify(key.public_key, message, signature)
    assert _openssl_verifies(key.public_key, message, signature)
    assert key.sign(message) == signature  # deterministic (RFC 6979)


@given(secrets, messages)
def test_the_high_s_twin_of_every_signature_is_refused(key: secp256k1.PrivKey, message: bytes) -> None:
    signature = key.sign(message)
    s = int.from_bytes(signature[32:], "big")
    twin = signature[:32] + (secp256k1.CURVE_ORDER - s).to_bytes(32, "big")
    assert _openssl_verifies(key.public_key, message, twin)  # mathematically valid...
    assert not secp256k1.verify(key.public_key, message, twin)  # ...but not the one spelling


@given(secrets, messages, st.integers(min_value=0, max_value=64 * 8 - 1))
def test_flipping_any_bit_of_a_signature_is_refused(key: secp256k1.PrivKey, message: bytes, bit: int) -> None:
    signature = bytearray(key.sign(message))
    signature[bit // 8] ^= 1 << (bit % 8)
    assert not secp256k1.verify(key.public_key, message, bytes(signature))


@given(secrets, messages.filter(len), st.data())
def test_changing_the_message_is_refused(key: secp256k1.PrivKey, message: bytes, data: st.DataObject) -> None:
    bit = data.draw(st.integers(min_value=0, max_value=len(message) * 8 - 1))
    changed = bytearray(message)
    changed[bit // 8] ^= 1 << (bit % 8)
    assert not secp256k1.verify(key.public_key, bytes(changed), key.sign(message))


@given(secrets, secrets, messages)
def test_another_key_does_not_verify(
    key: secp256k1.PrivKey, other: secp256k1.PrivKey, message: bytes
) -> None:
    assume(key != other)
    assert not secp256k1.verify(other.public_key, message, key.sign(message))


@given(st.binary(max_size=80), st.binary(max_size=80), st.binary(max_size=80))
def test_verify_never_raises(public_key: bytes, message: bytes, signature: bytes) -> None:
    assert secp256k1.verify(public_key, message, signature) in (True, False)


header_names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9-]{0,31}\Z")
header_values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)


@given(
    st.from_regex(r"\A[A-Z0-9][A-Z0-9 ]{0,20}[A-Z0-9]\Z"),
    st.dictionaries(header_names, header_values, max_size=6),
    st.binary(max_size=300),
)
def test_armor_round_trips(block_type: str, headers: dict[str, str], data: bytes) -> None:
    assert armor.decode_armor(armor.encode_armor(block_type, headers, data)) == (block_type, headers, data)


@settings(max_examples=25, deadline=None)
@given(secrets, st.text(min_size=8, max_size=40))
def test_an_encrypted_export_round_trips(key: secp256k1.PrivKey, passphrase: str) -> None:
    text = armor.encrypt_armor_priv_key(key, passphrase, FAST)
    assert armor.unarmor_decrypt_priv_key(text, passphrase) == key


@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_arbitrary_input_to_the_armor_parser_raises_only_armor_error(text: str | bytes) -> None:
    with contextlib.suppress(ArmorError):
        armor.decode_armor(text)


EXPORT = armor.encrypt_armor_priv_key(secp256k1.PrivKey(b"\x07" * 32), "export passphrase", FAST)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=0, max_value=len(EXPORT) - 1),
    st.integers(min_value=0, max_value=127),
    st.booleans(),
)
def test_any_edit_of_an_export_is_refused_or_harmless(at: int, char: int, insert: bool) -> None:
    edited = EXPORT[:at] + chr(char) + EXPORT[at + (0 if insert else 1) :]
    try:
        key = armor.unarmor_decrypt_priv_key(edited, "export passphrase")
    except KeysError:
        return
    assert key.secret == b"\x07" * 32  # only an edit the format ignores (trailing space, a blank line)


@settings(deadline=None, max_examples=50)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_in_a_key_file_raise_only_keys_errors(content: bytes) -> None:
    with TemporaryDirectory() as home:
        for backend in ("file", "test"):
            keyring = Keyring(home, backend, fixed("keyring passphrase"), FAST)
            keyring.directory.mkdir(parents=True, exist_ok=True)
            (keyring.directory / "k.json").write_bytes(content)
            with contextlib.suppress(KeysError):
                keyring.list()
            with contextlib.suppress(KeysError):
                keyring.private_key("k")


RECORD = {
    "format": "taskmaster-keyring-file/v1",
    "name": "k",
    "type": "local",
    "algo": "secp256k1",
    "kdf": "argon2id",
    "cipher": "chacha20-poly1305",
}


@settings(deadline=None, max_examples=50)
@given(
    st.dictionaries(
        st.sampled_from(["pubkey", "address", "kdfparams", "salt", "nonce", "check", "ciphertext"]),
        st.one_of(st.text(max_size=60), st.integers(), st.none()),
    )
)
def test_a_key_record_with_arbitrary_fields_raises_only_keys_errors(fields: dict[str, object]) -> None:
    with TemporaryDirectory() as home:
        keyring = Keyring(home, "file", fixed("keyring passphrase"), FAST)
        keyring.directory.mkdir(parents=True)
        (Path(keyring.directory) / "k.json").write_text(json.dumps(RECORD | fields))
        with contextlib.suppress(KeysError):
            keyring.private_key("k")


@given(
    st.lists(st.sampled_from(["abandon", "zoo", "about", "Zoo", "xyz", "", "art"]), max_size=25),
    st.text(max_size=30),
)
def test_arbitrary_mnemonics_raise_only_keys_errors(words: list[str], noise: str) -> None:
    with contextlib.suppress(KeysError):
        hd.normalize_mnemonic(" ".join(words) + noise)
