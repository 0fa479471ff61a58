"""Aggregation: the stake-weighted lower median, in integers only."""

from __future__ import annotations

from collections.abc import Sequence


def stake_weighted_median(reports: Sequence[tuple[int, int]]) -> int:
    """The lower weighted median of ``(price, power)`` reports.

    Sort by price (ties by power, so the result never depends on input order); return the first price
    at which the cumulative power reaches half of the total (``2 * cumulative >= total``). Raises
    ValueError for no reports or a non-positive power.
    """
    if not reports:
        raise ValueError("no reports to aggregate")
    if any(power <= 0 for _, power in reports):
        raise ValueError("every report needs a positive power")
    ordered = sorted(reports)
    total = sum(power for _, power in ordered)
    cumulative = 0
    for price, power in ordered:
        cumulative += power
        if 2 * cumulative >= total:
            return price
    raise AssertionError("unreachable: cumulative power reaches the total")


def time_weighted_average(samples: Sequence[tuple[int, int]], end_ns: int) -> int:
    """Average of ``(time_ns, price)`` samples (ascending times), each weighted by how long it held.

    The last sample holds until ``end_ns``; integer division rounds down. A single sample is its price.
    """
    if not samples:
        raise ValueError("no samples")
    if len(samples) == 1:
        return samples[0][1]
    weighted = 0
    duration = 0
    for (t, price), (t_next, _) in zip(
        samples, [*samples[1:], (max(end_ns, samples[-1][0]), 0)], strict=True
    ):
        span = max(0, t_next - t)
        weighted += price * span
        duration += span
    if duration == 0:
        return samples[-1][1]
    return weighted // duration
