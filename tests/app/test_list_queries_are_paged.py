"""List queries answer one bounded page (issue 20: 1,500 validators made one Validators answer 5.7 MB).

Served through ``abci_query`` (the gRPC server calls the same route handlers): the default page holds
100 items, a page at most 1000, a larger limit is refused naming the maximum, and following
``next_key`` reaches every item exactly once, forwards and in reverse.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from taskmaster.staking.v1 import staking_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.app import AppConfig, Application
from abci_app.grpc.server import build_server
from abci_app.modules import QUERY_INVALID
from abci_app.modules.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from abci_app.modules.staking import keeper, queries
from abci_app.tx.address import from_bech32, to_bech32
from tests.app.driver import CHAIN_ID, Chain

VALIDATORS = 1_500
SERVICE = "/taskmaster.staking.v1.Query"


def _operator(i: int) -> bytes:
    return b"\x07" + i.to_bytes(19, "big")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Application]:
    """A chain whose genesis holds 1,500 validators of one unit of power each (the issue's spam)."""
    app = Application(AppConfig(db_path=str(tmp_path_factory.mktemp("paged") / "db")))
    validators = [
        {
            "operator_address": to_bech32(_operator(i)),
            "consensus_pubkey": base64.b64encode(i.to_bytes(32, "big")).decode(),
            "tokens": "1000000",
            "moniker": f"spam-{i}",
            "description": {"details": "x" * 280},
        }
        for i in range(VALIDATORS)
    ]
    state = {"staking": {"validators": validators}}
    app.init_chain(
        abci.RequestInitChain(
            chain_id=CHAIN_ID, initial_height=1, app_state_bytes=json.dumps(state).encode(), time=Timestamp()
        )
    )
    chain = Chain(app)
    chain.block([])
    yield app
    app.close()


def _query(app: Application, method: str, request: Message, response_type: type[Message]) -> Message:
    answer = app.query(abci.RequestQuery(path=f"{SERVICE}/{method}", data=request.SerializeToString()))
    assert answer.code == 0, answer.log
    return response_type.FromString(answer.value)


def _validators(app: Application, page: PageRequest) -> staking_pb2.QueryValidatorsResponse:
    found = _query(
        app,
        "Validators",
        staking_pb2.QueryValidatorsRequest(pagination=page),
        staking_pb2.QueryValidatorsResponse,
    )
    assert isinstance(found, staking_pb2.QueryValidatorsResponse)
    return found


def test_a_validators_answer_holds_at_most_the_maximum_page_however_many_validators(app: Application) -> None:
    default = _validators(app, PageRequest())
    assert len(default.validators) == DEFAULT_LIMIT and default.pagination.next_key
    largest = _validators(app, PageRequest(limit=MAX_LIMIT, count_total=True))
    assert len(largest.validators) == MAX_LIMIT and largest.pagination.total == VALIDATORS
    # a page of the largest records is bounded by the page size, not by the number of validators
    size = largest.ByteSize()
    assert size < MAX_LIMIT * 2 * largest.validators[0].ByteSize()
    assert size * VALIDATORS // MAX_LIMIT > size  # the unpaged answer would have been larger


def test_a_limit_above_the_maximum_is_refused_naming_it(app: Application) -> None:
    request = staking_pb2.QueryValidatorsRequest(pagination=PageRequest(limit=MAX_LIMIT + 1))
    answer = app.query(abci.RequestQuery(path=f"{SERVICE}/Validators", data=request.SerializeToString()))
    assert (answer.codespace, answer.code) == (QUERY_INVALID.codespace, QUERY_INVALID.code)
    assert f"above the maximum {MAX_LIMIT}" in answer.log


@pytest.mark.parametrize("reverse", [False, True])
def test_following_next_key_lists_every_validator_once_in_operator_order(
    app: Application, reverse: bool
) -> None:
    seen: list[str] = []
    key = b""
    while True:
        page = _validators(app, PageRequest(key=key, limit=MAX_LIMIT, reverse=reverse))
        seen += [v.operator_address for v in page.validators]
        key = page.pagination.next_key
        if not key:
            break
    expected = [to_bech32(_operator(i)) for i in range(VALIDATORS)]  # operator (byte) order
    assert seen == (expected[::-1] if reverse else expected)


def test_the_active_set_pages_by_power_then_operator(app: Application) -> None:
    pages = []
    key = b""
    while True:
        found = _query(
            app,
            "ActiveSet",
            staking_pb2.QueryActiveSetRequest(pagination=PageRequest(key=key, limit=30)),
            staking_pb2.QueryActiveSetResponse,
        )
        assert isinstance(found, staking_pb2.QueryActiveSetResponse)
        pages.append([v.operator_address for v in found.validators])
        key = found.pagination.next_key
        if not key:
            break
    every = [a for page in pages for a in page]
    assert len(every) == keeper.DEFAULT_PARAMS.max_validators and len(pages) == 4
    assert every == sorted(every, key=from_bech32)  # equal power: ties in operator (byte) order
    whole = _query(
        app,
        "ActiveSet",
        staking_pb2.QueryActiveSetRequest(pagination=PageRequest(limit=MAX_LIMIT)),
        staking_pb2.QueryActiveSetResponse,
    )
    assert isinstance(whole, staking_pb2.QueryActiveSetResponse)
    assert [v.operator_address for v in whole.validators] == every


def test_a_validators_delegations_and_a_delegators_delegations_are_paged(app: Application) -> None:
    ctx = app._context(app._block_branch(), app.store.last_version + 1)
    operator = _operator(0)
    delegators = [b"\x09" + i.to_bytes(19, "big") for i in range(MAX_LIMIT + 20)]
    for delegator in delegators:
        keeper.set_delegation(ctx, delegator, operator, 1)
    for i in range(1, MAX_LIMIT + 20):
        keeper.set_delegation(ctx, delegators[0], _operator(i), 1)
    request = staking_pb2.QueryValidatorDelegationsRequest(validator_address=to_bech32(operator))
    first = queries.query_validator_delegations(ctx, request)
    assert len(first.delegations) == DEFAULT_LIMIT
    request.pagination.CopyFrom(PageRequest(key=first.pagination.next_key, limit=MAX_LIMIT))
    rest = queries.query_validator_delegations(ctx, request)
    listed = [d.delegator_address for d in [*first.delegations, *rest.delegations]]
    # the operator's own self-delegation is among them, in delegator order
    assert len(listed) == len(delegators) + 1 and not rest.pagination.next_key
    assert listed == sorted(listed, key=from_bech32)
    mine = staking_pb2.QueryDelegationsRequest(
        delegator_address=to_bech32(delegators[0]), pagination=PageRequest(limit=MAX_LIMIT, count_total=True)
    )
    page = queries.query_delegations(ctx, mine)
    assert len(page.delegations) == len(page.balances) == MAX_LIMIT
    assert page.pagination.total == MAX_LIMIT + 20 and page.pagination.next_key


def test_grpc_answers_the_same_page_bytes_as_abci_query(app: Application) -> None:
    request = staking_pb2.QueryValidatorsRequest(
        pagination=PageRequest(offset=1_400, limit=7, count_total=True)
    )

    async def over_grpc() -> tuple[bytes, grpc.StatusCode | None]:
        server, port = build_server(app, "127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary(
                    f"{SERVICE}/Validators",
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=lambda raw: raw,
                )
                answer = await call(request, timeout=30)
                too_many = staking_pb2.QueryValidatorsRequest(pagination=PageRequest(limit=MAX_LIMIT + 1))
                try:
                    await call(too_many, timeout=30)
                    refused = None
                except grpc.aio.AioRpcError as err:
                    refused = err.code()
                return answer, refused
        finally:
            await server.stop(None)

    raw, refused = asyncio.run(over_grpc())
    answer = app.query(abci.RequestQuery(path=f"{SERVICE}/Validators", data=request.SerializeToString()))
    assert raw == answer.value
    page = staking_pb2.QueryValidatorsResponse.FromString(raw)
    assert len(page.validators) == 7 and page.pagination.total == VALIDATORS
    assert page.validators[0].operator_address == to_bech32(_operator(1_400))
    assert refused == grpc.StatusCode.INVALID_ARGUMENT
