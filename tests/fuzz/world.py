"""The chain the fuzzer runs on, the steps it takes, and how one step is driven through an Application.

A :class:`World` is the genesis (funded users, four validators whose votes are simulated with their
keys, the oracle every block, tasks with a small minimum interval). A :class:`Generator` draws
:data:`Step` values from a ``random.Random`` and a *reader* app (sequences, account numbers, task
hashes of committed or check state), so valid txs stay valid and their mutations reach deep code.
:func:`drive` sends one step to an app through the socket server's handler table (the answer must also
serialize as CometBFT would read it) and returns every answer's deterministic bytes; after a block it
checks every module invariant on the committed state.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cosmos.tx.v1beta1 import tx_pb2
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nacl.signing import SigningKey
from taskmaster.bank.v1 import bank_pb2
from taskmaster.kv.v1 import kv_pb2
from taskmaster.tasks.v1 import query_pb2 as tasks_query_pb2
from taskmaster.tasks.v1 import tx_pb2 as tasks_tx_pb2
from taskmaster.tasks.v1 import types_pb2 as tasks_types_pb2
from tendermint.abci import types_pb2 as abci
from tendermint.types import validator_pb2

from abci_app.abci.server import _APP_HANDLERS
from abci_app.app import AppConfig, Application
from abci_app.modules.auth import keeper as auth
from abci_app.modules.oracle.codec import encode_extension
from abci_app.modules.oracle.injection import (
    INJECTION_PREFIX,
    encode_injection,
    extension_sign_bytes,
    last_commit_of,
)
from abci_app.router import Router, default_modules
from abci_app.tx.address import address_from_pubkey, from_bech32, to_bech32
from abci_app.tx.ante import SignatureCache
from abci_app.tx.codec import build_tx, sign_bytes, type_url
from tests.app.oracle_driver import TEST_ORACLE_PARAMS
from tests.fuzz.mutations import Hints, fill_message, mutate_bytes, mutate_message, varint
from tests.unit.tasks.task_chain import TEST_PARAMS

CHAIN_ID = "fuzz-chain"
PAIRS = tuple(p["coingeckoId"] + "/" + p["quote"] for p in TEST_ORACLE_PARAMS["pairs"])
POWERS = (10, 20, 30, 40)
USERS = 4
GENESIS_TIME = 1_700_000_000
PRICES = {"bitcoin/usd": 67_187 * 10**18, "ethereum/usd": 3_512 * 10**18}
COMMIT = validator_pb2.BLOCK_ID_FLAG_COMMIT
ABSENT = validator_pb2.BLOCK_ID_FLAG_ABSENT
NIL = validator_pb2.BLOCK_ID_FLAG_NIL

ROUTER = Router(default_modules())
MSG_TYPES = tuple(sorted(ROUTER.msgs))
QUERY_PATHS = tuple(sorted(ROUTER.queries))
STORES = ROUTER.store_names


def _key(label: str) -> SigningKey:
    from tests.app.driver import seeded_key

    return seeded_key(f"fuzz-{label}")


def _bech32(key: SigningKey) -> str:
    return to_bech32(address_from_pubkey(bytes(key.verify_key)))


@dataclass(frozen=True)
class World:
    """Keys and genesis of the fuzzed chain (the same in every process)."""

    users: tuple[SigningKey, ...] = tuple(_key(f"user{i}") for i in range(USERS))
    validators: tuple[SigningKey, ...] = tuple(_key(f"consensus{i}") for i in range(len(POWERS)))
    operators: tuple[SigningKey, ...] = tuple(_key(f"operator{i}") for i in range(len(POWERS)))

    @property
    def signers(self) -> tuple[SigningKey, ...]:
        """Every funded account that can sign a tx."""
        return self.users + self.operators

    def address(self, key: SigningKey) -> str:
        return _bech32(key)

    def consensus_address(self, i: int) -> bytes:
        return address_from_pubkey(bytes(self.validators[i].verify_key))

    def app_state(self) -> dict[str, Any]:
        accounts = [_bech32(k) for k in self.signers]
        oracle_params = TEST_ORACLE_PARAMS
        return {
            "auth": {"accounts": [{"address": a} for a in accounts]},
            "bank": {
                "balances": [
                    {"address": a, "coins": [{"denom": "utask", "amount": "10000000000"}]} for a in accounts
                ]
            },
            "staking": {
                "validators": [
                    {
                        "operator_address": _bech32(op),
                        "consensus_pubkey": base64.b64encode(bytes(k.verify_key)).decode(),
                        "tokens": str(p * 1_000_000),
                    }
                    for op, k, p in zip(self.operators, self.validators, POWERS, strict=True)
                ]
            },
            "oracle": {"params": oracle_params},
            "tasks": {"params": TEST_PARAMS},
        }

    def reopen_app(self, db_path: str, cache_capacity: int | None = None) -> Application:
        """The app over an existing store (as after a restart); validator 0 is this node.

        ``cache_capacity`` sizes its SignatureCache (default: the app's own).
        """
        app = Application(AppConfig(db_path=db_path, consensus_address=self.consensus_address(0)))
        if cache_capacity is not None:
            app.sigs = SignatureCache(capacity=cache_capacity)
        app.price_source = lambda: dict(PRICES)
        return app

    def open_app(self, db_path: str, cache_capacity: int | None = None) -> Application:
        """A fresh app at genesis (see :meth:`reopen_app`)."""
        app = self.reopen_app(db_path, cache_capacity)
        app.init_chain(
            abci.RequestInitChain(
                chain_id=CHAIN_ID,
                initial_height=1,
                app_state_bytes=json.dumps(self.app_state()).encode(),
                time=Timestamp(seconds=GENESIS_TIME),
            )
        )
        return app


# -- steps -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckTx:
    """A CheckTx (NEW, or RECHECK as after a block) of ``tx``."""

    tx: bytes
    recheck: bool = False


@dataclass(frozen=True)
class Query:
    """An ABCI Query."""

    path: str
    data: bytes
    height: int
    prove: bool


@dataclass(frozen=True)
class VerifyExtension:
    """A VerifyVoteExtension of another validator's (or anybody's) extension."""

    height: int
    validator_address: bytes
    extension: bytes
    hash: bytes


@dataclass(frozen=True)
class ExtendVote:
    """An ExtendVote of this node (validator 0) at ``height``."""

    height: int


@dataclass(frozen=True)
class Vote:
    """One validator's vote in the last commit: flag, extension, and how its signature is made."""

    validator: int
    flag: int
    extension: bytes
    signature: str  # "valid", "none", "garbage", "wrong-height", "other-key"


@dataclass(frozen=True)
class Block:
    """One height: PrepareProposal over ``txs`` and ``votes``, ProcessProposal, FinalizeBlock, Commit.

    ``proposal_seed`` (when set) mutates the prepared txs into another proposal for ProcessProposal;
    ``finalize`` picks what is finalized: ``"prepared"``, ``"proposal"`` (the mutated one) or ``"raw"``
    (the prepared injection followed by ``txs`` unfiltered, as a byzantine proposer's block would be).
    """

    txs: tuple[bytes, ...]
    votes: tuple[Vote, ...]
    round: int
    proposal_seed: int | None
    finalize: str
    realistic: bool  # the votes are a last commit CometBFT itself could produce
    max_tx_bytes: int = 1 << 20


Step = CheckTx | Query | VerifyExtension | ExtendVote | Block


# -- driving an app --------------------------------------------------------------------------------


def _call(app: Application, kind: str, request: Message) -> bytes:
    """One ABCI call through the server's handler table; the deterministic bytes of its Response."""
    response = _APP_HANDLERS[kind](app, abci.Request(**{kind: request}))  # type: ignore[arg-type]
    assert response.WhichOneof("value") == kind, f"{kind} answered {response.WhichOneof('value')}"
    return response.SerializeToString(deterministic=True)


def _time(height: int) -> Timestamp:
    return Timestamp(seconds=GENESIS_TIME + height)


def extended_commit(world: World, votes: Sequence[Vote], height: int, round_: int) -> abci.ExtendedCommitInfo:
    """The local last commit of ``height`` (votes of the block below it) as CometBFT would hand it over."""
    info = abci.ExtendedCommitInfo(round=round_)
    for vote in votes:
        entry = info.votes.add()
        entry.validator.address = world.consensus_address(vote.validator)
        entry.validator.power = POWERS[vote.validator]
        entry.block_id_flag = vote.flag  # type: ignore[assignment]
        if vote.flag != COMMIT:
            continue
        entry.vote_extension = vote.extension
        signer = (
            world.validators[(vote.validator + 1) % len(POWERS)] if vote.signature == "other-key" else None
        )
        signed_height = height - 1 if vote.signature != "wrong-height" else height
        key = signer or world.validators[vote.validator]
        if vote.signature == "garbage":
            entry.extension_signature = bytes(64)
        elif vote.signature != "none":
            entry.extension_signature = key.sign(
                extension_sign_bytes(vote.extension, signed_height, round_, CHAIN_ID)
            ).signature
    return info


def committed_height(app: Application) -> int:
    return app.store.last_version


def check_invariants(app: Application) -> None:
    """Every module invariant on the last committed state; raises AssertionError naming the module."""
    app.router.check_invariants(app._context(app.store.branch(), app.store.last_version))


def drive(app: Application, world: World, step: Step, forget_own_proposal: bool = False) -> list[bytes]:
    """Run ``step`` on ``app``; every answer's bytes, in call order. Invariants are checked after a block.

    ``forget_own_proposal`` makes ProcessProposal verify the app's own prepared block in full instead of
    accepting it as its own (the answer must be the same either way).
    """
    height = committed_height(app) + 1
    if isinstance(step, CheckTx):
        kind = abci.RECHECK if step.recheck else abci.NEW
        return [_call(app, "check_tx", abci.RequestCheckTx(tx=step.tx, type=kind))]
    if isinstance(step, Query):
        request = abci.RequestQuery(path=step.path, data=step.data, height=step.height, prove=step.prove)
        return [_call(app, "query", request)]
    if isinstance(step, VerifyExtension):
        request_v = abci.RequestVerifyVoteExtension(
            hash=step.hash,
            validator_address=step.validator_address,
            height=step.height,
            vote_extension=step.extension,
        )
        return [_call(app, "verify_vote_extension", request_v)]
    if isinstance(step, ExtendVote):
        request_e = abci.RequestExtendVote(hash=bytes(32), height=step.height, time=_time(step.height))
        return [_call(app, "extend_vote", request_e)]
    return _drive_block(app, world, step, height, forget_own_proposal)


def _drive_block(app: Application, world: World, step: Block, height: int, forget: bool) -> list[bytes]:
    answers: list[bytes] = []
    commit = extended_commit(world, step.votes, height, step.round)
    prepare_raw = _call(
        app,
        "prepare_proposal",
        abci.RequestPrepareProposal(
            txs=step.txs,
            height=height,
            max_tx_bytes=step.max_tx_bytes,
            local_last_commit=commit,
            time=_time(height),
            proposer_address=world.consensus_address(0),
        ),
    )
    answers.append(prepare_raw)
    prepared = list(abci.Response.FromString(prepare_raw).prepare_proposal.txs)
    # CometBFT refuses a prepared block over max_tx_bytes (the proposer then misses its round)
    size = sum(len(abci.RequestPrepareProposal(txs=[tx]).SerializeToString()) for tx in prepared)
    assert size <= step.max_tx_bytes, f"PrepareProposal returned {size} bytes of txs over {step.max_tx_bytes}"
    last = last_commit_of(commit)
    proposal = (
        prepared
        if step.proposal_seed is None
        else mutate_proposal(random.Random(step.proposal_seed), prepared, world)
    )
    if forget:
        app._own_proposal = None
    for txs in (prepared, proposal) if proposal != prepared else (prepared,):
        answers.append(
            _call(
                app,
                "process_proposal",
                abci.RequestProcessProposal(
                    txs=txs,
                    height=height,
                    proposed_last_commit=last,
                    time=_time(height),
                    proposer_address=world.consensus_address(0),
                ),
            )
        )
    if step.finalize == "proposal":
        block = proposal
    elif step.finalize == "raw":
        block = [tx for tx in prepared[:1] if tx.startswith(INJECTION_PREFIX)] + list(step.txs)
    else:
        block = prepared
    finalized = _call(
        app,
        "finalize_block",
        abci.RequestFinalizeBlock(
            txs=block,
            height=height,
            time=_time(height),
            proposer_address=world.consensus_address(height % len(POWERS)),
            decided_last_commit=last,
        ),
    )
    response = abci.Response.FromString(finalized)
    assert len(response.finalize_block.tx_results) == len(block), "one tx result per tx"
    answers.append(finalized)
    answers.append(_call(app, "commit", abci.RequestCommit()))
    check_invariants(app)
    return answers


def mutate_proposal(rnd: random.Random, txs: Sequence[bytes], world: World) -> list[bytes]:
    """Another proposal from the prepared ``txs``: the injection dropped, moved, doubled or altered."""
    out = list(txs)
    has_injection = bool(out) and out[0].startswith(INJECTION_PREFIX)
    choice = rnd.randrange(8)
    if has_injection and choice == 0:
        out.pop(0)
    elif has_injection and choice == 1:
        out.append(out[0])
    elif has_injection and choice == 2:
        out.insert(0, out.pop(0)) if len(out) < 2 else out.insert(1, out.pop(0))
    elif has_injection and choice in (3, 4):
        out[0] = INJECTION_PREFIX + mutate_bytes(rnd, out[0][len(INJECTION_PREFIX) :])
    elif has_injection and choice == 5:
        out[0] = _alter_injection(rnd, out[0], world)
    elif choice == 6:
        out.insert(rnd.randint(0, len(out)), mutate_bytes(rnd, rnd.choice(out)) if out else rnd.randbytes(9))
    else:
        out.insert(0, INJECTION_PREFIX + rnd.randbytes(rnd.randint(0, 64)))
    return out


def _alter_injection(rnd: random.Random, tx: bytes, world: World) -> bytes:
    """The injection decoded, one vote or the round changed, and encoded again (canonically)."""
    commit = abci.ExtendedCommitInfo.FromString(tx[len(INJECTION_PREFIX) :])
    votes = commit.votes
    choice = rnd.randrange(7)
    if choice == 0 or not votes:
        commit.round = rnd.choice((1, 2**31 - 1, -1))
    elif choice == 1:
        votes[rnd.randrange(len(votes))].validator.power = rnd.choice((0, 1, 2**62, 2**63 - 1, -1))
    elif choice == 2:
        votes[rnd.randrange(len(votes))].block_id_flag = rnd.choice((ABSENT, NIL, COMMIT, 0, 7))  # type: ignore[assignment]
    elif choice == 3 and len(votes) > 1:
        first, second = votes[0], votes[1]
        a, b = abci.ExtendedVoteInfo(), abci.ExtendedVoteInfo()
        a.CopyFrom(first)
        b.CopyFrom(second)
        first.CopyFrom(b)
        second.CopyFrom(a)
    elif choice == 4:
        vote = votes[rnd.randrange(len(votes))]
        vote.vote_extension = encode_extension({p: rnd.randint(1, 10**30) for p in PAIRS}, PAIRS)
    elif choice == 5:
        votes.add().CopyFrom(votes[rnd.randrange(len(votes))])
    else:
        vote = votes[rnd.randrange(len(votes))]
        vote.validator.address = rnd.choice(
            (rnd.randbytes(20), b"", rnd.randbytes(32), world.consensus_address(1))
        )
    return encode_injection(commit)


# -- generating steps ------------------------------------------------------------------------------


def task_data(owner: str) -> bytes:
    """A kv MsgPut owned by ``owner``: the usual target of a fuzzed task."""
    return kv_pb2.MsgPut(owner=owner, key=b"k", value=b"v").SerializeToString(deterministic=True)


@dataclass
class Generator:
    """Draws steps from ``rnd``, reading sequences and task hashes from ``reader`` (answers unchanged)."""

    rnd: random.Random
    reader: Application
    world: World = field(default_factory=World)
    task_hashes: list[str] = field(default_factory=list)
    _pending: dict[str, int] = field(default_factory=dict)
    _corpus: list[bytes] = field(default_factory=list)

    # -- state reads --------------------------------------------------------------------------------

    def _account(self, address: str, check_state: bool) -> tuple[int, int]:
        """(account number, sequence) in the check state or the committed state."""
        app = self.reader
        branch = app.check_state if check_state else app._block_branch()
        account = auth.get_account(app._context(branch, committed_height(app) + 1), from_bech32(address))
        assert account is not None, address
        return account.account_number, account.sequence

    def refresh_task_hashes(self) -> None:
        """Known task hashes of every user, from committed state (a query; the answer is not compared)."""
        hashes: set[str] = set()
        for key in self.world.signers:
            request = tasks_query_pb2.QueryGetAccountTasksRequest(account=self.world.address(key))
            answer = self.reader.query(
                abci.RequestQuery(
                    path="/taskmaster.tasks.v1.Query/GetAccountTasks", data=request.SerializeToString()
                )
            )
            if answer.code == 0:
                hashes.update(
                    tasks_query_pb2.QueryGetAccountTasksResponse.FromString(answer.value).task_hashes
                )
        self.task_hashes = sorted(hashes)[-32:]

    def hints(self, signer: str) -> Hints:
        return Hints(
            signer=signer,
            addresses=[self.world.address(k) for k in self.world.signers] + [to_bech32(bytes(20))],
            task_hashes=self.task_hashes,
            type_urls=[*MSG_TYPES, "/taskmaster.kv.v1.MsgPut", "/google.protobuf.Any", ""],
            height=committed_height(self.reader) + 1,
            data_for=task_data,
        )

    # -- txs ----------------------------------------------------------------------------------------

    def _template(self, signer: str, hints: Hints) -> list[Message]:
        """One to three messages that are valid most of the time (a send, a task, a kv write, ...)."""
        rnd = self.rnd
        other = rnd.choice(hints.addresses[:-1])
        height = hints.height
        choice = rnd.randrange(6)
        if choice == 0:
            return [
                bank_pb2.MsgSend(
                    from_address=signer,
                    to_address=other,
                    amount=[bank_pb2.Coin(denom="utask", amount=str(rnd.randint(1, 10_000)))],
                )
                for _ in range(rnd.randint(1, 3))
            ]
        if choice in (1, 2):
            target, data = self._task_target(signer, hints)
            definition = tasks_types_pb2.TaskDefinition(
                task=tasks_types_pb2.Task(
                    from_address=signer,
                    gas=rnd.choice((50_000, 100_000, 750_000)),
                    target=target,
                    data=data,
                    nonce=self._task_nonce(signer),
                    environment=rnd.choice(("basic", "rescheduling", "rescheduling", "minimal")),
                ),
                schedule=tasks_types_pb2.TaskSchedule(
                    start_block=height + rnd.randint(1, 4),
                    interval=rnd.choice((0, 2, 3)),
                    executions=rnd.choice((1, 1, 2, 3)),
                    active=True,
                ),
            )
            if definition.schedule.executions > 1 and definition.schedule.interval == 0:
                definition.schedule.interval = 2
            if rnd.random() < 0.25:  # schedule arithmetic at its edges: overflowing next blocks, huge counts
                edges = (0, 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1)
                for name in ("start_block", "interval", "executions", "deadline"):
                    if rnd.random() < 0.4:
                        setattr(definition.schedule, name, rnd.choice(edges))
                if rnd.random() < 0.3:
                    definition.task.gas = rnd.choice((0, 1, 750_000, 750_001, 2**64 - 1))
            cls = tasks_tx_pb2.MsgScheduleTask if choice == 1 else tasks_tx_pb2.MsgExecuteAndSchedule
            return [cls(sender=signer, definition=definition)]
        if choice == 3:
            return [kv_pb2.MsgPut(owner=signer, key=rnd.randbytes(4), value=rnd.randbytes(8))]
        if choice == 4 and self.task_hashes and rnd.random() < 0.3:
            return [self._update_schedule(signer, rnd.choice(self.task_hashes))]
        if choice == 4 and self.task_hashes:
            task_hash = rnd.choice(self.task_hashes)
            return [
                rnd.choice(
                    (
                        tasks_tx_pb2.MsgCancelTask(sender=signer, task_hash=task_hash),
                        tasks_tx_pb2.MsgBondTask(sender=signer, task_hash=task_hash, amount="1000"),
                        tasks_tx_pb2.MsgExecuteTask(executor=signer, task_hash=task_hash),
                        tasks_tx_pb2.MsgAddTaskCanceller(sender=signer, task_hash=task_hash, canceller=other),
                    )
                )
            ]
        return [
            tasks_tx_pb2.MsgExecuteQueuedTasks(executor=signer, target_gas_reserve=rnd.choice((0, 10_000)))
        ]

    def _update_schedule(self, signer: str, task_hash: str) -> Message:
        """A MsgUpdateTaskSchedule of a known task: its own definition with the schedule changed."""
        rnd = self.rnd
        request = tasks_query_pb2.QueryGetTaskInfoRequest(task_hash=task_hash).SerializeToString()
        answer = self.reader.query(
            abci.RequestQuery(path="/taskmaster.tasks.v1.Query/GetTaskInfo", data=request)
        )
        definition = tasks_types_pb2.TaskDefinition()
        if answer.code == 0:
            definition.CopyFrom(
                tasks_query_pb2.QueryGetTaskInfoResponse.FromString(answer.value).info.definition
            )
        height = committed_height(self.reader) + 1
        schedule = definition.schedule
        schedule.start_block = rnd.choice((height + 1, height + 3, height, 0, 2**63, 2**64 - 1))
        schedule.interval = rnd.choice((0, 2, 3, 2**63, 2**64 - 1))
        schedule.executions = rnd.choice((1, 2, 5, 2**64 - 1))
        schedule.active = rnd.random() < 0.7
        return tasks_tx_pb2.MsgUpdateTaskSchedule(sender=signer, task_hash=task_hash, definition=definition)

    def _task_target(self, signer: str, hints: Hints) -> tuple[str, bytes]:
        """What a task runs: mostly a kv write, else a send, a reschedule, any routed message."""
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.5:
            return "/taskmaster.kv.v1.MsgPut", task_data(signer)
        if roll < 0.65:
            send = bank_pb2.MsgSend(
                from_address=signer,
                to_address=rnd.choice(hints.addresses),
                amount=[bank_pb2.Coin(denom="utask", amount=str(rnd.choice((1, 10**6, 10**12))))],
            )
            return type_url(send), send.SerializeToString(deterministic=True)
        if roll < 0.8:
            reschedule = tasks_tx_pb2.MsgRescheduleTask(
                owner=signer,
                target_block=rnd.choice(
                    (hints.height + 1, hints.height + 3, hints.height + 50, 0, 2**64 - 1)
                ),
                max_payment=rnd.choice(("", "0", "100000", "9" * 50)),
            )
            return type_url(reschedule), reschedule.SerializeToString(deterministic=True)
        target = rnd.choice(MSG_TYPES)
        message = fill_message(rnd, ROUTER.msgs[target].msg_type(), hints)
        return target, message.SerializeToString(deterministic=True)

    def _task_nonce(self, signer: str) -> int:
        request = tasks_query_pb2.QueryGetAccountNonceRequest(account=signer).SerializeToString()
        answer = self.reader.query(
            abci.RequestQuery(path="/taskmaster.tasks.v1.Query/GetAccountNonce", data=request)
        )
        if answer.code:
            return 0
        return int(tasks_query_pb2.QueryGetAccountNonceResponse.FromString(answer.value).nonce)

    def _random_messages(self, hints: Hints) -> list[Message]:
        """One or two messages of any routed type with random fields (address fields mostly the signer)."""
        out: list[Message] = []
        for _ in range(self.rnd.randint(1, 2)):
            cls = ROUTER.msgs[self.rnd.choice(MSG_TYPES)].msg_type
            out.append(fill_message(self.rnd, cls(), hints))
        return out

    def signed_tx(self, *, check_state: bool) -> bytes:
        """A tx signed by a funded account with the right account number and next sequence.

        Its messages are a valid template, a template with one field mutated, or random messages; the
        fee, gas limit, memo or timeout height are sometimes mutated too. Always correctly signed.
        """
        rnd = self.rnd
        key = rnd.choice(self.world.signers)
        signer = self.world.address(key)
        number, sequence = self._account(signer, check_state)
        sequence += self._pending.get(signer, 0)
        hints = self.hints(signer)
        roll = rnd.random()
        messages = self._template(signer, hints) if roll < 0.75 else self._random_messages(hints)
        if 0.45 < roll < 0.75:
            mutate_message(rnd, rnd.choice(messages), hints)
        fee, gas = rnd.choice(((5000, 2_000_000), (500, 200_000), (0, 200_000), (10**6, 100_000_000)))
        raw = build_tx(
            key,
            messages,
            chain_id=CHAIN_ID,
            account_number=number,
            sequence=sequence
            if rnd.random() < 0.9
            else rnd.choice((sequence + 1, max(sequence - 1, 0), 2**64 - 1)),
            fee=fee,
            gas_limit=gas,
        )
        if rnd.random() < 0.15:
            raw = self._resign_mutated(raw, key, number, hints)
        if not check_state:  # the check state already counts the txs CheckTx accepted
            self._pending[signer] = self._pending.get(signer, 0) + 1
        self._remember(raw)
        return raw

    def _resign_mutated(self, raw: bytes, key: SigningKey, number: int, hints: Hints) -> bytes:
        """``raw`` with its body or auth info mutated at the message level, then signed again."""
        tx = tx_pb2.TxRaw.FromString(raw)
        body = tx_pb2.TxBody.FromString(tx.body_bytes)
        auth_info = tx_pb2.AuthInfo.FromString(tx.auth_info_bytes)
        mutate_message(self.rnd, self.rnd.choice((body, auth_info)), hints)
        if self.rnd.random() < 0.2:
            body.messages.append(
                AnyProto(type_url=self.rnd.choice(hints.type_urls), value=self.rnd.randbytes(6))
            )
        body_bytes = body.SerializeToString(deterministic=True)
        auth_bytes = auth_info.SerializeToString(deterministic=True)
        signature = key.sign(sign_bytes(body_bytes, auth_bytes, CHAIN_ID, number)).signature
        return tx_pb2.TxRaw(
            body_bytes=body_bytes, auth_info_bytes=auth_bytes, signatures=[signature]
        ).SerializeToString(deterministic=True)

    def _remember(self, raw: bytes) -> None:
        self._corpus.append(raw)
        del self._corpus[:-64]

    def tx(self, *, check_state: bool) -> bytes:
        """Any tx: signed and valid-shaped, a byte mutation of one, garbage, or a special hostile case."""
        rnd = self.rnd
        roll = rnd.random()
        if roll < 0.45 or not self._corpus:
            return self.signed_tx(check_state=check_state)
        if roll < 0.85:
            return mutate_bytes(rnd, rnd.choice(self._corpus))
        if roll < 0.92:
            return self._special(rnd.choice(self._corpus))
        return rnd.choice((b"", rnd.randbytes(rnd.randint(1, 200)), INJECTION_PREFIX + rnd.randbytes(30)))

    def _special(self, raw: bytes) -> bytes:
        """Hostile txs from the hardening issue: a huge gas limit, a padded signature, a huge amount."""
        rnd = self.rnd
        tx = tx_pb2.TxRaw.FromString(raw)
        auth_info = tx_pb2.AuthInfo.FromString(tx.auth_info_bytes)
        choice = rnd.randrange(4)
        if choice == 0:
            auth_info.fee.gas_limit = rnd.choice((2**63, 2**64 - 1, 2**63 - 1))
            tx.auth_info_bytes = auth_info.SerializeToString(deterministic=True)
            tx.signatures[0] = rnd.randbytes(64)
        elif choice == 1:
            tx.signatures[0] += rnd.choice((b"\x00", b"\x00" * 64))
        elif choice == 2:
            del auth_info.fee.amount[:]
            auth_info.fee.amount.add(denom="utask", amount=rnd.choice(("9" * 5000, "-1", "1e3", "\u0661")))
            tx.auth_info_bytes = auth_info.SerializeToString(deterministic=True)
        else:
            tx.body_bytes += varint(999 << 3 | 2) + b"\x01x"
        return tx.SerializeToString(deterministic=True)

    # -- other steps --------------------------------------------------------------------------------

    def query(self) -> Query:
        rnd = self.rnd
        latest = committed_height(self.reader)
        roll = rnd.random()
        if roll < 0.7:
            path = rnd.choice(QUERY_PATHS)
            request = fill_message(rnd, ROUTER.queries[path].request_type(), self.hints(""))
            data = request.SerializeToString(deterministic=True)
            if rnd.random() < 0.25:
                data = mutate_bytes(rnd, data)
        elif roll < 0.85:
            path = (
                f"/store/{rnd.choice(STORES)}/key" if rnd.random() < 0.85 else "/store/" + rnd.choice(STORES)
            )
            data = rnd.choice(
                (b"", bytes([rnd.randrange(8)]) + rnd.randbytes(rnd.randint(0, 40)), rnd.randbytes(2))
            )
        else:
            path = rnd.choice(
                ("", "/", "//", "/store", "/store//key", "/taskmaster.tasks.v1.Query/", "x" * 300)
            )
            data = rnd.randbytes(rnd.randint(0, 20))
        heights = (0, 0, 0, latest, max(latest - 1, 0), latest + 1, -1, 2**62, -(2**63), 2**63 - 1, 1)
        return Query(path, data, rnd.choice(heights), rnd.random() < 0.3)

    def extension(self) -> bytes:
        rnd = self.rnd
        prices = {
            p: rnd.choice((1, 10**18, 67_000 * 10**18, 2**256 - 1, 2**256, 0))
            for p in PAIRS
            if rnd.random() < 0.8
        }
        valid = encode_extension(prices, PAIRS)
        roll = rnd.random()
        if roll < 0.5:
            return valid
        if roll < 0.85:
            return mutate_bytes(rnd, valid or b"\x0a\x04\x08\x00\x12\x00")
        return rnd.choice((rnd.randbytes(rnd.randint(1, 100)), b"\x0a" * (16 * 1024 + 1), b"\x0a\x00"))

    def honest_extension(self) -> bytes:
        """Quotes near the simulator's prices, as an honest validator reports them."""
        return encode_extension(
            {p: v + self.rnd.randint(-(10**18), 10**18) for p, v in PRICES.items()}, PAIRS
        )

    def verify_extension(self) -> VerifyExtension:
        rnd = self.rnd
        latest = committed_height(self.reader)
        address = rnd.choice(
            (
                *[self.world.consensus_address(i) for i in range(len(POWERS))],
                rnd.randbytes(20),
                b"",
                rnd.randbytes(33),
            )
        )
        height = rnd.choice((latest, latest + 1, latest + 1, 0, -1, 2**63 - 1))
        return VerifyExtension(
            height, address, self.extension(), rnd.choice((bytes(32), b"", rnd.randbytes(5)))
        )

    def block(self) -> Block:
        rnd = self.rnd
        self._pending.clear()
        txs = tuple(self.tx(check_state=False) for _ in range(rnd.choice((0, 1, 2, 4, 8))))
        realistic = rnd.random() < 0.6
        votes = self.realistic_votes() if realistic else self.hostile_votes()
        if not realistic and rnd.random() < 0.1:
            rnd.shuffle(votes)
        proposal_seed = rnd.randrange(2**32) if rnd.random() < 0.5 else None
        finalize = rnd.choice(
            ("prepared", "prepared", "raw", "proposal" if proposal_seed is not None else "raw")
        )
        self._pending.clear()
        max_tx_bytes = rnd.choice((1 << 20, 1 << 20, 1 << 20, 4096, 1500, 900))
        round_ = rnd.choice((0, 0, 0, 1))
        return Block(txs, tuple(votes), round_, proposal_seed, finalize, realistic, max_tx_bytes)

    def realistic_votes(self) -> list[Vote]:
        """A last commit CometBFT could hand over: more than 2/3 of the power commits, every commit
        vote's extension is signed by its validator for the previous height and passes
        VerifyVoteExtension (quotes, or empty for "no report"), and this node (validator 0) commits.
        """
        rnd = self.rnd
        absent = rnd.choice((None, None, None, 1, 2))
        votes = []
        for i in range(len(POWERS)):
            if i == absent:
                votes.append(Vote(i, ABSENT, b"", "none"))
                continue
            roll = rnd.random()
            extension = self.honest_extension() if roll < 0.8 else b""
            if roll > 0.9:
                prices = {p: rnd.choice((1, 10**18, 2**256 - 1)) for p in PAIRS if rnd.random() < 0.6}
                extension = encode_extension(prices, PAIRS)
            votes.append(Vote(i, COMMIT, extension, "valid"))
        return votes

    def hostile_votes(self) -> list[Vote]:
        """Any flags, extensions and signatures: what a byzantine CometBFT build or proposer might send."""
        rnd = self.rnd
        votes = []
        honest = rnd.random() < 0.4
        for i in range(len(POWERS)):
            if honest and rnd.random() < 0.85:
                votes.append(Vote(i, COMMIT, self.honest_extension(), "valid"))
                continue
            flag = rnd.choice((COMMIT, COMMIT, COMMIT, ABSENT, NIL))
            signature = rnd.choice(
                ("valid", "valid", "valid", "none", "garbage", "wrong-height", "other-key")
            )
            votes.append(Vote(i, flag, self.extension() if rnd.random() < 0.9 else b"", signature))
        return votes

    def step(self) -> Step:
        """The next step: CheckTx 35%, Query 25%, VerifyVoteExtension 15%, ExtendVote 3%, Block 22%."""
        roll = self.rnd.random()
        if roll < 0.35:
            return CheckTx(self.tx(check_state=True), recheck=self.rnd.random() < 0.1)
        if roll < 0.60:
            return self.query()
        if roll < 0.75:
            return self.verify_extension()
        if roll < 0.78:
            latest = committed_height(self.reader)
            return ExtendVote(self.rnd.choice((latest + 1, latest, 0, -5)))
        return self.block()

    def after(self, step: Step) -> None:
        """Bookkeeping once ``step`` ran on the reader: a block resets pending sequences, refreshes hashes."""
        if isinstance(step, Block):
            self._pending.clear()
            self.refresh_task_hashes()
