"""Genesis of the staking module: params, validators, delegations, unbondings and the gentxs.

Two forms of the pools, told apart by their balances after bank's genesis:

* hand-written: bank gives the bonded (unbonding) pool nothing, and the validators' tokens (the
  pending unbondings) are minted into it;
* an export: bank's balances already hold the pools, so nothing is minted and each pool must hold
  exactly what the records say.

A hand-written validator without delegations self-delegates its tokens (one share per utask). Then
each of ``gen_txs`` (``taskmaster gentx``: a signed MsgCreateValidator) runs through the ante checks
(signature, chain id, sequence, fee) and the create-validator handler, as Cosmos SDK's genutil delivers
gentxs. The first active set, the top ``max_validators`` unjailed validators, is InitChain's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from taskmaster.staking.v1 import staking_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.errors import AppError
from abci_app.modules import parse_genesis
from abci_app.modules.bank import keeper as bank
from abci_app.modules.genesis_json import genesis_json
from abci_app.modules.staking import keeper
from abci_app.modules.staking.msgs import ROUTES, handle_create_validator
from abci_app.tx.address import address_from_pubkey, from_bech32, to_bech32
from abci_app.tx.ante import GENESIS_ACCOUNT_NUMBER, SignatureCache, run_ante
from abci_app.tx.codec import decode_tx, sign_bytes

CREATE_VALIDATOR_URL = "/" + staking_pb2.MsgCreateValidator.DESCRIPTOR.full_name


def init_genesis(ctx: Context, state: Mapping[str, Any]) -> list[abci.ValidatorUpdate]:
    """Store the genesis records, deliver the gentxs; the first validator set.

    Raises INVALID_VALIDATOR naming the entry and field that is wrong.
    """
    genesis = parse_genesis(state, keeper.DEFAULT_PARAMS, staking_pb2.GenesisState())
    keeper.set_params(ctx, genesis.params)
    denom = genesis.params.bond_denom
    mint_bonded = bank.balance(ctx, keeper.BONDED_POOL, denom) == 0
    mint_unbonding = bank.balance(ctx, keeper.UNBONDING_POOL, denom) == 0
    self_delegate = not genesis.delegations
    bonded = sum(
        _init_validator(ctx, i, v, mint_bonded, self_delegate) for i, v in enumerate(genesis.validators)
    )
    for i, delegation in enumerate(genesis.delegations):
        _init_delegation(ctx, i, delegation)
    seen_ids: set[int] = set()
    pending = sum(
        _init_unbonding(ctx, i, e, mint_unbonding, seen_ids) for i, e in enumerate(genesis.unbonding_entries)
    )
    _check_pool(ctx, keeper.BONDED_POOL, "bonded", bonded, "the validators bond")
    _check_pool(ctx, keeper.UNBONDING_POOL, "unbonding", pending, "the unbonding entries hold")
    for i, raw in enumerate(genesis.gen_txs):
        deliver_gentx(ctx, raw, f"staking genesis gen_txs[{i}]")
    return keeper.apply_validator_set(ctx)


def _init_validator(
    ctx: Context, i: int, validator: staking_pb2.Validator, mint: bool, self_delegate: bool
) -> int:
    """Store one genesis validator; its tokens."""
    where = f"staking genesis validators[{i}]"
    operator = from_bech32(validator.operator_address, f"{where}.operator_address")
    if keeper.get_validator(ctx, operator) is not None:
        raise keeper.INVALID_VALIDATOR(f"operator {validator.operator_address} appears twice in genesis")
    if len(validator.consensus_pubkey) != 32:
        raise keeper.INVALID_VALIDATOR(f"{where}.consensus_pubkey must be 32 bytes of ed25519")
    if keeper.operator_of(ctx, address_from_pubkey(validator.consensus_pubkey)) is not None:
        raise keeper.INVALID_VALIDATOR(f"consensus key of {validator.operator_address} is used twice")
    exported_empty = not self_delegate and validator.tokens == "0"  # fully undelegated
    tokens = 0 if exported_empty else bank.parse_amount(validator.tokens, f"{where}.tokens")
    if mint and tokens:
        bank.mint(ctx, keeper.BONDED_POOL, keeper.bond_denom(ctx), tokens)
    power = 0 if validator.jailed else keeper.power_from_tokens(ctx, tokens)
    if not validator.jailed and power <= 0 and self_delegate:
        raise keeper.INVALID_VALIDATOR(
            f"{validator.operator_address} bonds {tokens}, less than one unit of power "
            f"({keeper.get_params(ctx).power_reduction}); bond more"
        )
    if validator.power not in (0, power):
        raise keeper.INVALID_VALIDATOR(
            f"{where}.power is {validator.power} but its tokens (jailed: {validator.jailed}) give "
            f"{power}; leave power out or give {power}"
        )
    validator.power = power
    validator.active = False  # the set is computed below, from the records
    if self_delegate:
        validator.delegator_shares = str(tokens)
        keeper.set_delegation(ctx, operator, operator, tokens)
    elif not validator.delegator_shares:
        raise keeper.INVALID_VALIDATOR(f"{where}.delegator_shares must be given with delegations")
    if not validator.moniker and validator.description.moniker:
        validator.moniker = validator.description.moniker
    keeper.set_validator(ctx, operator, validator)
    return tokens


def _init_delegation(ctx: Context, i: int, delegation: staking_pb2.Delegation) -> None:
    where = f"staking genesis delegations[{i}]"
    delegator = from_bech32(delegation.delegator_address, f"{where}.delegator_address")
    operator = from_bech32(delegation.validator_address, f"{where}.validator_address")
    if keeper.get_validator(ctx, operator) is None:
        raise keeper.INVALID_VALIDATOR(f"{where}: no genesis validator {delegation.validator_address}")
    if keeper.get_delegation(ctx, delegator, operator) is not None:
        raise keeper.INVALID_VALIDATOR(f"{where}: this delegation appears twice")
    keeper.set_delegation(ctx, delegator, operator, bank.parse_amount(delegation.shares, f"{where}.shares"))


def _init_unbonding(
    ctx: Context, i: int, entry: staking_pb2.UnbondingEntry, mint: bool, seen_ids: set[int]
) -> int:
    """Queue one pending unbonding; ``seen_ids`` holds the ids of the entries before it (one set
    lookup each, not a re-read of every earlier entry: an import stays linear in the entries)."""
    where = f"staking genesis unbonding_entries[{i}]"
    delegator = from_bech32(entry.delegator_address, f"{where}.delegator_address")
    from_bech32(entry.validator_address, f"{where}.validator_address")
    balance = bank.parse_amount(entry.balance, f"{where}.balance")
    if entry.id == 0 or not 0 <= entry.completion_height < 2**62:
        raise keeper.INVALID_VALIDATOR(f"{where}: id must be > 0 and completion_height within int64")
    if entry.id in seen_ids:
        raise keeper.INVALID_VALIDATOR(f"{where}: id {entry.id} is used twice")
    seen_ids.add(entry.id)
    if mint:
        bank.mint(ctx, keeper.UNBONDING_POOL, keeper.bond_denom(ctx), balance)
    keeper.add_unbonding_entry(ctx, delegator, entry)
    return balance


def _check_pool(ctx: Context, pool: bytes, name: str, expected: int, what: str) -> None:
    denom = keeper.bond_denom(ctx)
    held = bank.balance(ctx, pool, denom)
    if held != expected:
        raise keeper.INVALID_VALIDATOR(
            f"bank genesis gives the {name} pool {held}{denom} but {what} {expected}; leave the pool out "
            f"of bank balances (it is then minted) or give it exactly {expected}"
        )


def _resolve(type_url: str) -> type[Message] | None:
    return staking_pb2.MsgCreateValidator if type_url == CREATE_VALIDATOR_URL else None


@dataclass(frozen=True)
class GenTx:
    """A gentx that decodes and carries a valid signature: what it asks, before any state is read."""

    raw: bytes
    message: staking_pb2.MsgCreateValidator
    fee: int
    memo: str


def read_gentx(raw: bytes, chain_id: str) -> GenTx:
    """Decode a gentx and check what needs no state: one MsgCreateValidator, signed by its operator
    for ``chain_id`` (over the genesis account number). INVALID_VALIDATOR says what is wrong."""
    try:
        dtx = decode_tx(raw, _resolve)
    except AppError as exc:
        raise keeper.INVALID_VALIDATOR(f"not a gentx: {exc.log}") from exc
    if len(dtx.messages) != 1 or not isinstance(dtx.messages[0], staking_pb2.MsgCreateValidator):
        raise keeper.INVALID_VALIDATOR("a gentx holds exactly one MsgCreateValidator")
    message = dtx.messages[0]
    signer = to_bech32(address_from_pubkey(dtx.public_key))
    if signer != message.operator_address:
        raise keeper.INVALID_VALIDATOR(
            f"signed by {signer}, but it creates the validator of {message.operator_address[:64]}"
        )
    signed = sign_bytes(dtx.tx.body_bytes, dtx.tx.auth_info_bytes, chain_id, GENESIS_ACCOUNT_NUMBER)
    if not SignatureCache().verify(dtx.public_key, signed, dtx.signature):
        raise keeper.INVALID_VALIDATOR(
            f"bad signature: the gentx of {signer} was changed after it was signed, or signed for "
            "another chain; ask its operator for a fresh `taskmaster gentx`"
        )
    return GenTx(raw, message, dtx.fee, dtx.body.memo)


def deliver_gentx(ctx: Context, raw: bytes, where: str) -> None:
    """Run one gentx: exactly one MsgCreateValidator, ante-checked (signature, sequence, fee) like a tx."""
    try:
        read_gentx(raw, ctx.chain_id)
        dtx = decode_tx(raw, _resolve)
        routes = {"/" + r.msg_type.DESCRIPTOR.full_name: r for r in ROUTES}
        run_ante(ctx, dtx, routes, SignatureCache(), genesis=True)
        message = dtx.messages[0]
        assert isinstance(message, staking_pb2.MsgCreateValidator)
        handle_create_validator(ctx, message)
    except AppError as exc:
        if exc.error is keeper.INVALID_VALIDATOR:
            raise keeper.INVALID_VALIDATOR(f"{where}: {exc.message}") from exc
        raise keeper.INVALID_VALIDATOR(f"{where}: {exc.log}") from exc


def export_genesis(ctx: Context) -> dict[str, Any]:
    """Params, validators, delegations and pending unbondings, each sorted by its key."""
    genesis = staking_pb2.GenesisState(
        params=keeper.get_params(ctx),
        validators=[v for _, v in keeper.validators(ctx)],
        delegations=keeper.all_delegations(ctx),
        unbonding_entries=keeper.all_unbonding_entries(ctx),
    )
    return genesis_json(genesis)
