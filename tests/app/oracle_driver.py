"""An in-process chain of N validators that exchange signed vote extensions, as CometBFT would."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from nacl.signing import SigningKey
from tendermint.abci import types_pb2 as abci
from tendermint.types import validator_pb2

from abci_app.app import AppConfig, Application
from abci_app.modules.oracle.codec import encode_extension
from abci_app.modules.oracle.injection import (
    decode_injection,
    encode_injection,
    extension_sign_bytes,
    last_commit_of,
)
from abci_app.tx.address import address_from_pubkey
from tests.app.driver import address_of, seeded_key

CHAIN_ID = "oracle-test"
PAIRS = ["bitcoin/usd", "ethereum/usd"]
TEST_ORACLE_PARAMS: dict[str, Any] = {
    "pairs": [{"coingeckoId": p.split("/")[0], "quote": p.split("/")[1]} for p in PAIRS],
    "intervalBlocks": "1",  # a round every block, a window of 4, jailed for 3: scenarios stay short
    "startHeight": "1",
    "window": "4",
    "minValidBps": "5000",
    "jailDuration": "3",
    "slashBps": "100",
    "graceRounds": "2",
    "historySize": "5",
}
COMMIT = validator_pb2.BLOCK_ID_FLAG_COMMIT
ABSENT = validator_pb2.BLOCK_ID_FLAG_ABSENT


@dataclass
class OracleChain:
    """``app`` is validator 0's application; every validator's votes are simulated with its key."""

    app: Application
    keys: list[SigningKey]
    operators: list[SigningKey]
    powers: list[int]
    height: int = 0
    time_s: int = 1_700_000_000
    last_commit: abci.ExtendedCommitInfo = field(default_factory=abci.ExtendedCommitInfo)
    cometbft: dict[bytes, int] = field(default_factory=dict)  # InitChain's set plus every update since

    @classmethod
    def start(
        cls,
        db_path: str,
        powers: list[int],
        oracle_params: dict[str, object] | None = None,
        task_versions: dict[str, int] | None = None,
        extra_state: dict[str, Any] | None = None,
    ) -> OracleChain:
        """Genesis with one validator per power (tokens = power * 10^6); ``extra_state`` adds modules."""
        keys = [seeded_key(f"consensus-{i}") for i in range(len(powers))]
        operators = [seeded_key(f"operator-{i}") for i in range(len(powers))]
        app = Application(
            AppConfig(db_path=db_path, consensus_address=address_from_pubkey(bytes(keys[0].verify_key)))
        )
        params: dict[str, Any] = {**TEST_ORACLE_PARAMS, **(oracle_params or {})}
        app_state = {
            "auth": {"accounts": [{"address": address_of(k)} for k in operators]},
            "bank": {
                "balances": [
                    {"address": address_of(k), "coins": [{"denom": "utask", "amount": "1000000000"}]}
                    for k in operators
                ]
            },
            "staking": {
                "validators": [
                    {
                        "operator_address": address_of(op),
                        "consensus_pubkey": base64.b64encode(bytes(k.verify_key)).decode(),
                        "tokens": str(p * 1_000_000),
                    }
                    for op, k, p in zip(operators, keys, powers, strict=True)
                ]
            },
            "oracle": {"params": params},
            "taskmaster": {"versions": task_versions or {}},
            **(extra_state or {}),
        }
        genesis = app.init_chain(
            abci.RequestInitChain(
                chain_id=CHAIN_ID,
                initial_height=1,
                app_state_bytes=json.dumps(app_state).encode(),
                time=Timestamp(seconds=1_700_000_000),
            )
        )
        chain = cls(app, keys, operators, powers)
        chain.cometbft = {v.pub_key.ed25519: v.power for v in genesis.validators}
        return chain

    def address(self, i: int) -> bytes:
        """Validator ``i``'s consensus address."""
        return address_from_pubkey(bytes(self.keys[i].verify_key))

    def votes(self, reports: list[dict[str, int] | None], round_: int = 0) -> abci.ExtendedCommitInfo:
        """The extended commit of this height: None = absent, else a signed extension of the prices.

        A validator of power 0 (set ``powers[i] = 0`` once CometBFT dropped it) has no vote at all.
        """
        info = abci.ExtendedCommitInfo(round=round_)
        for i, report in enumerate(reports):
            if self.powers[i] == 0:
                continue
            vote = info.votes.add()
            vote.validator.address = self.address(i)
            vote.validator.power = self.powers[i]
            if report is None:
                vote.block_id_flag = ABSENT
                continue
            vote.block_id_flag = COMMIT
            vote.vote_extension = encode_extension(report, PAIRS)
            vote.extension_signature = (
                self.keys[i]
                .sign(extension_sign_bytes(vote.vote_extension, self.height, round_, CHAIN_ID))
                .signature
            )
        return info

    def block(
        self,
        txs: list[bytes] | None = None,
        reports: list[dict[str, int] | None] | None = None,
        tamper: Callable[[abci.ExtendedCommitInfo], None] | None = None,
    ) -> abci.ResponseFinalizeBlock:
        """Prepare (validator 0 proposes), process, finalize and commit the next block.

        ``reports`` are the extensions of the votes on the *previous* height (carried into this block).
        ``tamper`` plays another proposer (validator 1) that changes the injection validator 0 built;
        validator 0 must still accept the proposal.
        """
        commit = self.votes(reports) if reports is not None else self.last_commit
        self.height += 1
        self.time_s += 1
        prepared = self.app.prepare_proposal(
            abci.RequestPrepareProposal(
                txs=txs or [],
                height=self.height,
                max_tx_bytes=1 << 20,
                local_last_commit=commit,
                time=Timestamp(seconds=self.time_s),
            )
        )
        block_txs = list(prepared.txs)
        proposer = self.address(0)
        if tamper is not None:
            injected = decode_injection(block_txs[0])
            tamper(injected)
            block_txs[0] = encode_injection(injected)
            proposer = self.address(1)
        last = last_commit_of(commit)
        processed = self.app.process_proposal(
            abci.RequestProcessProposal(
                txs=block_txs, height=self.height, proposed_last_commit=last, proposer_address=proposer
            )
        )
        assert processed.status == abci.ResponseProcessProposal.ACCEPT, "proposal rejected"
        response = self.app.finalize_block(
            abci.RequestFinalizeBlock(
                txs=block_txs,
                height=self.height,
                time=Timestamp(seconds=self.time_s),
                proposer_address=proposer,
                decided_last_commit=last,
            )
        )
        self.app.commit(abci.RequestCommit())
        self.prepared = block_txs
        for update in response.validator_updates:
            if update.power:
                self.cometbft[update.pub_key.ed25519] = update.power
            else:
                self.cometbft.pop(update.pub_key.ed25519, None)
        return response

    def query(self, path: str, request: object, response_type: type) -> object:
        """A module query over committed state."""
        answer = self.app.query(abci.RequestQuery(path=path, data=request.SerializeToString()))  # type: ignore[attr-defined]
        assert answer.code == 0, answer.log
        return response_type.FromString(answer.value)  # type: ignore[attr-defined]
