"""A chain for staking tests: the driver's one-validator chain with a small active set and short unbonding."""

from __future__ import annotations

from google.protobuf.message import Message
from taskmaster.staking.v1 import staking_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.modules.staking import keeper
from abci_app.tx.address import from_bech32
from tests.app.driver import Chain, address_of, seeded_key

PARAMS = {"max_validators": "2", "unbonding_blocks": "3"}


def start(db_path: str, params: dict[str, str] | None = None) -> Chain:
    """The driver's chain (validator ``operator`` bonding 100 power, users user0..2) with ``PARAMS``."""
    return Chain.start(db_path, accounts=3, staking_params=params or PARAMS)


def consensus_key(label: str) -> bytes:
    """A deterministic 32-byte ed25519 consensus key."""
    return bytes(seeded_key(f"consensus-{label}").verify_key)


def addr(chain: Chain, name: str) -> str:
    """The bech32 address of account ``name``."""
    return address_of(chain.accounts[name])


def create(chain: Chain, name: str, amount: int, moniker: str = "") -> staking_pb2.MsgCreateValidator:
    """A MsgCreateValidator of account ``name`` with its own consensus key."""
    return staking_pb2.MsgCreateValidator(
        operator_address=addr(chain, name),
        consensus_pubkey=consensus_key(name),
        self_bond=str(amount),
        description=staking_pb2.Description(moniker=moniker or name),
        commission=staking_pb2.CommissionRates(rate_bps=500, max_rate_bps=2000, max_change_rate_bps=100),
    )


def delegate(chain: Chain, name: str, validator: str, amount: int) -> staking_pb2.MsgDelegate:
    """A MsgDelegate of account ``name``."""
    return staking_pb2.MsgDelegate(
        delegator_address=addr(chain, name), validator_address=validator, amount=str(amount)
    )


def undelegate(chain: Chain, name: str, validator: str, amount: int) -> staking_pb2.MsgUndelegate:
    """A MsgUndelegate of account ``name``."""
    return staking_pb2.MsgUndelegate(
        delegator_address=addr(chain, name), validator_address=validator, amount=str(amount)
    )


def run(chain: Chain, name: str, *messages: Message) -> abci.ResponseFinalizeBlock:
    """One block holding one tx of ``messages`` signed by ``name``."""
    return chain.block([chain.sign(name, list(messages))])


def updates(response: abci.ResponseFinalizeBlock) -> list[tuple[bytes, int]]:
    """The block's validator updates as (consensus key, power)."""
    return [(u.pub_key.ed25519, u.power) for u in response.validator_updates]


def view(chain: Chain) -> Context:
    """A context over the committed state."""
    return chain.app._context(chain.app._block_branch(), chain.height)


def validator(chain: Chain, name: str) -> staking_pb2.Validator:
    """The committed validator record of account ``name``."""
    found = keeper.get_validator(view(chain), from_bech32(addr(chain, name)))
    assert found is not None, name
    return found
