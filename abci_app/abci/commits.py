"""CometBFT's two views of a block's last commit, as the ABCI methods receive them."""

from __future__ import annotations

from tendermint.abci import types_pb2 as abci


def last_commit_of(commit: abci.ExtendedCommitInfo) -> abci.CommitInfo:
    """The ``proposed_last_commit`` CometBFT gives ProcessProposal for this extended commit.

    PrepareProposal gets the extended commit (``local_last_commit``); ProcessProposal and
    FinalizeBlock get the same round and votes (validator and block id flag) without the extensions.
    """
    votes = [abci.VoteInfo(validator=v.validator, block_id_flag=v.block_id_flag) for v in commit.votes]
    return abci.CommitInfo(round=commit.round, votes=votes)
