"""Tail percentiles of a case's rounds, each only where there are enough rounds to estimate it.

A p99 from 40 rounds is the second-slowest round, not a 99th percentile. The floors are MLPerf's
early-stopping minimum sample counts (the fewest queries for which a run can claim that
percentile at all): 64 for p90 and 662 for p99; the median needs ``verdict.MIN_SAMPLES``. A
percentile below its floor is not computed: its field is absent and tables say "too few".
Rounds here are pytest-benchmark's: the mean of ``iterations`` calls each (one call for every
case of more than a few microseconds, and always with ``--cache cold``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PERCENTILES = (50, 90, 99)
MIN_SAMPLES = {50: 5, 90: 64, 99: 662}  # p50: verdict.MIN_SAMPLES; p90, p99: MLPerf's


def field(p: int) -> str:
    return f"p{p}_s"


def percentile(samples: Sequence[float], p: int) -> float | None:
    """The ``p``-th percentile of ``samples`` (numpy's linear interpolation); None when there
    are fewer than ``MIN_SAMPLES[p]``."""
    if len(samples) < MIN_SAMPLES[p]:
        return None
    return float(np.percentile(np.asarray(samples, dtype=float), p))


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """``{"p50_s": ..., "p90_s": ...}``: the percentiles that ``samples`` are enough for."""
    values = {field(p): percentile(samples, p) for p in PERCENTILES}
    return {k: v for k, v in values.items() if v is not None}


def too_few(n: int, p: int) -> str:
    return f"too few ({n} < {MIN_SAMPLES[p]})"


def shown_ms(value: float | None, n: int, p: int) -> str:
    """A percentile for a table: milliseconds, or why there is none."""
    return f"{value * 1e3:.4g}" if value is not None else too_few(n, p)


def statistic_p(statistic: str) -> int:
    """``median`` -> 50, ``p90`` -> 90."""
    return 50 if statistic == "median" else int(statistic.removeprefix("p"))
