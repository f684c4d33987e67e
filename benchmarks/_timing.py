"""Timing shared by the benchmark scripts: interleaved calls, medians in milliseconds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(calls: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median milliseconds of each call, run in turn `repeat` times after one warm-up call each.

    Interleaving (a, b, a, b, ...) lets a busy machine slow every side alike.
    """
    for fn in calls.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            times[name].append(timed(fn))
    return {name: 1000 * statistics.median(values) for name, values in times.items()}
