"""The interface between the ABCI socket server and the application it serves.

The server decodes each ``abci.Request`` and calls the application method named after the request's
oneof field (``info``, ``finalize_block``, ...) with the inner request message; the returned response
message is wrapped in an ``abci.Response``. ``echo`` and ``flush`` are connection-level requests that
the server answers itself, so they are not part of the application's interface.

Methods are synchronous and are called on the server's event-loop thread, one request at a time across
all four CometBFT connections, so an implementation needs no locks. A method that raises makes the
server answer ``ResponseException``; CometBFT treats that as fatal for the node.
"""

from __future__ import annotations

from typing import Protocol

from tendermint.abci import types_pb2 as abci


class AbciApplication(Protocol):
    """An ABCI 2.0 application for CometBFT v0.38, as seen by :class:`abci_app.abci.server.AbciServer`."""

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        """Report the last committed height and app hash (handshake and the info connection)."""
        ...

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        """Initialise state from genesis; called once, before the first block."""
        ...

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        """Answer a read-only query against committed state."""
        ...

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        """Validate a transaction for the mempool."""
        ...

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        """Persist the state produced by the last FinalizeBlock."""
        ...

    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        """List the state-sync snapshots this node can serve."""
        ...

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        """Accept or reject a snapshot offered by a peer during state sync."""
        ...

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        """Return one chunk of a local snapshot."""
        ...

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        """Apply one chunk of a snapshot received during state sync."""
        ...

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """Choose the transactions of a block this node proposes."""
        ...

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """Accept or reject a proposed block."""
        ...

    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        """Produce this validator's vote extension for a precommit."""
        ...

    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.ResponseVerifyVoteExtension:
        """Accept or reject another validator's vote extension."""
        ...

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """Execute a decided block: one ExecTxResult per tx, events, validator updates, app hash."""
        ...


class BaseApplication:
    """An :class:`AbciApplication` whose every method returns the default (empty) response.

    Subclass it and override what the application needs. The defaults match CometBFT's Go
    ``BaseApplication``; where an empty response would be invalid they are the minimal valid one:
    ``prepare_proposal`` keeps the proposed transactions (within ``max_tx_bytes``), ``process_proposal``
    and ``verify_vote_extension`` accept, and ``finalize_block`` returns one OK result per transaction.
    """

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        """Report height 0 and an empty app hash, so CometBFT replays from genesis."""
        return abci.ResponseInfo()

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        """Accept genesis as is."""
        return abci.ResponseInitChain()

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        """Answer every query with an empty OK result."""
        return abci.ResponseQuery()

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        """Accept every transaction into the mempool."""
        return abci.ResponseCheckTx()

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        """Persist nothing and retain every block."""
        return abci.ResponseCommit()

    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        """Offer no snapshots."""
        return abci.ResponseListSnapshots()

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        """Answer with result UNKNOWN (state sync unsupported)."""
        return abci.ResponseOfferSnapshot()

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        """Return an empty chunk."""
        return abci.ResponseLoadSnapshotChunk()

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        """Answer with result UNKNOWN (state sync unsupported)."""
        return abci.ResponseApplySnapshotChunk()

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """Propose the mempool's transactions in order, as many as fit in ``max_tx_bytes``."""
        txs: list[bytes] = []
        total = 0
        for tx in req.txs:
            total += len(tx)
            if total > req.max_tx_bytes:
                break
            txs.append(tx)
        return abci.ResponsePrepareProposal(txs=txs)

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """Accept every proposal."""
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        """Extend no vote (empty extension)."""
        return abci.ResponseExtendVote()

    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.ResponseVerifyVoteExtension:
        """Accept every vote extension."""
        return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.ACCEPT)

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """Return one OK result per transaction and an empty app hash."""
        return abci.ResponseFinalizeBlock(tx_results=[abci.ExecTxResult() for _ in req.txs])
