"""Ante checks: everything a tx must satisfy before its messages run.

Order: size and memo, timeout height, public key, signers and each message's own constant-time
check (``MsgRoute.check``, the SDK's ValidateBasic), account and sequence, fee and gas limit,
signature, then the effects: the fee moves to the fee collector and the sequence increments. This is
all CheckTx runs (docs/security.md): every step costs a small bound, whatever the tx holds.
Any failure raises an AppError before an effect is written; the caller discards the branch.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from hashlib import sha256

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from abci_app.context import Context
from abci_app.errors import (
    INSUFFICIENT_FEE,
    INSUFFICIENT_FEE_FUNDS,
    MEMO_TOO_LARGE,
    TX_TIMEOUT,
    TX_TOO_LARGE,
    UNAUTHORIZED,
    UNKNOWN_ACCOUNT,
    WRONG_SEQUENCE,
    AppError,
    shown,
)
from abci_app.keys import secp256k1
from abci_app.modules import MsgRoute, module_address
from abci_app.modules.auth import keeper as auth
from abci_app.modules.bank import keeper as bank
from abci_app.tx.address import address_from_pubkey, to_bech32
from abci_app.tx.codec import (
    ED25519_PUBKEY_URL,
    PUBLIC_KEY_BYTES,
    SECP256K1_PUBKEY_URL,
    SIGNATURE_BYTES,
    DecodedTx,
    sign_bytes,
)

FEE_COLLECTOR = module_address("fee_collector")


class SignatureCache:
    """Remembers signatures already verified, so CheckTx, proposals and FinalizeBlock verify once.

    A cache must never change an answer, so its key must hold every input of the verification as
    separate fields: the key is SHA-256 over the public key's size (one byte: 32 for ed25519, 33 for
    secp256k1, which names the algorithm), the public key of exactly that size, the 64-byte signature
    and the signed message, and only keys and signatures of exactly those sizes are ever looked up or
    stored. With every size fixed by the first byte the concatenation is unambiguous (no bytes can move
    between the key, the signature and the message, nor a key of one type pass for the other), so a hit
    means exactly this key signed exactly this message. Only successes are remembered; a failure is
    verified again each time. The key is 32 bytes an entry, whatever the size of the tx.

    Bounded twice: at most ``capacity`` entries (least recently used out), and an entry not used in
    the last ``max_age_blocks`` blocks (:meth:`end_block`, called at each Commit) is dropped. A tx is
    verified in CheckTx, again at each RECHECK while it waits in the mempool, and in the block that
    includes it; after that its entry is never asked for again, so without the age bound an idle
    chain's cache would keep every tx it ever saw until ``capacity`` (about 150 bytes an entry).
    """

    def __init__(self, capacity: int = 100_000, max_age_blocks: int = 20) -> None:
        self.capacity = capacity
        self.max_age_blocks = max_age_blocks
        self._block = 0  # blocks committed since the cache was made
        self._seen: OrderedDict[bytes, int] = OrderedDict()  # key -> block of its last use, oldest first

    def __len__(self) -> int:
        return len(self._seen)

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True when ``signature`` is a valid signature of ``message`` by ``public_key``.

        A 32-byte key is ed25519; a 33-byte key is secp256k1 (ECDSA over SHA-256(message), low-S
        ``r || s`` only, abci_app/keys/secp256k1.py). Any other size is refused.
        """
        if len(public_key) not in _VERIFIERS or len(signature) != SIGNATURE_BYTES:
            return False
        key = sha256(bytes([len(public_key)]) + public_key + signature + message).digest()
        if key in self._seen:
            self._seen[key] = self._block
            self._seen.move_to_end(key)
            return True
        if not _VERIFIERS[len(public_key)](public_key, message, signature):
            return False
        self._seen[key] = self._block
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def end_block(self) -> None:
        """A block was committed: forget the entries not used in the last ``max_age_blocks`` blocks."""
        self.advance_to(self._block + 1)

    def advance_to(self, block: int) -> None:
        """Count blocks by a height of the caller's: entries last used before ``block - max_age_blocks``
        are forgotten. Going back (another chain, a replay) forgets everything."""
        if block == self._block:
            return
        if block < self._block:
            self._seen.clear()
        self._block = block
        oldest = block - self.max_age_blocks
        seen = self._seen
        while seen:
            key = next(iter(seen))
            if seen[key] >= oldest:  # entries are in order of last use: the rest are newer
                break
            del seen[key]


def _verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True


_VERIFIERS = {
    PUBLIC_KEY_BYTES[ED25519_PUBKEY_URL]: _verify_ed25519,
    PUBLIC_KEY_BYTES[SECP256K1_PUBKEY_URL]: secp256k1.verify,
}


def required_fee(gas_limit: int, min_gas_price: int) -> int:
    """Smallest fee for ``gas_limit`` at ``min_gas_price`` utask per 1,000,000 gas, rounded up."""
    return -(-gas_limit * min_gas_price // 1_000_000)


GENESIS_ACCOUNT_NUMBER = 0
"""The account number a gentx is signed for: numbers are assigned only when the final genesis is put
together, after every operator signed, so (as in Cosmos SDK's genesis mode) gentxs sign for 0."""


def run_ante(
    ctx: Context,
    dtx: DecodedTx,
    routes: Mapping[str, MsgRoute],
    sigs: SignatureCache,
    *,
    genesis: bool = False,
    simulate: bool = False,
) -> bytes:
    """Check ``dtx`` against ``ctx`` and apply fee and sequence; return the signer's address.

    ``genesis`` (a gentx at InitChain): the signature is over :data:`GENESIS_ACCOUNT_NUMBER`.
    ``simulate`` (the SDK's Simulate): the minimum fee and the signature are not checked, and gas is
    charged for the tx as it will be once signed (a 64-byte signature, one verification).
    """
    params = auth.get_params(ctx)
    if len(dtx.raw) > params.max_tx_bytes:
        raise TX_TOO_LARGE(f"tx is {len(dtx.raw)} bytes; the limit is {params.max_tx_bytes}")
    if len(dtx.body.memo.encode()) > params.max_memo_bytes:
        raise MEMO_TOO_LARGE(
            f"memo is {len(dtx.body.memo.encode())} bytes; the limit is {params.max_memo_bytes}"
        )
    if dtx.body.timeout_height and ctx.height > dtx.body.timeout_height:
        raise TX_TIMEOUT(f"tx timed out at height {dtx.body.timeout_height}; the block is {ctx.height}")
    public_key = dtx.public_key  # of its type's exact size: decode_tx checked it
    signer = address_from_pubkey(public_key)
    signer_text = to_bech32(signer)
    for i, msg in enumerate(dtx.messages):
        route = routes["/" + msg.DESCRIPTOR.full_name]
        expected = route.signer(msg)
        if expected != signer_text:
            raise UNAUTHORIZED(
                f"message {i} must be signed by {shown(expected, 64)}; the tx is signed by {signer_text}"
            )
        if route.check is not None:
            route.check(ctx, msg)
    gas_limit = dtx.gas_limit  # within 1..MAX_GAS_LIMIT: decode_tx checked it
    fee = dtx.fee
    need = required_fee(gas_limit, int(params.min_gas_price))
    if fee < need and not simulate:
        # the SDK's wording, which cosmpy parses (required: <amount><denom>)
        raise INSUFFICIENT_FEE(
            f"insufficient fees; got: {fee}{bank.NATIVE_DENOM} required: {need}{bank.NATIVE_DENOM} "
            f"(gas limit {gas_limit} at {params.min_gas_price} utask per million gas)"
        )
    if ctx.gas is not None:
        unsigned = max(0, SIGNATURE_BYTES - len(dtx.signature)) if simulate else 0
        ctx.gas.consume(params.gas_per_tx_byte * (len(dtx.raw) + unsigned), "tx size")
        ctx.gas.consume(params.gas_per_msg * len(dtx.messages), "messages")
    account = auth.get_account(ctx, signer)
    if account is None:
        raise UNKNOWN_ACCOUNT(f"account {signer_text} does not exist; fund it before it signs")
    if account.public_key and account.public_key != public_key:
        raise UNAUTHORIZED(f"public key does not match the one recorded for {signer_text}")
    if dtx.sequence != account.sequence:
        raise WRONG_SEQUENCE(f"account sequence mismatch, expected {account.sequence}, got {dtx.sequence}")
    if ctx.gas is not None:
        ctx.gas.consume(params.gas_sig_verify, "signature verification")
    number = GENESIS_ACCOUNT_NUMBER if genesis else account.account_number
    message = sign_bytes(dtx.tx.body_bytes, dtx.tx.auth_info_bytes, ctx.chain_id, number)
    if not simulate and not sigs.verify(public_key, message, dtx.signature):
        raise UNAUTHORIZED(
            f"signature verification failed; please verify account number ({number}) and chain-id "
            f"({ctx.chain_id})"
        )
    if fee:
        try:
            bank.send(ctx, signer, FEE_COLLECTOR, bank.NATIVE_DENOM, fee)
        except AppError as exc:
            if exc.error is not bank.INSUFFICIENT_FUNDS:
                raise
            raise INSUFFICIENT_FEE_FUNDS(exc.message) from exc
    account.sequence += 1
    account.public_key = public_key
    auth.set_account(ctx, signer, account)
    return signer
