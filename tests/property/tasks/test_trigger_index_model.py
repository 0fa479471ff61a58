"""The trigger index finds exactly the triggers a price move crosses (against a brute-force model)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abci_app.context import Context
from abci_app.modules.tasks import keeper, triggers
from abci_app.modules.tasks.keys import STORE, trigger_key
from tests.unit.wasm.wasm_sandbox import sandbox

PAIRS = ["bitcoin/usd", "bitcoin/usdt", "ethereum/usd"]
PRICES = st.one_of(st.integers(min_value=0, max_value=40), st.just(2**256 - 1))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    with sandbox(Path(tmp_path_factory.mktemp("triggers"))) as box:
        yield box.ctx


def fires(direction: int, threshold: int, price: int, previous: int | None) -> bool:
    """The documented rule: the condition holds now and did not hold for the previous price."""
    if direction == keeper.BELOW:
        return price < threshold and (previous is None or previous >= threshold)
    return price > threshold and (previous is None or previous <= threshold)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=200)
@given(
    st.lists(
        st.tuples(st.sampled_from(PAIRS), st.sampled_from([keeper.ABOVE, keeper.BELOW]), PRICES),
        max_size=30,
    ),
    PRICES,
    st.one_of(st.none(), PRICES),
)
def test_crossed_finds_exactly_the_triggers_the_move_fires(
    ctx: Context, entries: list[tuple[str, int, int]], price: int, previous: int | None
) -> None:
    child = ctx.child()
    model = []
    for i, (pair, direction, threshold) in enumerate(entries):
        hash_ = hashlib.sha256(i.to_bytes(4, "big")).digest()
        child.store(STORE).set(trigger_key(pair, direction, threshold, hash_), b"")
        if pair == "bitcoin/usd" and fires(direction, threshold, price, previous):
            model.append((0 if direction == keeper.BELOW else 1, threshold, hash_))
    found = triggers.crossed(child, "bitcoin/usd", price, previous)
    assert found == [h for _, _, h in sorted(model)]
    child.branch.discard()
