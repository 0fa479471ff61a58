"""Malformed ABCI frames: the decoder raises nothing but FramingError, the server answers every frame.

The decoder is also checked differentially: a stream fed in random chunks gives the frames (and the
fault) that feeding it in one piece gives. The server's ``_answer`` path gets random bytes and
mutations of valid requests of every kind, against a real Application, and must return a Response
that serializes; a real socket fed garbage must leave the server serving the next connection.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Iterator

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tendermint.abci import types_pb2 as abci

from abci_app.abci.framing import FrameDecoder, FramingError, encode_frame
from abci_app.abci.server import AbciServer, _Connection
from abci_app.app import Application
from tests.fuzz.differential import contained_crashes
from tests.fuzz.mutations import mutate_bytes, varint
from tests.fuzz.world import World
from tests.unit.abci.abci_client import AbciTestClient, info, run

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode(stream: bytes, cuts: list[int], max_size: int) -> tuple[list[bytes], str | None]:
    """Frames and the fault class (or None) of ``stream`` fed at ``cuts``; only FramingError may escape."""
    decoder = FrameDecoder(max_size)
    frames: list[bytes] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        try:
            frames += decoder.feed(stream[start:cut])
        except FramingError as error:
            return frames + error.frames, type(error).__name__
        start = cut
    return frames, None


def _stream(rnd: random.Random) -> bytes:
    """Valid frames, mutated; sometimes a huge or overflowing length prefix in the middle."""
    frames = [encode_frame(rnd.randbytes(rnd.choice((0, 1, 5, 300)))) for _ in range(rnd.randint(0, 5))]
    stream = b"".join(frames)
    roll = rnd.random()
    if roll < 0.4:
        stream = mutate_bytes(rnd, stream)
    elif roll < 0.7:
        bad = rnd.choice(
            (varint(2**31), varint(2**64 - 1), b"\xff" * 10 + b"\x01", b"\x80" * 12, b"\xff" * 9 + b"\x02")
        )
        at = rnd.choice([0, *[len(b"".join(frames[:i])) for i in range(len(frames) + 1)]])
        stream = stream[:at] + bad + stream[at:]
    elif roll < 0.85:
        stream = rnd.randbytes(rnd.randint(0, 64))
    return stream


@FUZZ
@given(
    st.randoms(use_true_random=False),
    st.lists(st.integers(0, 2000), max_size=8),
    st.sampled_from([0, 10, 1 << 20]),
)
def test_frame_decoder_gives_the_same_frames_however_the_stream_is_cut(
    rnd: random.Random, cuts: list[int], max_size: int
) -> None:
    stream = _stream(rnd)
    whole = _decode(stream, [], max_size)
    assert _decode(stream, [c % (len(stream) + 1) for c in cuts], max_size) == whole
    assert _decode(stream, list(range(len(stream))), max_size) == whole  # one byte at a time


@pytest.fixture(scope="module")
def app() -> Iterator[Application]:
    with tempfile.TemporaryDirectory() as tmp:
        application = World().open_app(f"{tmp}/db")
        try:
            yield application
        finally:
            application.close()


def _valid_requests() -> list[abci.Request]:
    """One request of every kind CometBFT sends, with plausible contents."""
    return [
        abci.Request(echo=abci.RequestEcho(message="hi")),
        abci.Request(flush=abci.RequestFlush()),
        abci.Request(info=abci.RequestInfo(version="0.38.0")),
        abci.Request(query=abci.RequestQuery(path="/taskmaster.tasks.v1.Query/Params")),
        abci.Request(check_tx=abci.RequestCheckTx(tx=b"\x0a\x01x")),
        abci.Request(prepare_proposal=abci.RequestPrepareProposal(txs=[b"x"], height=2, max_tx_bytes=1000)),
        abci.Request(process_proposal=abci.RequestProcessProposal(txs=[b"x"], height=2)),
        abci.Request(extend_vote=abci.RequestExtendVote(height=2)),
        abci.Request(
            verify_vote_extension=abci.RequestVerifyVoteExtension(height=2, vote_extension=b"\x0a\x00")
        ),
        abci.Request(list_snapshots=abci.RequestListSnapshots()),
        abci.Request(offer_snapshot=abci.RequestOfferSnapshot(app_hash=b"x")),
        abci.Request(load_snapshot_chunk=abci.RequestLoadSnapshotChunk(height=1)),
        abci.Request(apply_snapshot_chunk=abci.RequestApplySnapshotChunk(index=1)),
    ]


REQUESTS = [r.SerializeToString() for r in _valid_requests()]
CONSENSUS_KINDS = ("init_chain", "finalize_block", "commit")


@FUZZ
@given(st.randoms(use_true_random=False))
def test_the_server_answers_any_frame_with_a_response_that_serializes(
    app: Application, rnd: random.Random
) -> None:
    frame = (
        mutate_bytes(rnd, rnd.choice(REQUESTS)) if rnd.random() < 0.8 else rnd.randbytes(rnd.randint(0, 80))
    )
    # InitChain, FinalizeBlock and Commit at random heights are not what CometBFT sends: the block
    # fuzzer drives those with valid heights
    assume(_kind(frame) not in CONSENSUS_KINDS)
    server = AbciServer(app)
    with contained_crashes() as crashes:
        response = asyncio.run(server._answer(_Connection(1, None), frame))
    assert response.WhichOneof("value") is not None
    response.SerializeToString()
    assert crashes.records == [], crashes.records  # a contained crash inside the app is a bug


def _kind(frame: bytes) -> str | None:
    try:
        return abci.Request.FromString(frame).WhichOneof("value")
    except DecodeError:
        return None


def test_a_socket_fed_garbage_leaves_the_server_serving_new_connections(app: Application) -> None:
    rnd = random.Random(7)

    async def scenario() -> None:
        server = AbciServer(app)
        await server.start("tcp://127.0.0.1:0")
        try:
            for _ in range(20):
                client = await AbciTestClient.connect(server.address)
                await client.send_raw(mutate_bytes(rnd, b"".join(encode_frame(r) for r in REQUESTS[:5])))
                await client.close()
            fresh = await AbciTestClient.connect(server.address)
            answer = await fresh.call(info())
            assert answer.WhichOneof("value") == "info"
            await fresh.close()
        finally:
            await server.stop()

    run(scenario())
