"""The Application: the only place that knows the ABCI call order.

State flow (see docs/abci.md): CheckTx runs on ``check_state``, a branch of the last committed version
reset at every Commit; PrepareProposal and ProcessProposal filter or check txs on throw-away branches;
FinalizeBlock executes the block on a fresh branch and *stages* it in the multistore, which computes the
app hash without writing; Commit persists the staged version in one RocksDB write batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from tendermint.abci import types_pb2 as abci
from tendermint.crypto import proof_pb2

from abci_app.abci.application import BaseApplication
from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules import QUERY_INVALID, QUERY_UNKNOWN_PATH, Module
from abci_app.modules.bank import keeper as bank
from abci_app.modules.staking import keeper as staking
from abci_app.router import Router, default_modules
from abci_app.store import Branch, MultiStore
from abci_app.store.errors import StoreError
from abci_app.tx.address import to_bech32
from abci_app.tx.ante import FEE_COLLECTOR, SignatureCache
from abci_app.tx.runner import execute_tx

log = logging.getLogger("abci_app.app")

APP_VERSION = 1
META_CHAIN_ID = b"chain_id"
META_INITIAL_HEIGHT = b"initial_height"


@dataclass(frozen=True)
class AppConfig:
    """Node-local settings of the application (not consensus-critical)."""

    db_path: str
    keep_recent: int = 0  # store versions kept; 0 keeps every version
    keep_every: int = 0
    min_retain_blocks: int = 0  # CometBFT blocks kept (retain_height); 0 keeps every block


def _proto_size(raw: bytes) -> int:
    """Bytes ``raw`` takes inside a block's Data (field tag, varint length, bytes)."""
    n, size = len(raw), 1
    while n >= 0x80:
        n >>= 7
        size += 1
    return 1 + size + len(raw)


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
        self.check_state = self._block_branch()

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
            branch=branch, chain_id=self.chain_id, height=height, time_ns=time_ns, proposer=proposer
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
        """Run every module's genesis on a branch; stage it so the app hash of height 1 is known."""
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
        validators = staking.pop_validator_updates(ctx)
        self.genesis_changes = branch.changes()
        app_hash = self.store.stage(branch, self.initial_height)
        self.check_state = self._block_branch()
        log.info("genesis of %s: %d validators, app hash %s", self.chain_id, len(validators), app_hash.hex())
        return abci.ResponseInitChain(validators=validators, app_hash=app_hash)

    # -- mempool -----------------------------------------------------------------------------------

    def check_tx(self, req: abci.RequestCheckTx) -> abci.ResponseCheckTx:
        """Validate and apply ``req.tx`` on the check state (messages too, so funds are checked early)."""
        ctx = self._context(self.check_state, self.store.last_version + 1)
        outcome = execute_tx(ctx, req.tx, self.router, self.sigs, keep_fee_on_failure=False)
        return outcome.check_result()

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

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.ResponsePrepareProposal:
        """Mempool txs in order, dropping those that fail ante checks, within ``max_tx_bytes``."""
        kept, _ = self._ante_filter(req.txs, req.height, req.max_tx_bytes)
        return abci.ResponsePrepareProposal(txs=kept)

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.ResponseProcessProposal:
        """Reject a block holding a tx that does not decode or fails ante checks."""
        _, first_bad = self._ante_filter(req.txs, req.height, None)
        if first_bad >= 0:
            log.warning("rejecting proposal at height %d: tx %d is invalid", req.height, first_bad)
            return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.REJECT)
        return abci.ResponseProcessProposal(status=abci.ResponseProcessProposal.ACCEPT)

    # -- blocks ------------------------------------------------------------------------------------

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.ResponseFinalizeBlock:
        """Execute the block's txs, then end-of-block logic; stage the result and return its app hash."""
        branch = self._block_branch()
        ctx = self._context(branch, req.height, req.time.ToNanoseconds(), req.proposer_address)
        results = [execute_tx(ctx, raw, self.router, self.sigs).exec_result() for raw in req.txs]
        self._pay_fees(ctx)
        for module in self.router.modules:
            if module.end_block is not None:
                module.end_block(ctx)
        updates = staking.pop_validator_updates(ctx)
        app_hash = self.store.stage(branch, req.height)
        self.staged_height = req.height
        return abci.ResponseFinalizeBlock(
            events=ctx.events, tx_results=results, validator_updates=updates, app_hash=app_hash
        )

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
        result = self.store.commit(
            {META_CHAIN_ID: self.chain_id.encode(), META_INITIAL_HEIGHT: str(self.initial_height).encode()}
        )
        self.genesis_changes = None
        self.check_state = self._block_branch()
        if self.config.keep_recent:
            self.store.prune(self.config.keep_recent, self.config.keep_every)
        retain = 0
        if self.config.min_retain_blocks:
            retain = max(0, result.version - self.config.min_retain_blocks + 1)
        return abci.ResponseCommit(retain_height=retain)

    # -- queries -----------------------------------------------------------------------------------

    def query(self, req: abci.RequestQuery) -> abci.ResponseQuery:
        """``/store/<name>/key`` (raw key, optional proof) or a module query path with a protobuf request."""
        version = req.height or self.store.last_version
        try:
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
            except DecodeError as exc:
                raise QUERY_INVALID(
                    f"data is not a {route.request_type.DESCRIPTOR.full_name}: {exc}"
                ) from exc
            ctx = self._context(self.store.branch(version), version)
            response = route.handler(ctx, request)
            return abci.ResponseQuery(value=response.SerializeToString(deterministic=True), height=version)
        except AppError as err:
            return abci.ResponseQuery(code=err.code, codespace=err.codespace, log=err.log, height=version)
        except StoreError as err:
            return abci.ResponseQuery(
                code=QUERY_INVALID.code, codespace="query", log=str(err), height=version
            )

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
