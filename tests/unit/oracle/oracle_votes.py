"""Signed extended commits for oracle codec tests: what CometBFT would hand a proposer."""

from __future__ import annotations

from nacl.signing import SigningKey
from tendermint.abci import types_pb2 as abci
from tendermint.types import validator_pb2

from abci_app.modules.oracle.codec import encode_extension
from abci_app.modules.oracle.injection import extension_sign_bytes
from abci_app.tx.address import address_from_pubkey
from tests.app.driver import seeded_key

CHAIN_ID = "oracle-unit"
HEIGHT = 7
PAIRS = ["bitcoin/usd", "ethereum/usd"]
COMMIT = validator_pb2.BLOCK_ID_FLAG_COMMIT
ABSENT = validator_pb2.BLOCK_ID_FLAG_ABSENT
NIL = validator_pb2.BLOCK_ID_FLAG_NIL
KEYS = [seeded_key(f"oracle-unit-{i}") for i in range(8)]
ADDRESSES = [address_from_pubkey(bytes(k.verify_key)) for k in KEYS]
PUBKEYS = dict(zip(ADDRESSES, [bytes(k.verify_key) for k in KEYS], strict=True))


def pubkey_of(address: bytes) -> bytes | None:
    """The staking store's answer for the test validators."""
    return PUBKEYS.get(address)


def sign(key: SigningKey, extension: bytes, round_: int = 0, height: int = HEIGHT) -> bytes:
    """The extension signature CometBFT's signer would produce."""
    return key.sign(extension_sign_bytes(extension, height, round_, CHAIN_ID)).signature


def commit(
    reports: list[dict[str, int] | None],
    powers: list[int] | None = None,
    round_: int = 0,
    flags: list[int] | None = None,
) -> abci.ExtendedCommitInfo:
    """An extended commit: report None is an absent vote, a dict a signed extension (empty: no report)."""
    info = abci.ExtendedCommitInfo(round=round_)
    for i, report in enumerate(reports):
        vote = info.votes.add()
        vote.validator.address = ADDRESSES[i]
        vote.validator.power = powers[i] if powers is not None else 10
        flag = flags[i] if flags is not None else (ABSENT if report is None else COMMIT)
        vote.block_id_flag = validator_pb2.BlockIDFlag.ValueType(flag)
        if flag == COMMIT:
            vote.vote_extension = encode_extension(report or {}, PAIRS)
            vote.extension_signature = sign(KEYS[i], vote.vote_extension, round_)
    return info
