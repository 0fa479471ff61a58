"""The Application: the only place that knows the ABCI call order.

State flow (see docs/abci.md): CheckTx runs decoding and ante checks (no message) on ``check_state``,
a branch of the last committed version reset at every Commit; PrepareProposal and ProcessProposal
filter or check txs on throw-away branches;
FinalizeBlock executes the block on a fresh branch and *stages* it in the multistore, which computes the
app hash without writing; Commit persists the staged version in one RocksDB write batch.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import DecodeError
from tendermint.abci import types_pb2 as abci
from tendermint.crypto import proof_pb2

from abci_app.abci.application import BaseApplication
from abci_app.abci.commits import last_commit_of
from abci_app.abci.framing import encode_uvarint
from abci_app.client import SIMULATE_PATH
from abci_app.context import Context, run_isolated
from abci_app.errors import INTERNAL, AppError, NodeFault
from abci_app.modules import (
    QUERY_INTERNAL,
    QUERY_INVALID,
    QUERY_UNKNOWN_PATH,
    Module,
    NodeLocal,
    ProposalHooks,
)
from abci_app.router import Router, default_router
from abci_app.statesync.manager import (
    META_CHAIN_ID,
    META_INITIAL_HEIGHT,
    Restore,
    SnapshotPolicy,
    Snapshotter,
    judge_offer,
)
from abci_app.statesync.snapshots import SnapshotStore
from abci_app.store import Branch, MultiStore
from abci_app.store.errors import StoreError
from abci_app.store.gcpolicy import settle_after_commit
from abci_app.store.limits import StoreLimits
from abci_app.tx import service as tx_service
from abci_app.tx.ante import SignatureCache
from abci_app.tx.runner import TxOutcome, execute_tx, run_check_tx, run_simulation
from abci_app.version import APP_VERSION

log = logging.getLogger("abci_app.app")


MAX_QUERY_PATH = 256
"""Longest ABCI query path accepted (bytes of UTF-8)."""
MAX_QUERY_DATA = 64 * 1024
"""Largest ABCI query ``data`` accepted: a store key or a module request message."""
SIMULATE_GAS_LIMIT = 3_000_000
"""Default of the most gas a ``/app/simulate`` tx may ask for (node setting ``simulate_gas_limit``).
Simulation is free, so its work is bounded by this instead of by a fee: a few milliseconds at the
slowest rates the handlers spend gas (docs/security.md); a bank send needs about 30,000 gas."""

Req = TypeVar("Req")
Resp = TypeVar("Resp")
App = TypeVar("App", bound="Application")


def _answers_on_error(
    fallback: Callable[[Req, Exception], Resp],
) -> Callable[[Callable[[App, Req], Resp]], Callable[[App, Req], Resp]]:
    """Make an ABCI method answer ``fallback(request, error)`` instead of raising.

    CometBFT stops the node on any ResponseException, so no exception may leave CheckTx, Query, the
    proposal and the vote-extension methods: a bug or an input nobody foresaw gets a logged, safe
    answer (an error code, a rejection, an empty extension). Expected failures are handled inside the
    methods; this is the last line. A :class:`NodeFault` (this machine failed) gets the same safe
    answer here. InitChain (a broken genesis must stop the chain), FinalizeBlock (guarded per tx, task
    and block hook inside; a NodeFault passes those guards and stops the node, see errors.py), Commit
    and Info (a failing disk must stop the node) are not wrapped.
    """

    def wrap(method: Callable[[App, Req], Resp]) -> Callable[[App, Req], Resp]:
        def guarded(self: App, req: Req) -> Resp:
            try:
                return method(self, req)
            except Exception as exc:
                log.exception("%s raised; answering with a safe default", method.__name__)
                return fallback(req, exc)
            except NodeFault as fault:  # node-local answers: refuse, do not stop the node
                log.error("%s hit a node fault (%s); answering with a safe default", method.__name__, fault)
                return fallback(req, RuntimeError(f"node fault: {fault}"))

        guarded.__name__ = method.__name__
        guarded.__doc__ = method.__doc__
        return guarded

    return wrap


def _check_tx_error(req: abci.RequestCheckTx, exc: Exception) -> abci.ResponseCheckTx:
    err = INTERNAL(f"check failed unexpectedly ({type(exc).__name__}); the node logged the cause")
    return abci.ResponseCheckTx(code=err.code, codespace=err.codespace, log=err.log)


def _query_error(req: abci.RequestQuery, exc: Exception) -> abci.ResponseQuery:
    err = QUERY_INTERNAL(f"query failed unexpectedly ({type(exc).__name__}); the node logged the cause")
    return abci.ResponseQuery(code=err.code, codespace=err.codespace, log=err.log)


def _empty_proposal(req: abci.RequestPrepareProposal, exc: Exception) -> abci.ResponsePrepareProposal:
    return abci.ResponsePrepareProposal()  # validators reject it if an injection was due: next round


def _reject_proposal(req: abci.RequestProcessProposal, exc: Exception) -> abci.ResponseProcessProposal:
    return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)


def _no_extension(req: abci.RequestExtendVote, exc: Exception) -> abci.ResponseExtendVote:
    return abci.ResponseExtendVote()  # "no report" is always a valid extension


def _no_snapshots(req: abci.RequestListSnapshots, exc: Exception) -> abci.ResponseListSnapshots:
    return abci.ResponseListSnapshots()


def _no_chunk(req: abci.RequestLoadSnapshotChunk, exc: Exception) -> abci.ResponseLoadSnapshotChunk:
    return abci.ResponseLoadSnapshotChunk()


def _reject_extension(
    req: abci.RequestVerifyVoteExtension, exc: Exception
) -> abci.ResponseVerifyVoteExtension:
    return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.REJECT)


@dataclass(frozen=True)
class AppConfig:
    """Node-local settings of the application (not consensus-critical)."""

    db_path: str
    keep_recent: int = 0  # store versions kept; 0 keeps every version
    keep_every: int = 0
    min_retain_blocks: int = 0  # CometBFT blocks kept (retain_height); 0 keeps every block
    consensus_address: bytes = b""  # this node's validator address (vote extensions), empty if none
    snapshot_dir: str = ""  # where snapshots are kept and served from; empty: none
    snapshots: SnapshotPolicy = field(default_factory=SnapshotPolicy)
    chain_id: str = ""  # the chain id of this node's genesis (checked against offered snapshots)
    data_dir: str = ""  # the node's data directory (<home>/data): modules' node-local files; empty: none
    simulate_gas_limit: int = 0  # most gas a /app/simulate tx may ask for; 0: SIMULATE_GAS_LIMIT
    store_limits: StoreLimits = field(default_factory=StoreLimits)  # the store's cache bounds


def _proto_size(raw: bytes) -> int:
    """Bytes ``raw`` takes inside a block's Data (field tag, varint length, bytes)."""
    return 1 + len(encode_uvarint(len(raw))) + len(raw)


FAILPOINT_ENV = "TASKMASTER_FAILPOINT"


def _failpoint(name: str, height: int) -> None:
    """Crash-testing hook: ``TASKMASTER_FAILPOINT=<name>:<height>`` makes this process SIGKILL itself there.

    Used by the integration tests to kill the application between FinalizeBlock and Commit, the moment
    CometBFT's handshake must replay a block it has but the application never committed.
    """
    if os.environ.get(FAILPOINT_ENV) == f"{name}:{height}":
        log.error("failpoint %s at height %d: killing this process", name, height)
        os.kill(os.getpid(), signal.SIGKILL)


def _commit_key(commit: abci.CommitInfo | abci.ExtendedCommitInfo) -> tuple[object, ...]:
    """The parts of a last commit that an injection must match: round and (validator, power, flag)."""
    votes = tuple((v.validator.address, v.validator.power, v.block_id_flag) for v in commit.votes)
    return (commit.round, votes)


class Application(BaseApplication):
    """The Taskmaster chain's ABCI 2.0 application."""

    def __init__(self, config: AppConfig, router: Router | None = None) -> None:
        self.config = config
        self.router = router if router is not None else default_router()
        self.local = NodeLocal(consensus_address=config.consensus_address)
        self.store = MultiStore.open(config.db_path, self.router.store_names, limits=config.store_limits)
        self.sigs = SignatureCache()
        self.chain_id = (self.store.get_meta(META_CHAIN_ID) or b"").decode()
        raw_initial = self.store.get_meta(META_INITIAL_HEIGHT)
        self.initial_height = int(raw_initial.decode()) if raw_initial else 1
        self.genesis_changes: dict[str, dict[bytes, bytes | None]] | None = None
        self.staged_height = 0
        self._proposal_height = 0  # height of the last proposal prepared or processed
        self.check_state = self._block_branch()
        self.on_commit: Callable[[int, bytes], None] | None = None  # e.g. print a line per block
        # node-local followers of committed state (the price feed); told after on_commit, never raise
        self.commit_listeners: list[Callable[[int, bytes], None]] = []
        # what this node last proposed: (height, base version, last commit, txs)
        self._own_proposal: tuple[int, int, tuple[object, ...], tuple[bytes, ...]] | None = None
        self.snapshots = SnapshotStore(Path(config.snapshot_dir)) if config.snapshot_dir else None
        self.snapshotter = (
            Snapshotter(self.store, self.snapshots, config.snapshots) if self.snapshots is not None else None
        )
        self.restore: Restore | None = None  # the snapshot being applied (state sync)
        if config.data_dir:  # node-local files (the wasm module's compiled code), never consensus input
            for module in self.router.modules:
                if module.use_data_dir is not None:
                    module.use_data_dir(Path(config.data_dir))

    @property
    def price_source(self) -> Callable[[], Mapping[str, int]]:
        """This node's fresh quotes by pair id (node-local; read by the oracle's vote extension)."""
        return self.local.price_source

    @price_source.setter
    def price_source(self, source: Callable[[], Mapping[str, int]]) -> None:
        self.local.price_source = source

    # -- state bases -------------------------------------------------------------------------------

    def _block_branch(self) -> Branch:
        """A fresh branch over the last committed version, plus genesis writes before the first block."""
        branch = self.store.branch()
        if self.genesis_changes is not None:
            for name, changes in self.genesis_changes.items():
                kv = branch.store(name)
                for key, value in changes.items():
                    if value is None:
                        kv.delete(key)
                    else:
                        kv.set(key, value)
        return branch

    def _context(self, branch: Branch, height: int, time_ns: int = 0, proposer: bytes = b"") -> Context:
        return Context(
            branch=branch,
            chain_id=self.chain_id,
            height=height,
            time_ns=time_ns,
            proposer=proposer,
            routes=self.router.msgs,
            blocked_recipients=self.router.module_accounts,
        )

    # -- info and genesis --------------------------------------------------------------------------

    def info(self, req: abci.RequestInfo) -> abci.ResponseInfo:
        """Last committed height and app hash, so CometBFT's handshake replays what we lack."""
        height = self.store.last_version
        return abci.ResponseInfo(
            data="taskmaster",
            version="0.1.0",
            app_version=APP_VERSION,
            last_block_height=height,
            last_block_app_hash=self.store.last_app_hash if height > 0 else b"",
        )

    def init_chain(self, req: abci.RequestInitChain) -> abci.ResponseInitChain:
        """Run every module's genesis on a branch, check every invariant, and stage it.

        Staging makes the app hash of height 1 known. A genesis that breaks an invariant (e.g. task
        bonds not held by the tasks module account) is refused with a message naming it.
        """
        if self.store.last_version > 0:
            raise RuntimeError(f"InitChain on a store already at height {self.store.last_version}")
        self.chain_id = req.chain_id
        self.initial_height = max(req.initial_height, 1)
        app_state = json.loads(req.app_state_bytes or b"{}")
        branch = self.store.branch()
        ctx = self._context(branch, self.initial_height, req.time.ToNanoseconds())
        validators: list[abci.ValidatorUpdate] = []
        for module in self.router.modules:
            if module.init_genesis is not None:
                validators += module.init_genesis(ctx, app_state.get(module.name, {})) or []
        try:
            self.router.check_invariants(ctx)
        except AssertionError as exc:
            raise ValueError(f"genesis app_state breaks a {exc}") from exc
        self.genesis_changes = branch.changes()
        app_hash = self.store.stage(branch, self.initial_height)
        self.check_state = self._block_branch()
        log.info("genesis of %s: %d validators, app hash %s", self.chain_id, len(validators), app_hash.hex())
        response = abci.ResponseInitChain(validators=validators, app_hash=app_hash)
        if req.consensus_params.version.app != APP_VERSION:
            # keep the consensus params' app version equal to the one Info reports and block headers
            # carry (`cometbft rollback` rebuilds the state's version from the params)
            response.consensus_params.version.app = APP_VERSION
        return response

    # -- mempool -----------------------------------------------------------------------------------

    @_answers_on_error(_check_tx_error)
    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        """Decode ``req.tx`` and run its ante checks on the check state, keeping their effects.

        As in the Cosmos SDK, CheckTx runs no message handler: decoding, each message's constant-time
        check and the ante checks (signature, sequence, fee, gas limit) cost a small bound whatever the
        tx holds, and the messages run only in a block, where a failing tx still pays its fee. The fee
        and the sequence stay on the check state, so a sender's next tx (next sequence) is accepted
        and its fees cannot pass its balance. RECHECK (after each block, for the txs still in the
        mempool) does the same against the new state. See docs/security.md.
        """
        ctx = self._context(self.check_state, self._check_height(req))
        ctx.record_events = False
        ctx.speculative = True
        return run_check_tx(ctx, req.tx, self.router, self.sigs).check_result()

    def _check_height(self, req: abci.RequestCheckTx) -> int:
        """The height CheckTx judges a tx at: the earliest block it can still land in.

        Normally that is the next block. But CometBFT calls CheckTx between a block's proposal and its
        Commit too (the mempool is locked only during Commit), and a new tx arriving then can land one
        block later at the earliest; judging it at the next block would accept a tx (a task starting
        at that block, say) that RECHECK then drops unseen. RECHECK runs after Commit and judges at the
        next block.
        """
        height = self._next_height()
        if req.type == abci.NEW and max(self.staged_height, self._proposal_height) >= height:
            height += 1
        return height

    def _next_height(self) -> int:
        """The height of the next block to commit (the initial height before the first)."""
        return max(self.store.last_version + 1, self.initial_height)

    # -- proposals ---------------------------------------------------------------------------------

    def _ante_filter(self, txs: Sequence[bytes], height: int, limit: int | None) -> tuple[list[bytes], int]:
        """Txs (in order) that pass decoding and ante checks in sequence; the index of the first failure."""
        ctx = self._context(self._block_branch(), height)
        kept: list[bytes] = []
        first_bad = -1
        total = 0
        for i, raw in enumerate(txs):
            size = _proto_size(raw)
            if limit is not None and total + size > limit:
                continue
            outcome = execute_tx(ctx, raw, self.router, self.sigs, run_messages=False)
            if outcome.ante_passed:
                kept.append(raw)
                total += size
            elif first_bad < 0:
                first_bad = i
                if limit is None:
                    break
        return kept, first_bad

    def _proposers(self) -> list[tuple[str, ProposalHooks]]:
        return [(m.name, m.proposal) for m in self.router.modules if m.proposal is not None]

    def _claimed(self, tx: bytes) -> str | None:
        """The module whose own kind of tx ``tx`` is (never a mempool tx), or None."""
        return next((name for name, hooks in self._proposers() if hooks.claims(tx)), None)

    def _head_problem(
        self, ctx: Context, txs: Sequence[bytes], last_commit: abci.CommitInfo
    ) -> tuple[int, str | None]:
        """Check the modules' txs at the head of a block: (how many they take, why to reject or None).

        A module's tx found anywhere after the head is a reason to reject as well.
        """
        taken = 0
        for name, hooks in self._proposers():
            count, problem = hooks.check(ctx, txs[taken:], last_commit, self.local)
            if problem is not None:
                return taken, f"{name}: {problem}"
            taken += count
        misplaced = next((i for i in range(taken, len(txs)) if self._claimed(txs[i])), None)
        if misplaced is not None:
            return taken, f"tx {misplaced} is a misplaced or duplicated {self._claimed(txs[misplaced])} tx"
        return taken, None

    @_answers_on_error(_empty_proposal)
    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """The modules' own txs first (the oracle's injection), then mempool txs passing ante checks."""
        self._proposal_height = req.height
        ctx = self._context(self._block_branch(), req.height)
        head: list[bytes] = []
        for _, hooks in self._proposers():
            head += hooks.prepare(ctx, req, self.local)
        budget = req.max_tx_bytes - sum(_proto_size(tx) for tx in head)
        user = [tx for tx in req.txs if self._claimed(tx) is None]
        kept, _ = self._ante_filter(user, req.height, budget)
        # ProcessProposal may skip its checks for this exact block only if they would accept it: the
        # txs passed them here in sequence; the head is checked here as ProcessProposal would (an
        # injection's backing and this validator's own vote depend on what CometBFT handed over)
        _, problem = self._head_problem(ctx, head, last_commit_of(req.local_last_commit))
        if problem is not None:
            log.warning("proposing at height %d a block validators may reject: %s", req.height, problem)
        self._own_proposal = (
            None
            if problem is not None
            else (req.height, self.store.last_version, _commit_key(req.local_last_commit), tuple(head + kept))
        )
        return abci.ResponsePrepareProposal(txs=head + kept)

    @_answers_on_error(_reject_proposal)
    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """Reject a block whose head the modules refuse (a missing or invalid injection), or whose txs
        fail ante checks."""
        self._proposal_height = req.height
        reject = abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
        own = (req.height, self.store.last_version, _commit_key(req.proposed_last_commit), tuple(req.txs))
        if self._own_proposal == own:
            # exactly what this node's PrepareProposal built and checked on the same committed state
            return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)
        ctx = self._context(self._block_branch(), req.height)
        taken, problem = self._head_problem(ctx, req.txs, req.proposed_last_commit)
        if problem is not None:
            log.warning("rejecting proposal at height %d: %s", req.height, problem)
            return reject
        _, first_bad = self._ante_filter(req.txs[taken:], req.height, None)
        if first_bad >= 0:
            log.warning("rejecting proposal at height %d: tx %d is invalid", req.height, taken + first_bad)
            return reject
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    # -- vote extensions ---------------------------------------------------------------------------

    @_answers_on_error(_no_extension)
    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        """The vote-extension module's extension for this height (the oracle's quotes); no I/O."""
        hooks = self.router.vote_extension
        if hooks is None or not self.local.consensus_address:
            return abci.ResponseExtendVote()
        ctx = self._context(self._block_branch(), req.height, req.time.ToNanoseconds())
        return abci.ResponseExtendVote(vote_extension=hooks.extend(ctx, self.local))

    @_answers_on_error(_reject_extension)
    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.ResponseVerifyVoteExtension:
        """The vote-extension module's check; an empty extension is always valid ("no report")."""
        hooks = self.router.vote_extension
        ctx = self._context(self._block_branch(), req.height)
        if hooks is not None:
            problem = hooks.verify(ctx, req.vote_extension)
        else:
            problem = "no module extends votes on this chain" if req.vote_extension else None
        if problem is not None:
            log.warning(
                "rejecting vote extension of %s at height %d: %s",
                req.validator_address.hex(),
                req.height,
                problem,
            )
            return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.REJECT)
        return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.ACCEPT)

    # -- blocks ------------------------------------------------------------------------------------

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """Execute a decided block; stage the result and return its app hash.

        1. pre-block: each module takes its own txs at the block's head (the oracle runs its round
           on the injection) and gives their results;
        2. begin-block hooks;
        3. the users' txs, each on its own branch;
        4. end-block hooks in the router's end-block order; their validator updates go to CometBFT.

        Every hook runs isolated: one that raises changes nothing and the block goes on.
        """
        branch = self._block_branch()
        ctx = self._context(branch, req.height, req.time.ToNanoseconds(), req.proposer_address)
        txs = list(req.txs)
        results: list[abci.ExecTxResult] = []
        for module in self.router.modules:
            if module.pre_block is not None:
                taken = self._pre_block(ctx, module, txs)
                results += taken
                txs = txs[len(taken) :]
        for module in self.router.modules:
            if module.begin_block is not None:
                run_isolated(ctx, f"{module.name} begin block", module.begin_block)
        outcomes = [execute_tx(ctx, raw, self.router, self.sigs) for raw in txs]
        updates: list[abci.ValidatorUpdate] = []
        for module in self.router.end_blockers:
            assert module.end_block is not None
            changed = run_isolated(ctx, f"{module.name} end block", module.end_block)
            updates += changed or ()
        app_hash = self.store.stage(branch, req.height)
        self.staged_height = req.height
        response = abci.ResponseFinalizeBlock(
            events=ctx.events, tx_results=results, validator_updates=updates, app_hash=app_hash
        )
        add = response.tx_results.add
        for o in outcomes:  # built in place: each tx's events are copied once, not twice
            add(
                code=o.code,
                codespace=o.codespace,
                log=o.log,
                data=o.data,
                gas_wanted=o.gas_wanted,
                gas_used=o.gas_used,
                events=o.events,
            )
        return response

    @staticmethod
    def _pre_block(ctx: Context, module: Module, txs: Sequence[bytes]) -> list[abci.ExecTxResult]:
        """A module's pre-block results; if it raises, each of its txs at the head gets INTERNAL."""
        assert module.pre_block is not None
        pre_block = module.pre_block
        results = run_isolated(ctx, f"{module.name} pre-block", lambda c: pre_block(c, txs))
        if results is not None:
            return results
        claims = module.proposal.claims if module.proposal is not None else (lambda tx: False)
        failed = INTERNAL(f"the {module.name} pre-block step failed; the node logged the cause")
        count = next((i for i, tx in enumerate(txs) if not claims(tx)), len(txs))
        return [abci.ExecTxResult(code=failed.code, codespace=failed.codespace) for _ in range(count)]

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        """Persist the staged block atomically; reset the check state; prune; tell CometBFT what to keep."""
        _failpoint("before-commit", self.staged_height)
        result = self.store.commit(
            {META_CHAIN_ID: self.chain_id.encode(), META_INITIAL_HEIGHT: str(self.initial_height).encode()}
        )
        self.genesis_changes = None
        self.check_state = self._block_branch()
        self.sigs.end_block()
        if self.config.keep_recent:
            self.store.prune(self.config.keep_recent, self.config.keep_every)
        settle_after_commit()  # no multi-second full GC pauses over a large resident tree
        if self.snapshotter is not None:
            self.snapshotter.after_commit(result.version, self.chain_id, self.initial_height)
        if self.on_commit is not None:
            self.on_commit(result.version, result.app_hash)
        for listener in self.commit_listeners:
            try:
                listener(result.version, result.app_hash)
            except Exception:  # a node-local follower must never fail a commit
                log.exception("commit listener %r failed at height %d", listener, result.version)
        retain = 0
        if self.config.min_retain_blocks:
            retain = max(0, result.version - self.config.min_retain_blocks + 1)
        return abci.ResponseCommit(retain_height=retain)

    # -- queries -----------------------------------------------------------------------------------

    @_answers_on_error(_query_error)
    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        """``/store/<name>/key`` (raw key, optional proof) or a module query path with a protobuf request.

        ``height`` 0 means the latest committed version; a negative height, one above the latest, a
        path over :data:`MAX_QUERY_PATH` or data over :data:`MAX_QUERY_DATA` bytes is an invalid query.
        """
        latest = self.store.last_version
        try:
            version = self.query_version(req.height)
            if req.path == SIMULATE_PATH:
                return self._simulate(req.data)
            if req.path == tx_service.SIMULATE_PATH:
                return self._service_simulate(req.data)
            if len(req.path.encode()) > MAX_QUERY_PATH or len(req.data) > MAX_QUERY_DATA:
                raise QUERY_INVALID(
                    f"query path ({len(req.path.encode())} bytes) or data ({len(req.data)} bytes) is too "
                    f"long; the limits are {MAX_QUERY_PATH} and {MAX_QUERY_DATA} bytes"
                )
            if req.path.startswith("/store/"):
                return self._query_store(req, version)
            route = self.router.queries.get(req.path)
            if route is None:
                raise QUERY_UNKNOWN_PATH(
                    f"no query at {req.path!r}; use /store/<store>/key or one of "
                    f"{sorted(self.router.queries)}"
                )
            try:
                request = route.request_type.FromString(req.data)
            except (DecodeError, RecursionError) as exc:
                raise QUERY_INVALID(
                    f"data is not a {route.request_type.DESCRIPTOR.full_name}: {exc}"
                ) from exc
            ctx = self._context(self.store.branch(version), version)
            response = route.handler(ctx, request)
            return abci.ResponseQuery(value=response.SerializeToString(deterministic=True), height=version)
        except AppError as err:
            return abci.ResponseQuery(code=err.code, codespace=err.codespace, log=err.log, height=latest)
        except StoreError as err:
            return abci.ResponseQuery(
                code=QUERY_INVALID.code, codespace=QUERY_INVALID.codespace, log=str(err), height=latest
            )

    def _simulate(self, raw: bytes) -> abci.ResponseQuery:
        """``/app/simulate``: run tx ``raw`` with its messages on a throw-away branch of the check state.

        The answer's code, codespace and log are the tx's; ``value`` is its ExecTxResult (gas wanted and
        used). Nothing changes: unlike CometBFT's ``check_tx`` RPC, which runs a real CheckTx, so a
        passing tx would advance its sender's sequence in the mempool's state. Nobody pays for a
        simulation, so a tx asking for more than the node's simulate gas limit is refused before its
        ante checks, and an upload is validated but not compiled (``Context.speculative``).
        """
        result = self.simulation(raw).exec_result()
        return abci.ResponseQuery(
            code=result.code,
            codespace=result.codespace,
            log=result.log,
            value=result.SerializeToString(deterministic=True),
            height=self.store.last_version,
        )

    def simulation(self, raw: bytes, events: bool = False) -> TxOutcome:
        """Run tx ``raw`` with its messages on a throw-away branch of the check state (see
        :meth:`_simulate`); ``events``: record the tx's events (the tx service answers them)."""
        ctx = self._context(self.check_state.branch(), self._next_height())
        ctx.record_events = events
        ctx.speculative = True
        cap = self.config.simulate_gas_limit or SIMULATE_GAS_LIMIT
        try:
            return run_simulation(ctx, raw, self.router, self.sigs, cap)
        finally:
            ctx.branch.discard()

    def _service_simulate(self, data: bytes) -> abci.ResponseQuery:
        """``/cosmos.tx.v1beta1.Service/Simulate`` over abci_query (abci_app/tx/service.py)."""
        try:
            request = tx_service.parse_request(data)
            response = tx_service.simulate(request, lambda raw: self.simulation(raw, events=True))
        except tx_service.SimulationFailed as failed:
            o = failed.outcome
            return abci.ResponseQuery(
                code=o.code, codespace=o.codespace, log=o.log, height=self.store.last_version
            )
        return abci.ResponseQuery(
            value=response.SerializeToString(deterministic=True), height=self.store.last_version
        )

    def query_version(self, height: int) -> int:
        """The committed version a query at ``height`` reads (0 = latest); QUERY_INVALID if there is none."""
        latest = self.store.last_version
        if not 0 <= height <= latest:
            raise QUERY_INVALID(
                f"height {height} is not committed; use 0 (latest) or a height from 1 to {latest}"
            )
        return height or latest

    def _query_store(self, req: abci.RequestQuery, version: int) -> abci.ResponseQuery:
        parts = req.path.split("/")
        if len(parts) != 4 or parts[3] != "key" or parts[2] not in self.router.store_names:
            raise QUERY_UNKNOWN_PATH(
                f"store query path must be /store/<store>/key with store in {list(self.router.store_names)}"
            )
        result = self.store.query(parts[2], req.data, version, prove=req.prove)
        ops = [proof_pb2.ProofOp(type=op.type, key=op.key, data=op.data) for op in result.proof_ops]
        return abci.ResponseQuery(
            key=req.data,
            value=result.value or b"",
            height=result.version,
            proof_ops=proof_pb2.ProofOps(ops=ops) if ops else None,
        )

    # -- state sync ---------------------------------------------------------------------------------

    @_answers_on_error(_no_snapshots)
    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.ResponseListSnapshots:
        """The snapshots this node keeps, newest first (CometBFT offers peers the first ten)."""
        listed = self.snapshots.listed() if self.snapshots is not None else []
        return abci.ResponseListSnapshots(
            snapshots=[
                abci.Snapshot(
                    height=s.height, format=s.format, chunks=s.chunks, hash=s.hash, metadata=s.metadata
                )
                for s in listed
            ]
        )

    @_answers_on_error(_no_chunk)
    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.ResponseLoadSnapshotChunk:
        """Chunk ``chunk`` of a kept snapshot; empty when there is no such snapshot or chunk."""
        if self.snapshots is None:
            return abci.ResponseLoadSnapshotChunk()
        chunk = self.snapshots.load_chunk(req.height, req.format, req.chunk)
        return abci.ResponseLoadSnapshotChunk(chunk=chunk or b"")

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.ResponseOfferSnapshot:
        """Accept a snapshot to restore from, or say why not (see statesync.manager.judge_offer)."""
        R = abci.ResponseOfferSnapshot
        try:
            self._abandon_restore()
            snap = req.snapshot
            decision = judge_offer(
                self.store,
                snap.height,
                snap.format,
                snap.chunks,
                snap.metadata,
                req.app_hash,
                self.config.chain_id,
            )
            if decision.meta is None:
                level = logging.ERROR if decision.result.name == "ABORT" else logging.WARNING
                log.log(
                    level,
                    "state sync: snapshot of height %d refused (%s): %s",
                    snap.height,
                    decision.result.name,
                    decision.reason,
                )
                return R(result=getattr(R, decision.result.name))
            self.restore = Restore(self.store, snap.height, snap.hash, decision.meta, req.app_hash)
            log.info("state sync: restoring the snapshot of height %d (%d chunks)", snap.height, snap.chunks)
            return R(result=R.ACCEPT)
        except Exception:
            log.exception("state sync: OfferSnapshot failed; aborting state sync")
            self._abandon_restore()
            return R(result=R.ABORT)

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.ResponseApplySnapshotChunk:
        """Import one chunk of the accepted snapshot (statesync.manager.Restore.apply)."""
        R = abci.ResponseApplySnapshotChunk
        restore = self.restore
        if restore is None:
            log.error("state sync: chunk %d applied with no accepted snapshot", req.index)
            return R(result=R.ABORT)
        try:
            outcome = restore.apply(req.index, req.chunk, req.sender)
        except Exception:
            log.exception("state sync: applying chunk %d failed; the store is reset", req.index)
            self._abandon_restore()
            return R(result=R.ABORT)
        if outcome.result.name != "ACCEPT":
            log.warning(
                "state sync: chunk %d refused (%s), sent by peer %s: %s",
                req.index,
                outcome.result.name,
                req.sender or "-",
                outcome.reason,
            )
        else:
            log.info(
                "state sync: chunk %d applied (%d of %d)", req.index, req.index + 1, restore.reader.chunks
            )
        if outcome.result.name in ("REJECT_SNAPSHOT", "RETRY_SNAPSHOT", "ABORT"):
            self.restore = None
        if outcome.done:
            self._restored(restore)
        return R(
            result=getattr(R, outcome.result.name),
            refetch_chunks=list(outcome.refetch),
            reject_senders=list(outcome.reject_senders),
        )

    def _restored(self, restore: Restore) -> None:
        """The snapshot is committed: take the chain id and initial height it carries, reset state bases."""
        self.restore = None
        self.chain_id = restore.meta.chain_id
        self.initial_height = restore.meta.initial_height
        self.genesis_changes = None
        self.check_state = self._block_branch()
        log.info(
            "state sync: restored height %d, app hash %s, in %.1fs",
            self.store.last_version,
            self.store.last_app_hash.hex(),
            time.monotonic() - restore.started,
        )

    def _abandon_restore(self) -> None:
        """Drop a restore in progress (a new offer, a failure): the store is empty again."""
        restore, self.restore = self.restore, None
        if restore is not None:
            restore.fail()

    def close(self) -> None:
        """Stop a snapshot being written, then close the store."""
        if self.snapshotter is not None:
            self.snapshotter.close()
        self.store.close()
