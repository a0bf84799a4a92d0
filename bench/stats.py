"""Small statistics for the benchmark: percentiles, medians of runs, the peak of overlapping intervals."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(values: Iterable[float], p: float) -> float | None:
    """Return the nearest-rank percentile `p` (0-100) of `values`, or None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    """Return the median, or None when there are no values."""
    return statistics.median(values) if values else None


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """Return the most intervals (start, end) open at one moment."""
    events = []
    for start, end in intervals:
        events.append((start, 1))
        events.append((end, -1))
    events.sort(key=lambda event: (event[0], event[1]))  # an end before a start at the same instant
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak
