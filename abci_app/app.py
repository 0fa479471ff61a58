"""The Application: the only place that knows the ABCI call order.

State flow (see docs/abci.md): CheckTx runs on ``check_state``, a branch of the last committed version
reset at every Commit; PrepareProposal and ProcessProposal filter or check txs on throw-away branches;
FinalizeBlock executes the block on a fresh branch and *stages* it in the multistore, which computes the
app hash without writing; Commit persists the staged version in one RocksDB write batch.
"""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError
from tendermint.abci import types_pb2 as abci
from tendermint.crypto import proof_pb2

from abci_app.abci.application import BaseApplication
from abci_app.abci.framing import encode_uvarint
from abci_app.client import SIMULATE_PATH
from abci_app.context import Context
from abci_app.errors import INTERNAL, AppError
from abci_app.modules import QUERY_INTERNAL, QUERY_INVALID, QUERY_UNKNOWN_PATH, Module
from abci_app.modules.bank import keeper as bank
from abci_app.modules.oracle import injection
from abci_app.modules.oracle import keeper as oracle
from abci_app.modules.oracle.codec import ExtensionError, decode_extension, encode_extension, pair_ids
from abci_app.modules.staking import keeper as staking
from abci_app.modules.taskmaster import keeper as taskmaster
from abci_app.modules.taskmaster.registry import BUILTIN_TASKS, task_by_name
from abci_app.router import Router, default_modules
from abci_app.store import Branch, MultiStore
from abci_app.store.errors import StoreError
from abci_app.store.gcpolicy import settle_after_commit
from abci_app.tx.address import to_bech32
from abci_app.tx.ante import FEE_COLLECTOR, SignatureCache
from abci_app.tx.runner import execute_tx
from abci_app.version import APP_VERSION

log = logging.getLogger("abci_app.app")

META_CHAIN_ID = b"chain_id"
META_INITIAL_HEIGHT = b"initial_height"

MAX_QUERY_PATH = 256
"""Longest ABCI query path accepted (bytes of UTF-8)."""
MAX_QUERY_DATA = 64 * 1024
"""Largest ABCI query ``data`` accepted: a store key or a module request message."""

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
    methods; this is the last line. InitChain (a broken genesis must stop the chain), FinalizeBlock
    (guarded per tx, task and block hook inside), Commit and Info (a failing disk must stop the node)
    are not wrapped.
    """

    def wrap(method: Callable[[App, Req], Resp]) -> Callable[[App, Req], Resp]:
        def guarded(self: App, req: Req) -> Resp:
            try:
                return method(self, req)
            except Exception as exc:
                log.exception("%s raised; answering with a safe default", method.__name__)
                return fallback(req, exc)

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


T = TypeVar("T")


def _block_step(ctx: Context, name: str, step: Callable[[Context], T]) -> T | None:
    """Run one block-level step of FinalizeBlock on a child branch; a step that raises changes nothing.

    Keeps a bug in one module's block logic from stopping every node: the step's writes and events are
    dropped, a ``block_step_failed`` event names the step, and the block goes on. The outcome depends
    only on the block and the state, so every node drops the same step.
    """
    child = ctx.child()
    try:
        value = step(child)
    except Exception as exc:
        log.exception("block step %r raised at height %d; its changes are discarded", name, ctx.height)
        child.branch.discard()
        ctx.emit("block_step_failed", step=name, error=type(exc).__name__)
        return None
    child.branch.write()
    ctx.events.extend(child.events)
    return value


def _open_rounds(ctx: Context) -> None:
    taskmaster.open_rounds(ctx, BUILTIN_TASKS, ctx.time_ns)


def _commit_key(commit: abci.CommitInfo | abci.ExtendedCommitInfo) -> tuple[object, ...]:
    """The parts of a last commit that an injection must match: round and (validator, power, flag)."""
    votes = tuple((v.validator.address, v.validator.power, v.block_id_flag) for v in commit.votes)
    return (commit.round, votes)


class Application(BaseApplication):
    """The Taskmaster chain's ABCI 2.0 application."""

    def __init__(self, config: AppConfig, modules: Sequence[Module] | None = None) -> None:
        self.config = config
        self.router = Router(modules if modules is not None else default_modules())
        self.store = MultiStore.open(config.db_path, self.router.store_names)
        self.sigs = SignatureCache()
        self.chain_id = (self.store.get_meta(META_CHAIN_ID) or b"").decode()
        raw_initial = self.store.get_meta(META_INITIAL_HEIGHT)
        self.initial_height = int(raw_initial.decode()) if raw_initial else 1
        self.genesis_changes: dict[str, dict[bytes, bytes | None]] | None = None
        self.staged_height = 0
        self._proposal_height = 0  # height of the last proposal prepared or processed
        self.check_state = self._block_branch()
        self.price_source: Callable[[], dict[str, int]] = dict  # fresh quotes by pair id (node-local)
        self.oracle_task = task_by_name("oracle")
        self.on_commit: Callable[[int, bytes], None] | None = None  # e.g. print a line per block
        # what this node last proposed: (height, base version, last commit, txs)
        self._own_proposal: tuple[int, int, tuple[object, ...], tuple[bytes, ...]] | None = None

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
        for module in self.router.modules:
            if module.init_genesis is not None:
                module.init_genesis(ctx, app_state.get(module.name, {}))
        try:
            self.router.check_invariants(ctx)
        except AssertionError as exc:
            raise ValueError(f"genesis app_state breaks a {exc}") from exc
        validators = staking.pop_validator_updates(ctx)
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
        """Validate and apply ``req.tx`` on the check state, messages included.

        Running the messages refuses insufficient funds and the like before they reach a block, and
        keeps message-level state (task nonces, bonds) advancing in the check state, so a wallet can
        queue several txs that depend on each other. RECHECK (after each block, for the txs still in
        the mempool) does the same against the new state.
        """
        ctx = self._context(self.check_state, self._check_height(req))
        ctx.record_events = False
        outcome = execute_tx(ctx, req.tx, self.router, self.sigs, keep_fee_on_failure=False)
        return outcome.check_result()

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

    def _pubkey_of(self, ctx: Context) -> Callable[[bytes], bytes | None]:
        def lookup(consensus_address: bytes) -> bytes | None:
            operator = staking.operator_of(ctx, consensus_address)
            validator = staking.get_validator(ctx, operator) if operator is not None else None
            return validator.consensus_pubkey if validator is not None else None

        return lookup

    def _injection_required(self, ctx: Context, height: int) -> bool:
        """Whether the block at ``height`` must start with the oracle injection of round ``height - 1``."""
        if self.oracle_task is None:
            return False
        pending = taskmaster.pending_round(ctx, self.oracle_task)
        return pending > 0 and pending == height - 1

    @_answers_on_error(_empty_proposal)
    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """Oracle injection first when a round is pending, then mempool txs passing ante checks, in order."""
        self._proposal_height = req.height
        ctx = self._context(self._block_branch(), req.height)
        budget = req.max_tx_bytes
        head: list[bytes] = []
        if self._injection_required(ctx, req.height):
            pairs = len(oracle.get_params(ctx).pairs)
            pruned = injection.prune(
                req.local_last_commit, req.height - 1, self.chain_id, self._pubkey_of(ctx), pairs
            )
            head = [injection.encode_injection(pruned)]
            budget -= _proto_size(head[0])
        user = [tx for tx in req.txs if not injection.is_injection(tx)]
        kept, _ = self._ante_filter(user, req.height, budget)
        # ProcessProposal may skip its checks for this exact block only if they would accept it: the
        # txs passed them here in sequence; the injection is checked here as ProcessProposal would
        # (its backing and this validator's own vote depend on what CometBFT handed over)
        problem = (
            self._injection_problem(ctx, head[0], injection.last_commit_of(req.local_last_commit))
            if head
            else None
        )
        if problem is not None:
            log.warning("proposing at height %d an injection validators may reject: %s", req.height, problem)
        self._own_proposal = (
            None
            if problem is not None
            else (req.height, self.store.last_version, _commit_key(req.local_last_commit), tuple(head + kept))
        )
        return abci.ResponsePrepareProposal(txs=head + kept)

    def _injection_problem(self, ctx: Context, tx: bytes, last_commit: abci.CommitInfo) -> str | None:
        """Why ProcessProposal would reject ``tx`` as the injection of round ``ctx.height - 1``, or None."""
        try:
            pairs = len(oracle.get_params(ctx).pairs)
            injected = injection.decode_injection(tx, pairs)
            injection.verify(
                injected,
                last_commit,
                ctx.height - 1,
                self.chain_id,
                self._pubkey_of(ctx),
                pairs,
                own_address=self.config.consensus_address,
            )
        except injection.InjectionError as exc:
            return str(exc)
        return None

    @_answers_on_error(_reject_proposal)
    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """Reject a block with a missing, misplaced or invalid injection, or a tx failing ante checks."""
        self._proposal_height = req.height
        reject = abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
        own = (req.height, self.store.last_version, _commit_key(req.proposed_last_commit), tuple(req.txs))
        if self._own_proposal == own:
            # exactly what this node's PrepareProposal built and checked on the same committed state
            return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)
        ctx = self._context(self._block_branch(), req.height)
        txs = list(req.txs)
        if self._injection_required(ctx, req.height):
            if not txs:
                log.warning("rejecting proposal at height %d: oracle injection missing", req.height)
                return reject
            problem = self._injection_problem(ctx, txs[0], req.proposed_last_commit)
            if problem is not None:
                log.warning("rejecting proposal at height %d: %s", req.height, problem)
                return reject
            txs = txs[1:]
        if any(injection.is_injection(tx) for tx in txs):
            log.warning(
                "rejecting proposal at height %d: misplaced or duplicated oracle injection", req.height
            )
            return reject
        _, first_bad = self._ante_filter(txs, req.height, None)
        if first_bad >= 0:
            log.warning("rejecting proposal at height %d: tx %d is invalid", req.height, first_bad)
            return reject
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    # -- vote extensions ---------------------------------------------------------------------------

    @_answers_on_error(_no_extension)
    def extend_vote(self, req: abci.RequestExtendVote) -> abci.ResponseExtendVote:
        """The latest fresh quotes when an oracle round is due at this height; empty otherwise. No I/O."""
        if self.oracle_task is None or not self.config.consensus_address:
            return abci.ResponseExtendVote()
        ctx = self._context(self._block_branch(), req.height)
        if not taskmaster.is_due(ctx, self.oracle_task, req.time.ToNanoseconds()):
            return abci.ResponseExtendVote()
        operator = staking.operator_of(ctx, self.config.consensus_address)
        validator = staking.get_validator(ctx, operator) if operator is not None else None
        if validator is None or validator.jailed:
            return abci.ResponseExtendVote()
        pairs = pair_ids(oracle.get_params(ctx))
        return abci.ResponseExtendVote(vote_extension=encode_extension(self.price_source(), pairs))

    @_answers_on_error(_reject_extension)
    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.ResponseVerifyVoteExtension:
        """Decoding, size, known pairs, positive prices; an empty extension is valid ("no report")."""
        ctx = self._context(self._block_branch(), req.height)
        try:
            decode_extension(req.vote_extension, len(oracle.get_params(ctx).pairs))
        except ExtensionError as exc:
            log.warning(
                "rejecting vote extension of %s at height %d: %s",
                req.validator_address.hex(),
                req.height,
                exc,
            )
            return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.REJECT)
        return abci.ResponseVerifyVoteExtension(status=abci.ResponseVerifyVoteExtension.ACCEPT)

    # -- blocks ------------------------------------------------------------------------------------

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """Execute the block's txs, then end-of-block logic; stage the result and return its app hash."""
        branch = self._block_branch()
        ctx = self._context(branch, req.height, req.time.ToNanoseconds(), req.proposer_address)
        txs = list(req.txs)
        results: list[abci.ExecTxResult] = []
        if self._injection_required(ctx, req.height):
            carried = bool(txs) and injection.is_injection(txs[0])
            tx0 = txs[0] if carried else b""
            result = _block_step(ctx, "oracle round", lambda c: self._run_oracle_round(c, tx0))
            if carried:  # the injection is tx 0 and gets the round's result; else the round runs on nothing
                failed = INTERNAL("the oracle round failed; the node logged the cause")
                results.append(result or abci.ExecTxResult(code=failed.code, codespace=failed.codespace))
                txs = txs[1:]
        results += [execute_tx(ctx, raw, self.router, self.sigs).exec_result() for raw in txs]
        _block_step(ctx, "fee payment", self._pay_fees)
        for module in self.router.modules:
            if module.end_block is not None:
                _block_step(ctx, f"{module.name} end block", module.end_block)
        _block_step(ctx, "built-in task migrations", lambda c: taskmaster.run_migrations(c, BUILTIN_TASKS))
        _block_step(ctx, "built-in task rounds", _open_rounds)
        updates = staking.pop_validator_updates(ctx)
        app_hash = self.store.stage(branch, req.height)
        self.staged_height = req.height
        return abci.ResponseFinalizeBlock(
            events=ctx.events, tx_results=results, validator_updates=updates, app_hash=app_hash
        )

    def _run_oracle_round(self, ctx: Context, tx: bytes) -> abci.ExecTxResult:
        """Run the pending oracle round from the injection ``tx`` (None inputs when it is not one)."""
        assert self.oracle_task is not None
        try:
            pairs = len(oracle.get_params(ctx).pairs)
            injected: abci.ExtendedCommitInfo | None = injection.decode_injection(tx, pairs)
        except injection.InjectionError:
            injected = None
        events_before = len(ctx.events)
        taskmaster.run_round(ctx, self.oracle_task, injected)
        events = ctx.events[events_before:]
        del ctx.events[events_before:]
        return abci.ExecTxResult(code=0, log="oracle injection", events=events)

    def _pay_fees(self, ctx: Context) -> None:
        """Move the block's collected fees to the proposer's operator account."""
        collected = bank.balance(ctx, FEE_COLLECTOR, bank.NATIVE_DENOM)
        operator = staking.operator_of(ctx, ctx.proposer) if ctx.proposer else None
        if collected and operator is not None:
            bank.send(ctx, FEE_COLLECTOR, operator, bank.NATIVE_DENOM, collected)
            ctx.emit(
                "proposer_reward", proposer=to_bech32(operator), amount=f"{collected}{bank.NATIVE_DENOM}"
            )

    def commit(self, req: abci.RequestCommit) -> abci.ResponseCommit:
        """Persist the staged block atomically; reset the check state; prune; tell CometBFT what to keep."""
        _failpoint("before-commit", self.staged_height)
        result = self.store.commit(
            {META_CHAIN_ID: self.chain_id.encode(), META_INITIAL_HEIGHT: str(self.initial_height).encode()}
        )
        self.genesis_changes = None
        self.check_state = self._block_branch()
        if self.config.keep_recent:
            self.store.prune(self.config.keep_recent, self.config.keep_every)
        settle_after_commit()  # no multi-second full GC pauses over a large resident tree
        if self.on_commit is not None:
            self.on_commit(result.version, result.app_hash)
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
        """``/app/simulate``: run tx ``raw`` as CheckTx would, on a throw-away branch of the check state.

        The answer's code, codespace and log are the tx's; ``value`` is its ExecTxResult (gas used and
        wanted). Nothing changes: unlike CometBFT's ``check_tx`` RPC, which runs a real CheckTx, so a
        passing tx would advance its sender's sequence in the mempool's state.
        """
        ctx = self._context(self.check_state.branch(), self._next_height())
        ctx.record_events = False
        result = execute_tx(ctx, raw, self.router, self.sigs, keep_fee_on_failure=False).exec_result()
        ctx.branch.discard()
        return abci.ResponseQuery(
            code=result.code,
            codespace=result.codespace,
            log=result.log,
            value=result.SerializeToString(deterministic=True),
            height=self.store.last_version,
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

    def close(self) -> None:
        """Close the store."""
        self.store.close()
