"""``cosmos.auth.v1beta1.Query``: the Cosmos SDK's auth queries over the auth keeper's accounts.

An account answers as ``Any{/cosmos.auth.v1beta1.BaseAccount}``: ``address`` (bech32 ``task1...``),
``pub_key`` (``/cosmos.crypto.ed25519.PubKey`` for a 32-byte key, ``/cosmos.crypto.secp256k1.PubKey``
for a 33-byte compressed one; absent until the account's first tx), ``account_number``, ``sequence``.
A module account answers as ``Any{/cosmos.auth.v1beta1.ModuleAccount}`` with its name and permissions.
An unknown address is NotFound (``rpc error: code = NotFound desc = account <addr> not found: key not
found``, ``sdk`` 38, over ``abci_query``), as the SDK's.
"""

from __future__ import annotations

from collections.abc import Iterator

from cosmos.auth.v1beta1 import auth_pb2 as sdk_auth
from cosmos.auth.v1beta1 import query_pb2 as q
from cosmos.base.node.v1beta1 import query_pb2 as node_query
from cosmos.crypto.ed25519 import keys_pb2 as ed25519_keys
from cosmos.crypto.secp256k1 import keys_pb2 as secp256k1_keys
from google.protobuf import any_pb2
from taskmaster.auth.v1 import auth_pb2

from abci_app.context import Context
from abci_app.modules import QueryRoute, module_address
from abci_app.modules.auth import keeper
from abci_app.modules.auth.keys import ACCOUNT_PREFIX, STORE
from abci_app.modules.bank.keeper import NATIVE_DENOM
from abci_app.modules.grpc_status import bech32_of, invalid_argument, not_found, parse_address
from abci_app.modules.pagination import paginate

SERVICE = "cosmos.auth.v1beta1.Query"
PREFIX = "task"

MODULE_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "fee_collector": (),
    "bonded_pool": ("burner", "staking"),
    "unbonding_pool": ("burner", "staking"),
    "tasks": (),
    "tasks_fee_pool": (),
    "tasks_allowance": (),
}
"""The chain's module accounts by name (``module_address(name)``) and their SDK permissions; a test
checks that they are exactly the module accounts the router wires (``Module.accounts``)."""


def pub_key_any(public_key: bytes) -> any_pb2.Any | None:
    """An account key as the SDK's Any: 32 bytes ed25519, 33 bytes secp256k1; None when not yet known."""
    if not public_key:
        return None
    packed = any_pb2.Any()
    if len(public_key) == 33:
        packed.Pack(secp256k1_keys.PubKey(key=public_key), type_url_prefix="/")
    else:
        packed.Pack(ed25519_keys.PubKey(key=public_key), type_url_prefix="/")
    return packed


def base_account(account: auth_pb2.Account) -> sdk_auth.BaseAccount:
    """The SDK's BaseAccount of an auth keeper record."""
    out = sdk_auth.BaseAccount(
        address=account.address, account_number=account.account_number, sequence=account.sequence
    )
    key = pub_key_any(account.public_key)
    if key is not None:
        out.pub_key.CopyFrom(key)
    return out


def _module_names(ctx: Context) -> Iterator[tuple[str, bytes]]:
    for name in sorted(MODULE_ACCOUNTS):
        yield name, module_address(name)


def _module_account(ctx: Context, name: str, address: bytes) -> sdk_auth.ModuleAccount:
    record = keeper.get_account(ctx, address) or auth_pb2.Account(address=bech32_of(PREFIX, address))
    return sdk_auth.ModuleAccount(
        base_account=base_account(record), name=name, permissions=list(MODULE_ACCOUNTS[name])
    )


def _packed(ctx: Context, address: bytes, account: auth_pb2.Account) -> any_pb2.Any:
    packed = any_pb2.Any()
    names = {a: n for n, a in _module_names(ctx)}
    if address in names:
        packed.Pack(_module_account(ctx, names[address], address), type_url_prefix="/")
    else:
        packed.Pack(base_account(account), type_url_prefix="/")
    return packed


def _existing(ctx: Context, text: str) -> tuple[bytes, auth_pb2.Account]:
    address = parse_address(text, "address", PREFIX)
    account = keeper.get_account(ctx, address)
    if account is None:
        raise not_found(f"account {text} not found")
    return address, account


def query_account(ctx: Context, req: q.QueryAccountRequest) -> q.QueryAccountResponse:
    """One account as an Any (BaseAccount, or ModuleAccount for a module's); NotFound when unknown."""
    address, account = _existing(ctx, req.address)
    return q.QueryAccountResponse(account=_packed(ctx, address, account))


def query_account_info(ctx: Context, req: q.QueryAccountInfoRequest) -> q.QueryAccountInfoResponse:
    """One account's BaseAccount fields; NotFound when unknown."""
    _, account = _existing(ctx, req.address)
    return q.QueryAccountInfoResponse(info=base_account(account))


def query_accounts(ctx: Context, req: q.QueryAccountsRequest) -> q.QueryAccountsResponse:
    """One page of every account, by address bytes."""
    page = paginate(ctx.store(STORE), req.pagination, ACCOUNT_PREFIX)
    accounts = []
    for key in page.keys:  # the page's addresses; each record read through the keeper
        address = key[len(ACCOUNT_PREFIX) :]
        account = keeper.get_account(ctx, address)
        if account is not None:
            accounts.append(_packed(ctx, address, account))
    return q.QueryAccountsResponse(accounts=accounts, pagination=page.response)


def query_params(ctx: Context, req: q.QueryParamsRequest) -> q.QueryParamsResponse:
    """The auth params in the SDK's shape: one signature per tx, one verify cost for both key types."""
    params = keeper.get_params(ctx)
    return q.QueryParamsResponse(
        params=sdk_auth.Params(
            max_memo_characters=params.max_memo_bytes,
            tx_sig_limit=1,
            tx_size_cost_per_byte=params.gas_per_tx_byte,
            sig_verify_cost_ed25519=params.gas_sig_verify,
            sig_verify_cost_secp256k1=params.gas_sig_verify,
        )
    )


def query_module_accounts(ctx: Context, req: q.QueryModuleAccountsRequest) -> q.QueryModuleAccountsResponse:
    """Every module account, by name."""
    out = q.QueryModuleAccountsResponse()
    for name, address in _module_names(ctx):
        out.accounts.add().Pack(_module_account(ctx, name, address), type_url_prefix="/")
    return out


def query_module_account_by_name(
    ctx: Context, req: q.QueryModuleAccountByNameRequest
) -> q.QueryModuleAccountByNameResponse:
    """One module account by name; NotFound when the chain has none of that name."""
    for name, address in _module_names(ctx):
        if name == req.name:
            out = q.QueryModuleAccountByNameResponse()
            out.account.Pack(_module_account(ctx, name, address), type_url_prefix="/")
            return out
    raise not_found(f"account {req.name} not found")


def query_bech32_prefix(ctx: Context, req: q.Bech32PrefixRequest) -> q.Bech32PrefixResponse:
    """The account address prefix, ``task``."""
    return q.Bech32PrefixResponse(bech32_prefix=PREFIX)


def query_address_bytes_to_string(
    ctx: Context, req: q.AddressBytesToStringRequest
) -> q.AddressBytesToStringResponse:
    """20 address bytes as ``task1...``."""
    if len(req.address_bytes) != 20:
        raise invalid_argument(f"address_bytes must be 20 bytes, got {len(req.address_bytes)}")
    return q.AddressBytesToStringResponse(address_string=bech32_of(PREFIX, req.address_bytes))


def query_address_string_to_bytes(
    ctx: Context, req: q.AddressStringToBytesRequest
) -> q.AddressStringToBytesResponse:
    """``task1...`` as its 20 bytes."""
    return q.AddressStringToBytesResponse(address_bytes=parse_address(req.address_string, "address_string"))


def min_gas_price_dec(min_gas_price: str) -> str:
    """The auth param (utask per 1,000,000 gas) as a DecCoin string: 1000 -> 0.001000000000000000utask."""
    scaled = int(min_gas_price or "0") * 10**12  # per gas, 18 decimals
    return f"{scaled // 10**18}.{scaled % 10**18:018d}{NATIVE_DENOM}"


def node_config(ctx: Context, req: node_query.ConfigRequest) -> node_query.ConfigResponse:
    """``cosmos.base.node.v1beta1.Service/Config``: the chain's minimum gas price (a consensus param
    here, the same on every node, where the SDK's is each node's own setting)."""
    return node_query.ConfigResponse(
        minimum_gas_price=min_gas_price_dec(keeper.get_params(ctx).min_gas_price)
    )


def _route(method: str, request: type, response: type, handler: object) -> QueryRoute:
    return QueryRoute(SERVICE, method, request, response, handler)  # type: ignore[arg-type]


ROUTES = (
    _route("Account", q.QueryAccountRequest, q.QueryAccountResponse, query_account),
    _route("AccountInfo", q.QueryAccountInfoRequest, q.QueryAccountInfoResponse, query_account_info),
    _route("Accounts", q.QueryAccountsRequest, q.QueryAccountsResponse, query_accounts),
    _route("Params", q.QueryParamsRequest, q.QueryParamsResponse, query_params),
    _route(
        "ModuleAccounts", q.QueryModuleAccountsRequest, q.QueryModuleAccountsResponse, query_module_accounts
    ),
    _route(
        "ModuleAccountByName",
        q.QueryModuleAccountByNameRequest,
        q.QueryModuleAccountByNameResponse,
        query_module_account_by_name,
    ),
    _route("Bech32Prefix", q.Bech32PrefixRequest, q.Bech32PrefixResponse, query_bech32_prefix),
    _route(
        "AddressBytesToString",
        q.AddressBytesToStringRequest,
        q.AddressBytesToStringResponse,
        query_address_bytes_to_string,
    ),
    _route(
        "AddressStringToBytes",
        q.AddressStringToBytesRequest,
        q.AddressStringToBytesResponse,
        query_address_string_to_bytes,
    ),
    QueryRoute(
        "cosmos.base.node.v1beta1.Service",
        "Config",
        node_query.ConfigRequest,
        node_query.ConfigResponse,
        node_config,
    ),
)
