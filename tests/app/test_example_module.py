"""The worked example of docs/architecture.md ("Adding a module"), run as written.

A ``counter`` module with one message (increment the signer's counter), one query (read it) and one
end-block hook (count the blocks), wired into the application beside the shipped modules without
touching app.py. The doc's module uses messages of its own proto package; here protobuf's
well-known wrapper types stand in for them, so the test needs no generated code.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import wrappers_pb2
from tendermint.abci import types_pb2 as abci

from abci_app.context import Context
from abci_app.errors import ErrorCode
from abci_app.modules import Module, MsgRoute, QueryRoute, u64
from abci_app.router import END_BLOCK_ORDER, Router, default_modules
from abci_app.tx.address import from_bech32
from abci_app.tx.codec import build_tx
from tests.app.driver import CHAIN_ID, Chain, address_of

# -- the module, as docs/architecture.md writes it ----------------------------------------------------

STORE = "counter"
BLOCKS_KEY = b"\x01"
COUNT_PREFIX = b"\x02"
# a real module registers its codes (errors.register, listed in docs/abci.md); this one stays out of
# the chain's registry so the documentation test sees only the chain's codes
COUNTER_LIMIT = ErrorCode("counter", 1, "counter limit")
LIMIT = 3


def _get(ctx: Context, key: bytes) -> int:
    raw = ctx.store(STORE).get(key)
    return int.from_bytes(raw, "big") if raw is not None else 0


def handle_increment(ctx: Context, msg: wrappers_pb2.StringValue) -> wrappers_pb2.UInt64Value:
    """MsgIncrement: add one to the signer's counter (at most LIMIT)."""
    key = COUNT_PREFIX + from_bech32(msg.value, "owner")
    count = _get(ctx, key) + 1
    if count > LIMIT:
        raise COUNTER_LIMIT(f"{msg.value} has counted to {LIMIT} already; the limit is {LIMIT}")
    ctx.store(STORE).set(key, u64(count))
    ctx.emit("counter_incremented", owner=msg.value, count=str(count))
    return wrappers_pb2.UInt64Value(value=count)


def query_count(ctx: Context, req: wrappers_pb2.StringValue) -> wrappers_pb2.UInt64Value:
    """Query Count: an owner's counter (0 when never incremented)."""
    return wrappers_pb2.UInt64Value(value=_get(ctx, COUNT_PREFIX + from_bech32(req.value, "owner")))


def end_block(ctx: Context) -> None:
    """Count the blocks this module has seen."""
    ctx.store(STORE).set(BLOCKS_KEY, u64(_get(ctx, BLOCKS_KEY) + 1))


COUNTER = Module(
    name="counter",
    store=STORE,
    msgs=(MsgRoute(wrappers_pb2.StringValue, lambda m: m.value, handle_increment),),
    queries=(
        QueryRoute(
            "example.counter.v1.Query",
            "Count",
            wrappers_pb2.StringValue,
            wrappers_pb2.UInt64Value,
            query_count,
        ),
    ),
    end_block=end_block,
)

# -- the chain with it ----------------------------------------------------------------------------------


def test_a_module_added_through_the_router_takes_part_in_every_step(tmp_path: Path) -> None:
    # wired beside the shipped modules; its end-block runs before staking's, which stays last
    router = Router([*default_modules(), COUNTER], (*END_BLOCK_ORDER[:-1], "counter", "staking"))
    chain = Chain.start(str(tmp_path / "db"), router=router)
    chain.block([])
    key = chain.accounts["user0"]
    owner = address_of(key)

    def increment(sequence: int) -> bytes:
        return build_tx(
            key,
            [wrappers_pb2.StringValue(value=owner)],
            chain_id=CHAIN_ID,
            account_number=chain.account_number(owner),
            sequence=sequence,
            fee=500,
            gas_limit=200_000,
        )

    response = chain.block([increment(0), increment(1)])
    assert [r.code for r in response.tx_results] == [0, 0]
    answer = chain.app.query(
        abci.RequestQuery(
            path="/example.counter.v1.Query/Count",
            data=wrappers_pb2.StringValue(value=owner).SerializeToString(),
        )
    )
    assert answer.code == 0 and wrappers_pb2.UInt64Value.FromString(answer.value).value == 2

    # the message's own error: a clear code and nothing written
    response = chain.block([increment(2), increment(3)])
    assert response.tx_results[0].code == 0
    assert (response.tx_results[1].codespace, response.tx_results[1].code) == ("counter", 1)
    assert "the limit is 3" in response.tx_results[1].log

    # the end-block hook ran once per block since genesis
    ctx = chain.app._context(chain.app.store.branch(), chain.app.store.last_version)
    assert _get(ctx, BLOCKS_KEY) == chain.height == 3
