"""The Cosmos SDK's auth, bank, staking and node-config queries over ``abci_query``, on a real app.

What the standard clients read (docs/cosmos-services.md): accounts as BaseAccount Anys with the
SDK's key types, a Balance that always carries the requested denom, validators and delegations in
the SDK's shapes and addresses, and failures as ``rpc error: code = X desc = ...`` with the SDK's
codes. The same handlers serve gRPC (tests/integration/test_cosmos_clients.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import pytest
from cosmos.auth.v1beta1 import auth_pb2 as sdk_auth
from cosmos.auth.v1beta1 import query_pb2 as auth_q
from cosmos.bank.v1beta1 import query_pb2 as bank_q
from cosmos.base.node.v1beta1 import query_pb2 as node_q
from cosmos.base.tendermint.v1beta1 import query_pb2 as tm_q
from cosmos.crypto.ed25519 import keys_pb2 as ed25519_keys
from cosmos.crypto.secp256k1 import keys_pb2 as secp256k1_keys
from cosmos.staking.v1beta1 import query_pb2 as staking_q
from cosmos.staking.v1beta1 import staking_pb2 as sdk_staking
from google.protobuf.message import Message
from taskmaster.auth.v1 import auth_pb2
from taskmaster.staking.v1 import staking_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.modules import module_address
from abci_app.modules.auth import sdk_queries as auth_sdk
from abci_app.modules.cosmos_node.services import COSMOS_SDK_VERSION, abci_query_route
from abci_app.modules.grpc_status import bech32_of
from abci_app.modules.pagination import PageRequest
from abci_app.modules.staking import keeper as staking
from abci_app.modules.staking import sdk_queries as staking_sdk
from abci_app.router import default_router
from abci_app.tx.address import from_bech32
from tests.app.driver import Chain, address_of

UNKNOWN = bech32_of("task", bytes(20))
ROOT = Path(__file__).resolve().parents[2]


def _ask(chain: Chain, path: str, request: Message) -> abci.ResponseQuery:
    return chain.app.query(abci.RequestQuery(path=path, data=request.SerializeToString()))


M = TypeVar("M", bound=Message)


def _ok(chain: Chain, path: str, request: Message, response_type: type[M]) -> M:
    answer = _ask(chain, path, request)
    assert answer.code == 0, answer.log
    return response_type.FromString(answer.value)


def test_an_unknown_account_is_not_found_in_the_sdks_words(chain: Chain) -> None:
    answer = _ask(chain, "/cosmos.auth.v1beta1.Query/Account", auth_q.QueryAccountRequest(address=UNKNOWN))
    assert (answer.codespace, answer.code) == ("sdk", 38)
    assert answer.log == f"rpc error: code = NotFound desc = account {UNKNOWN} not found: key not found"


def test_a_malformed_address_is_an_invalid_request(chain: Chain) -> None:
    answer = _ask(chain, "/cosmos.auth.v1beta1.Query/Account", auth_q.QueryAccountRequest(address="cosmos1x"))
    assert (answer.codespace, answer.code) == ("sdk", 18)
    assert answer.log.startswith("rpc error: code = InvalidArgument desc = invalid address")


def test_an_account_is_a_base_account_whose_key_appears_with_its_first_tx(chain: Chain) -> None:
    user = address_of(chain.accounts["user0"])
    path = "/cosmos.auth.v1beta1.Query/Account"
    before = _ok(chain, path, auth_q.QueryAccountRequest(address=user), auth_q.QueryAccountResponse)
    assert before.account.type_url == "/cosmos.auth.v1beta1.BaseAccount"
    account = sdk_auth.BaseAccount.FromString(before.account.value)
    assert account.address == user and account.sequence == 0 and not account.HasField("pub_key")
    result = chain.block([chain.send_tx("user0", address_of(chain.accounts["user1"]), "5")])
    assert result.tx_results[0].code == 0, result.tx_results[0].log
    after = sdk_auth.BaseAccount.FromString(
        _ok(chain, path, auth_q.QueryAccountRequest(address=user), auth_q.QueryAccountResponse).account.value
    )
    assert after.sequence == 1 and after.account_number == account.account_number
    assert after.pub_key.type_url in ("/cosmos.crypto.ed25519.PubKey", "/cosmos.crypto.secp256k1.PubKey")


def test_account_keys_map_to_the_sdks_key_types() -> None:
    ed = auth_sdk.base_account(auth_pb2.Account(address=UNKNOWN, public_key=b"\x01" * 32))
    assert ed.pub_key.type_url == "/cosmos.crypto.ed25519.PubKey"
    assert ed25519_keys.PubKey.FromString(ed.pub_key.value).key == b"\x01" * 32
    secp = auth_sdk.base_account(auth_pb2.Account(address=UNKNOWN, public_key=b"\x02" + b"\x03" * 32))
    assert secp.pub_key.type_url == "/cosmos.crypto.secp256k1.PubKey"
    assert secp256k1_keys.PubKey.FromString(secp.pub_key.value).key == b"\x02" + b"\x03" * 32


def test_every_wired_module_account_has_a_name() -> None:
    named = {module_address(name) for name in auth_sdk.MODULE_ACCOUNTS}
    assert set(default_router().module_accounts) == named


def test_module_accounts_answer_as_module_accounts(chain: Chain) -> None:
    found = _ok(
        chain,
        "/cosmos.auth.v1beta1.Query/ModuleAccounts",
        auth_q.QueryModuleAccountsRequest(),
        auth_q.QueryModuleAccountsResponse,
    )
    accounts = [sdk_auth.ModuleAccount.FromString(a.value) for a in found.accounts]
    assert {a.name for a in accounts} == set(auth_sdk.MODULE_ACCOUNTS)
    bonded = next(a for a in accounts if a.name == "bonded_pool")
    assert list(bonded.permissions) == ["burner", "staking"]
    assert bonded.base_account.address == bech32_of("task", module_address("bonded_pool"))
    one = _ok(
        chain,
        "/cosmos.auth.v1beta1.Query/Account",
        auth_q.QueryAccountRequest(address=bonded.base_account.address),
        auth_q.QueryAccountResponse,
    )
    assert one.account.type_url == "/cosmos.auth.v1beta1.ModuleAccount"


def test_accounts_page(chain: Chain) -> None:
    first = _ok(
        chain,
        "/cosmos.auth.v1beta1.Query/Accounts",
        auth_q.QueryAccountsRequest(pagination=PageRequest(limit=2, count_total=True)),
        auth_q.QueryAccountsResponse,
    )
    assert len(first.accounts) == 2 and first.pagination.next_key and first.pagination.total >= 4
    rest = _ok(
        chain,
        "/cosmos.auth.v1beta1.Query/Accounts",
        auth_q.QueryAccountsRequest(pagination=PageRequest(key=first.pagination.next_key, limit=1000)),
        auth_q.QueryAccountsResponse,
    )
    assert len(first.accounts) + len(rest.accounts) == first.pagination.total


def test_a_balance_always_carries_the_requested_denom(chain: Chain) -> None:
    path = "/cosmos.bank.v1beta1.Query/Balance"
    zero = _ok(
        chain, path, bank_q.QueryBalanceRequest(address=UNKNOWN, denom="utask"), bank_q.QueryBalanceResponse
    )
    assert (zero.balance.denom, zero.balance.amount) == ("utask", "0")
    user = address_of(chain.accounts["user2"])
    funded = _ok(
        chain, path, bank_q.QueryBalanceRequest(address=user, denom="utask"), bank_q.QueryBalanceResponse
    )
    assert int(funded.balance.amount) == chain.balance(user)
    bad = _ask(chain, path, bank_q.QueryBalanceRequest(address=user, denom=""))
    assert bad.log.startswith("rpc error: code = InvalidArgument desc = invalid denom")


def test_supply_and_denom_metadata(chain: Chain) -> None:
    total = _ok(
        chain,
        "/cosmos.bank.v1beta1.Query/TotalSupply",
        bank_q.QueryTotalSupplyRequest(),
        bank_q.QueryTotalSupplyResponse,
    )
    of = _ok(
        chain,
        "/cosmos.bank.v1beta1.Query/SupplyOf",
        bank_q.QuerySupplyOfRequest(denom="utask"),
        bank_q.QuerySupplyOfResponse,
    )
    assert [(c.denom, c.amount) for c in total.supply] == [("utask", of.amount.amount)]
    meta = _ok(
        chain,
        "/cosmos.bank.v1beta1.Query/DenomMetadata",
        bank_q.QueryDenomMetadataRequest(denom="utask"),
        bank_q.QueryDenomMetadataResponse,
    ).metadata
    assert (meta.base, meta.display) == ("utask", "task")
    assert [(u.denom, u.exponent) for u in meta.denom_units] == [("utask", 0), ("task", 6)]
    other = _ask(
        chain, "/cosmos.bank.v1beta1.Query/DenomMetadata", bank_q.QueryDenomMetadataRequest(denom="uatom")
    )
    assert other.code == 38 and "NotFound" in other.log


def test_node_config_is_the_chains_minimum_gas_price(chain: Chain) -> None:
    config = _ok(
        chain, "/cosmos.base.node.v1beta1.Service/Config", node_q.ConfigRequest(), node_q.ConfigResponse
    )
    assert config.minimum_gas_price == "0.001000000000000000utask"  # 1000 utask per million gas
    assert auth_sdk.min_gas_price_dec("2500000") == "2.500000000000000000utask"


def test_validators_in_the_sdks_shape(chain: Chain) -> None:
    path = "/cosmos.staking.v1beta1.Query/Validators"
    bonded = _ok(
        chain,
        path,
        staking_q.QueryValidatorsRequest(status="BOND_STATUS_BONDED"),
        staking_q.QueryValidatorsResponse,
    )
    assert len(bonded.validators) == 1
    v = bonded.validators[0]
    operator = from_bech32(address_of(chain.accounts["operator"]))
    assert v.operator_address == bech32_of("taskvaloper", operator)
    assert v.consensus_pubkey.type_url == "/cosmos.crypto.ed25519.PubKey"
    assert ed25519_keys.PubKey.FromString(v.consensus_pubkey.value).key == bytes(
        chain.validator_key.verify_key
    )
    assert v.status == sdk_staking.BOND_STATUS_BONDED and v.tokens == "100000000"
    assert v.delegator_shares == "100000000.000000000000000000" and v.description.moniker == "v0"
    unbonded = _ok(
        chain,
        path,
        staking_q.QueryValidatorsRequest(status="BOND_STATUS_UNBONDED"),
        staking_q.QueryValidatorsResponse,
    )
    assert list(unbonded.validators) == []
    bad = _ask(chain, path, staking_q.QueryValidatorsRequest(status="BONDED"))
    assert bad.code == 18 and "InvalidArgument" in bad.log
    missing = _ask(
        chain,
        "/cosmos.staking.v1beta1.Query/Validator",
        staking_q.QueryValidatorRequest(validator_addr=bech32_of("taskvaloper", bytes(20))),
    )
    assert missing.code == 38 and missing.log.startswith("rpc error: code = NotFound desc = validator ")


def test_delegations_and_unbondings_map_from_the_keeper(chain: Chain) -> None:
    version = chain.app.store.last_version
    ctx = chain.app._context(chain.app.store.branch(version), version)
    operator = from_bech32(address_of(chain.accounts["operator"]))
    delegator = from_bech32(address_of(chain.accounts["user1"]))
    valoper, user = bech32_of("taskvaloper", operator), address_of(chain.accounts["user1"])
    staking.delegate(ctx, delegator, operator, 5_000_000)
    staking.undelegate(ctx, delegator, operator, 1_000_000)
    staking.undelegate(ctx, delegator, operator, 1_000_000)
    one = staking_sdk.query_delegation(
        ctx, staking_q.QueryDelegationRequest(delegator_addr=user, validator_addr=valoper)
    ).delegation_response
    assert one.delegation.validator_address == valoper and one.delegation.shares.endswith(
        ".000000000000000000"
    )
    assert (one.balance.denom, one.balance.amount) == ("utask", "3000000")
    mine = staking_sdk.query_delegator_delegations(
        ctx, staking_q.QueryDelegatorDelegationsRequest(delegator_addr=user)
    )
    assert [d.balance.amount for d in mine.delegation_responses] == ["3000000"]
    theirs = staking_sdk.query_validator_delegations(
        ctx, staking_q.QueryValidatorDelegationsRequest(validator_addr=valoper)
    )
    assert len(theirs.delegation_responses) == 2  # the operator's self-delegation and user1's
    unbond = staking_sdk.query_unbonding_delegation(
        ctx, staking_q.QueryUnbondingDelegationRequest(delegator_addr=user, validator_addr=valoper)
    ).unbond
    assert unbond.validator_address == valoper and [e.balance for e in unbond.entries] == [
        "1000000",
        "1000000",
    ]
    listed = staking_sdk.query_delegator_unbonding_delegations(
        ctx, staking_q.QueryDelegatorUnbondingDelegationsRequest(delegator_addr=user)
    )
    assert len(listed.unbonding_responses) == 1 and len(listed.unbonding_responses[0].entries) == 2
    by_validator = staking_sdk.query_validator_unbonding_delegations(
        ctx, staking_q.QueryValidatorUnbondingDelegationsRequest(validator_addr=valoper)
    )
    assert [u.delegator_address for u in by_validator.unbonding_responses] == [user]
    validators = staking_sdk.query_delegator_validators(
        ctx, staking_q.QueryDelegatorValidatorsRequest(delegator_addr=user)
    )
    assert [v.operator_address for v in validators.validators] == [valoper]
    pool = staking_sdk.query_pool(ctx, staking_q.QueryPoolRequest()).pool
    assert int(pool.not_bonded_tokens) >= 2_000_000


@pytest.mark.parametrize(
    ("bps", "text"),
    [(0, "0.000000000000000000"), (500, "0.050000000000000000"), (10_000, "1.000000000000000000")],
)
def test_basis_points_as_sdk_decs(bps: int, text: str) -> None:
    assert staking_sdk.dec_of_bps(bps) == text


def test_the_advertised_sdk_version_is_the_one_generated() -> None:
    assert (ROOT / "COSMOS_SDK_VERSION").read_text().strip() == COSMOS_SDK_VERSION


def test_the_status_filter_splits_the_active_set_from_the_rest(chain: Chain) -> None:
    version = chain.app.store.last_version
    ctx = chain.app._context(chain.app.store.branch(version), version)
    newcomer = from_bech32(address_of(chain.accounts["user2"]))
    staking.create_validator(
        ctx,
        newcomer,
        b"\x05" * 32,
        5_000_000,
        staking_pb2.Description(moniker="newcomer"),
        staking_pb2.CommissionRates(rate_bps=500, max_rate_bps=2000, max_change_rate_bps=100),
    )  # not in the active set before its end block

    def listed(status: str) -> list[str]:
        found = staking_sdk.query_validators(ctx, staking_q.QueryValidatorsRequest(status=status))
        return [v.description.moniker for v in found.validators]

    assert listed("BOND_STATUS_BONDED") == ["v0"]
    assert listed("BOND_STATUS_UNBONDED") == ["newcomer"]
    assert listed("BOND_STATUS_UNBONDING") == []
    assert sorted(listed("")) == ["newcomer", "v0"]
    page = staking_sdk.query_validators(
        ctx, staking_q.QueryValidatorsRequest(pagination=PageRequest(limit=1, count_total=True))
    )
    assert len(page.validators) == 1 and page.pagination.total == 2 and page.pagination.next_key
    rate = staking_sdk.query_validator(
        ctx, staking_q.QueryValidatorRequest(validator_addr=bech32_of("taskvaloper", newcomer))
    ).validator.commission.commission_rates
    assert (rate.rate, rate.max_rate) == ("0.050000000000000000", "0.200000000000000000")


def test_abci_query_through_the_tendermint_service(chain: Chain) -> None:
    route = abci_query_route(chain.app.query)
    chain.app.router.queries[route.path] = route
    user = address_of(chain.accounts["user0"])
    inner = bank_q.QueryBalanceRequest(address=user, denom="utask")
    answer = _ok(
        chain,
        route.path,
        tm_q.ABCIQueryRequest(path="/cosmos.bank.v1beta1.Query/Balance", data=inner.SerializeToString()),
        tm_q.ABCIQueryResponse,
    )
    assert answer.code == 0 and answer.height == chain.app.store.last_version
    assert int(bank_q.QueryBalanceResponse.FromString(answer.value).balance.amount) == chain.balance(user)
    missing = _ok(
        chain,
        route.path,
        tm_q.ABCIQueryRequest(
            path="/cosmos.auth.v1beta1.Query/Account",
            data=auth_q.QueryAccountRequest(address=UNKNOWN).SerializeToString(),
        ),
        tm_q.ABCIQueryResponse,
    )
    assert (missing.codespace, missing.code) == ("sdk", 38)  # the inner failure is the answer, as the SDK's
    nested = _ask(chain, route.path, tm_q.ABCIQueryRequest(path=route.path))
    assert nested.code == 18 and "cannot query ABCIQuery" in nested.log
