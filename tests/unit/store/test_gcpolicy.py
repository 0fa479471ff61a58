"""The commit-time GC policy bounds what freezing can strand: cycles that die after a commit are
reclaimed once the frozen population has doubled, and a population that stops growing is never
fully collected again."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from abci_app.store import gcpolicy


class Cyclic:
    """An object in a reference cycle with itself: only the collector can free it."""

    def __init__(self) -> None:
        self.me = self
        self.payload: list[list[object]] = [
            [] for _ in range(9)
        ]  # tracked by the collector, as node objects are


@pytest.fixture(autouse=True)
def _clean_collector() -> Iterator[None]:
    gc.unfreeze()
    gc.collect()
    saved = gcpolicy._after_last_full
    gcpolicy._after_last_full = 0
    yield
    gcpolicy._after_last_full = saved
    gc.unfreeze()
    gc.collect()


def test_stranded_cycles_are_reclaimed_once_the_frozen_population_doubles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpolicy, "RECLAIM_MIN", 20_000)
    live: list[list[list[object]]] = [
        [[] for _ in range(10)] for _ in range(3_000)
    ]  # what the node keeps: ~33,000 objects
    gcpolicy.settle_after_commit()
    base = gc.get_freeze_count()  # with whatever else this process holds
    counts, full = [], []
    for _ in range(base // 1_000 + 100):  # each commit strands ~1,100 objects: enough to double it
        alive = [Cyclic() for _ in range(100)]  # alive at this commit, garbage after the next
        full.append(gcpolicy.settle_after_commit())
        counts.append(gc.get_freeze_count())
        del alive
    assert any(full), "the frozen cycles were never reclaimed"
    ceiling = gcpolicy.RECLAIM_GROWTH * max(gcpolicy.RECLAIM_MIN, base) + 2_000
    assert max(counts) <= ceiling, (max(counts), ceiling)
    assert min(counts[full.index(True) :]) < base + 2_000, "the reclaim did not free the stranded cycles"
    assert len(live) == 3_000


def test_a_population_that_stops_growing_is_not_fully_collected_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gcpolicy, "RECLAIM_MIN", 20_000)
    live: list[list[list[object]]] = [[[] for _ in range(10)] for _ in range(5_000)]
    first = [gcpolicy.settle_after_commit() for _ in range(3)]
    later = []
    for i in range(600):  # more commits than the old policy let pass without a full collection
        live[i % len(live)] = [[] for _ in range(10)]  # replaced, freed by reference counting
        later.append(gcpolicy.settle_after_commit())
    assert first[0] and not any(later), (first, later.count(True))
