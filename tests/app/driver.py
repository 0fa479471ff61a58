"""Drive an in-process Application block by block, as CometBFT would (no socket), for app-level tests.

Also runnable as ``python -m tests.app.driver DB BLOCKS`` to print one app hash per height: the
determinism test runs it under different ``PYTHONHASHSEED`` values and compares the output.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from dataclasses import dataclass, field

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nacl.signing import SigningKey
from taskmaster.bank.v1 import bank_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.router import Router
from abci_app.tx.address import address_from_pubkey, to_bech32
from abci_app.tx.codec import build_tx

CHAIN_ID = "test-chain"


def seeded_key(label: str) -> SigningKey:
    """A deterministic key derived from ``label`` (tests only)."""
    return SigningKey(hashlib.sha256(label.encode()).digest())


def address_of(key: SigningKey) -> str:
    """The bech32 address of a key."""
    return to_bech32(address_from_pubkey(bytes(key.verify_key)))


@dataclass
class Chain:
    """An Application plus the bookkeeping a client would do (sequences, heights, time)."""

    app: Application
    height: int = 0
    time_s: int = 1_700_000_000
    sequences: dict[str, int] = field(default_factory=dict)
    validator_key: SigningKey = field(default_factory=lambda: seeded_key("validator-consensus"))
    accounts: dict[str, SigningKey] = field(default_factory=dict)

    @classmethod
    def start(
        cls,
        db_path: str,
        accounts: int = 3,
        balance: int = 10**12,
        router: Router | None = None,
        staking_params: dict[str, str] | None = None,
    ) -> Chain:
        """A fresh app at genesis with ``accounts`` funded keys ``user0..``, one validator.

        ``router`` wires other modules than the chain's own (the default); ``staking_params`` are
        staking's genesis params.
        """
        chain = cls(Application(AppConfig(db_path=db_path), router))
        keys = {f"user{i}": seeded_key(f"user{i}") for i in range(accounts)}
        operator = seeded_key("operator")
        keys["operator"] = operator
        chain.accounts = keys
        app_state = {
            "auth": {"accounts": [{"address": address_of(k)} for k in keys.values()]},
            "bank": {
                "balances": [
                    {"address": address_of(k), "coins": [{"denom": "utask", "amount": str(balance)}]}
                    for k in keys.values()
                ]
            },
            "staking": {
                "validators": [
                    {
                        "operator_address": address_of(operator),
                        "consensus_pubkey": base64.b64encode(bytes(chain.validator_key.verify_key)).decode(),
                        "tokens": "100000000",
                        "moniker": "v0",
                    }
                ],
                "params": staking_params or {},
            },
        }
        chain.app.init_chain(
            abci.RequestInitChain(
                chain_id=CHAIN_ID,
                initial_height=1,
                app_state_bytes=json.dumps(app_state).encode(),
                time=Timestamp(seconds=chain.time_s),
            )
        )
        return chain

    @property
    def proposer(self) -> bytes:
        """The consensus address of the single validator."""
        return address_from_pubkey(bytes(self.validator_key.verify_key))

    def send_tx(
        self,
        sender: str,
        recipient: str,
        amount: str,
        *,
        fee: int = 500,
        gas: int = 200_000,
        sequence: int | None = None,
    ) -> bytes:
        """A signed MsgSend from account ``sender`` (a key name) to address ``recipient``."""
        key = self.accounts[sender]
        seq = self.sequences.get(sender, 0) if sequence is None else sequence
        if sequence is None:
            self.sequences[sender] = seq + 1
        msg = bank_pb2.MsgSend(
            from_address=address_of(key),
            to_address=recipient,
            amount=[bank_pb2.Coin(denom="utask", amount=amount)],
        )
        return build_tx(
            key,
            [msg],
            chain_id=CHAIN_ID,
            account_number=self.account_number(address_of(key)),
            sequence=seq,
            fee=fee,
            gas_limit=gas,
        )

    def sign(self, name: str, messages: list[Message], *, fee: int = 500, gas: int = 200_000) -> bytes:
        """A tx of ``messages`` signed by account ``name`` at its next sequence."""
        key = self.accounts[name]
        seq = self.sequences.get(name, 0)
        self.sequences[name] = seq + 1
        return build_tx(
            key,
            messages,
            chain_id=CHAIN_ID,
            account_number=self.account_number(address_of(key)),
            sequence=seq,
            fee=fee,
            gas_limit=gas,
        )

    def account_number(self, address: str) -> int:
        """The account number from the app's committed-or-genesis state."""
        from abci_app.modules.auth import keeper
        from abci_app.tx.address import from_bech32

        ctx = self.app._context(self.app._block_branch(), self.height + 1)
        account = keeper.get_account(ctx, from_bech32(address))
        assert account is not None, address
        return account.account_number

    def block(self, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
        """Propose, process, finalize and commit one block holding ``txs``; returns FinalizeBlock's answer."""
        self.height += 1
        self.time_s += 1
        response = self.app.finalize_block(
            abci.RequestFinalizeBlock(
                txs=txs,
                height=self.height,
                time=Timestamp(seconds=self.time_s),
                proposer_address=self.proposer,
            )
        )
        self.app.commit(abci.RequestCommit())
        return response

    def balance(self, address: str, denom: str = "utask") -> int:
        """A committed balance."""
        from abci_app.modules.bank import keeper
        from abci_app.tx.address import from_bech32

        ctx = self.app._context(self.app._block_branch(), self.height)
        return keeper.balance(ctx, from_bech32(address), denom)


def main() -> None:
    """Run BLOCKS blocks of deterministic sends on a fresh DB and print each height's app hash."""
    db_path, blocks = sys.argv[1], int(sys.argv[2])
    chain = Chain.start(db_path, accounts=8)
    names = sorted(k for k in chain.accounts if k.startswith("user"))
    for h in range(blocks):
        txs = [
            chain.send_tx(
                names[(h + i) % len(names)], address_of(seeded_key(f"new{h}-{i}")), str(1 + i * 7 + h)
            )
            for i in range(5)
        ]
        response = chain.block(txs)
        print(chain.height, response.app_hash.hex(), [r.code for r in response.tx_results], flush=True)
    chain.app.close()


if __name__ == "__main__":
    main()
