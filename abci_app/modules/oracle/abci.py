"""The oracle's part in the ABCI methods: vote extensions, the proposal's injection, the round's run.

The round of block H (opened by the taskmaster's end-block when the oracle task is due) is carried
like this:

1. ExtendVote at H: an active, unjailed validator's precommit carries its fresh quotes
   (:func:`extend`); VerifyVoteExtension checks another validator's (:func:`verify`).
2. PrepareProposal at H+1: the proposer puts the extended commit of H, invalid extensions cleared,
   at the head of the block as the *injection* (:func:`prepare`); ProcessProposal checks it against
   the block's last commit (:func:`check`).
3. FinalizeBlock at H+1, before the txs: the round runs on the injection (:func:`pre_block`), writing
   stake-weighted medians and counting misses; the injection gets the round's result.

A block at H+1 without a pending round of H carries no injection, and an injection anywhere but at
the head of the block that needs it is rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.modules import NodeLocal, ProposalHooks, VoteExtensionHooks
from abci_app.modules.oracle import injection, keeper
from abci_app.modules.oracle.codec import ExtensionError, decode_extension, encode_extension, pair_ids
from abci_app.modules.oracle.task import TASK
from abci_app.modules.staking import keeper as staking
from abci_app.modules.taskmaster import keeper as taskmaster

log = logging.getLogger("abci_app.oracle")


def _pair_count(ctx: Context) -> int:
    return len(keeper.get_params(ctx).pairs)


def pubkey_lookup(ctx: Context) -> Callable[[bytes], bytes | None]:
    """Consensus address -> the validator's ed25519 key, from staking's records."""

    def lookup(consensus_address: bytes) -> bytes | None:
        operator = staking.operator_of(ctx, consensus_address)
        validator = staking.get_validator(ctx, operator) if operator is not None else None
        return validator.consensus_pubkey if validator is not None else None

    return lookup


def injection_required(ctx: Context) -> bool:
    """Whether the block at ``ctx.height`` must start with the injection of round ``ctx.height - 1``."""
    pending = taskmaster.pending_round(ctx, TASK)
    return pending > 0 and pending == ctx.height - 1


# -- vote extensions -------------------------------------------------------------------------------


def extend(ctx: Context, local: NodeLocal) -> bytes:
    """This node's quotes when a round is due in the block at ``ctx.height``; empty ("no report") else.

    Only a member of the active set reports. No I/O: the quotes come from the price feed's cache.
    """
    if not local.consensus_address or not taskmaster.is_due(ctx, TASK, ctx.time_ns):
        return b""
    if not staking.is_active(ctx, local.consensus_address):
        return b""
    return encode_extension(local.price_source(), pair_ids(keeper.get_params(ctx)))


def verify(ctx: Context, extension: bytes) -> str | None:
    """Decoding, size, known pairs, positive prices; an empty extension is valid ("no report")."""
    try:
        decode_extension(extension, _pair_count(ctx))
    except ExtensionError as exc:
        return str(exc)
    return None


# -- proposals -------------------------------------------------------------------------------------


def prepare(ctx: Context, req: abci.RequestPrepareProposal, local: NodeLocal) -> list[bytes]:
    """The injection of round ``ctx.height - 1`` when one is pending: the local last commit, pruned."""
    if not injection_required(ctx):
        return []
    pruned = injection.prune(
        req.local_last_commit, ctx.height - 1, ctx.chain_id, pubkey_lookup(ctx), _pair_count(ctx)
    )
    return [injection.encode_injection(pruned)]


def injection_problem(ctx: Context, tx: bytes, last_commit: abci.CommitInfo, local: NodeLocal) -> str | None:
    """Why ``tx`` is not a valid injection of round ``ctx.height - 1`` for this block, or None."""
    try:
        pairs = _pair_count(ctx)
        injected = injection.decode_injection(tx, pairs)
        injection.verify(
            injected,
            last_commit,
            ctx.height - 1,
            ctx.chain_id,
            pubkey_lookup(ctx),
            pairs,
            own_address=local.consensus_address,
        )
    except injection.InjectionError as exc:
        return str(exc)
    return None


def check(
    ctx: Context, txs: Sequence[bytes], last_commit: abci.CommitInfo, local: NodeLocal
) -> tuple[int, str | None]:
    """The head of a proposed block: (txs taken, why to reject or None)."""
    if not injection_required(ctx):
        return 0, None
    if not txs:
        return 0, "oracle injection missing"
    return 1, injection_problem(ctx, txs[0], last_commit, local)


# -- the block -------------------------------------------------------------------------------------


def pre_block(ctx: Context, txs: Sequence[bytes]) -> list[abci.ExecTxResult]:
    """Run the pending round on the injection at the head of ``txs``; its result, if it was there.

    A block that needed an injection and has none (only a proposal ProcessProposal would reject)
    runs the round on no reports.
    """
    if not injection_required(ctx):
        return []
    carried = bool(txs) and injection.is_injection(txs[0])
    try:
        injected: abci.ExtendedCommitInfo | None = (
            injection.decode_injection(txs[0], _pair_count(ctx)) if carried else None
        )
    except injection.InjectionError:
        injected = None
    events_before = len(ctx.events)
    taskmaster.run_round(ctx, TASK, injected)
    events = ctx.events[events_before:]
    del ctx.events[events_before:]
    return [abci.ExecTxResult(code=0, log="oracle injection", events=events)] if carried else []


VOTE_EXTENSION = VoteExtensionHooks(extend=extend, verify=verify)
PROPOSAL = ProposalHooks(claims=injection.is_injection, prepare=prepare, check=check)
