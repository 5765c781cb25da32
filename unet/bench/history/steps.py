"""Where a case's latency changed level over its history, accounting for run-to-run scatter.

Method, on the log of the per-commit medians (so sizes are relative and a step up weighs like a
step down):

1. *Noise*: the run-to-run scatter sigma is estimated robustly from successive differences
   (1.4826 x MAD / sqrt 2): one real step is one outlying difference and barely moves it. It is
   floored by the runs' own CI widths and ``MIN_SIGMA``, so near-identical synthetic runs do not
   make every wobble a step.
2. *Candidates*: an exact penalised least-squares segmentation into constant levels (PELT,
   ``ruptures``), the penalty ``PENALTY x sigma^2 x ln n`` (BIC-like: a change point must buy
   more fit than noise of that size would). It is asv's approach (piecewise-constant fit, penalty),
   with the penalty scaled by measured noise instead of fixed. Segments span >= 2 commits: one
   run is never a level.
3. *Kept steps*: a change of level is kept when it is at least ``min_effect`` and ``Z`` standard
   errors (sigma x sqrt(1/n1 + 1/n2)), unless the two segments are fit as well by "flat, then
   a straight ramp" and the jump at the boundary does not stand out from the other
   commit-to-commit changes (then the change is spread over many commits: a creep). Dropped
   boundaries merge their segments.
4. *Creep*: within each remaining segment of >= ``MIN_CREEP_RUNS`` commits, a monotonic trend
   (Kendall's tau, p < ``CREEP_ALPHA``) whose Theil-Sen slope adds up to at least ``min_effect``
   over the segment is reported as a cumulative change from its onset: the commit where a
   "flat, then a straight ramp" least-squares fit bends.

Cost fields need none of this: any change of an exact count is a step (``exact_steps``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unet.bench.defaults import MIN_EFFECT

STEP, CREEP = "step", "creep"
PENALTY = 3.0  # change-point penalty in units of sigma^2 x ln(n)
Z = 3.0  # a kept step is this many standard errors of the level difference
MIN_SIGMA = 0.002  # 0.2 %: the least scatter assumed, whatever the runs show
MIN_SEGMENT = 2  # commits per level
MIN_CREEP_RUNS = 4  # commits a trend needs before it can be told from noise
CREEP_ALPHA = 0.05  # Kendall's tau significance for a creep


@dataclass(frozen=True)
class Change:
    """A detected change of one series: points ``start`` .. ``end`` (indices) span it.

    For a step, ``start`` is the last point at the old level and ``end`` the first at the new
    one, so the commit range (start, end] holds the cause. For a creep, ``start`` and ``end``
    are the window's first and last points."""

    kind: str  # step or creep
    start: int
    end: int
    before: float  # level before (seconds; a count for exact fields)
    after: float  # level after
    change: float  # after / before - 1


def noise_sigma(log_values: Sequence[float], rel_ci_halfwidths: Sequence[float] = ()) -> float:
    """Run-to-run scatter of log medians (robust), floored by the runs' own CIs (/1.96)."""
    y = np.asarray(log_values, dtype=float)
    sigma = 0.0
    if len(y) >= 3:
        d = np.diff(y)
        sigma = 1.4826 * float(np.median(np.abs(d - np.median(d)))) / math.sqrt(2)
    within = [h / 1.96 for h in rel_ci_halfwidths if h > 0 and math.isfinite(h)]
    if within:
        sigma = max(sigma, float(np.median(within)))
    return max(sigma, MIN_SIGMA)


def _segments(bounds: Sequence[int], n: int) -> list[tuple[int, int]]:
    edges = [0, *bounds, n]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def _ramp_fits_better(y: np.ndarray, lo: int, mid: int, hi: int) -> bool:
    """Whether y[lo:hi] is a ramp rather than a step at mid: "flat, then a straight ramp" (a
    creep, one straight line included) fits at least as well as two levels (both have three
    parameters), and the jump across mid does not stand out from the other commit-to-commit
    changes (at most twice their median): a step happens at one commit, a ramp at many."""
    a, c = y[lo:mid], y[mid:hi]
    two_levels = sum(float(np.sum((s - np.median(s)) ** 2)) for s in (a, c))
    moves = np.abs(np.diff(y[lo:hi]))
    jump, others = moves[mid - lo - 1], np.delete(moves, mid - lo - 1)
    gradual = len(others) > 0 and jump <= 2 * float(np.median(others))
    return gradual and _hinge(y[lo:hi])[3] <= two_levels


def _weakest(y: np.ndarray, bounds: list[int], sigma: float, min_effect: float) -> int | None:
    """The index in ``bounds`` of the boundary that fails the tests worst, or None."""
    worst, worst_z = None, math.inf
    segs = _segments(bounds, len(y))
    for i, b in enumerate(bounds):
        (lo, _), (_, hi) = segs[i], segs[i + 1]
        a, c = y[lo:b], y[b:hi]
        diff = float(np.median(c) - np.median(a))
        z = abs(diff) / (sigma * math.sqrt(1 / len(a) + 1 / len(c)))
        small = abs(math.expm1(diff)) < min_effect or z < Z
        if (small or _ramp_fits_better(y, lo, b, hi)) and z < worst_z:
            worst, worst_z = i, z
    return worst


def detect_changes(
    medians: Sequence[float],
    rel_ci_halfwidths: Sequence[float] = (),
    min_effect: float = MIN_EFFECT,
) -> list[Change]:
    """Steps and creeps of a series of per-commit medians (seconds, > 0), in commit order."""
    values = np.asarray(medians, dtype=float)
    if len(values) < 2 * MIN_SEGMENT or np.any(values <= 0):
        return []
    y = np.log(values)
    sigma = noise_sigma(y, rel_ci_halfwidths)
    import ruptures  # imported when used: only history needs it

    n = len(y)
    algo = ruptures.Pelt(model="l2", min_size=MIN_SEGMENT, jump=1).fit(y.reshape(-1, 1))
    bounds = [b for b in algo.predict(pen=PENALTY * sigma**2 * math.log(n)) if b < n]
    while bounds and (i := _weakest(y, bounds, sigma, min_effect)) is not None:
        del bounds[i]
    found = []
    segs = _segments(bounds, n)
    for (lo, b), (_, _hi) in itertools.pairwise(segs):
        before, after = float(np.median(values[lo:b])), float(np.median(values[b:_hi]))
        found.append(Change(STEP, b - 1, b, before, after, after / before - 1))
    for lo, hi in segs:
        creep = _creep(values, lo, hi, min_effect)
        if creep:
            found.append(creep)
    return sorted(found, key=lambda c: c.start)


def _creep(values: np.ndarray, lo: int, hi: int, min_effect: float) -> Change | None:
    """A significant monotonic trend over the segment values[lo:hi], reported from its onset."""
    if hi - lo < MIN_CREEP_RUNS:
        return None
    from scipy import stats

    y = np.log(values[lo:hi])
    if stats.kendalltau(np.arange(len(y)), y).pvalue >= CREEP_ALPHA:
        return None
    onset, level, slope, _ = _hinge(y)
    total = math.expm1(slope * (len(y) - 1 - onset))
    if abs(total) < min_effect:
        return None
    before = math.exp(level)
    return Change(CREEP, lo + onset, hi - 1, before, before * (1 + total), total)


def _hinge(y: np.ndarray) -> tuple[int, float, float, float]:
    """The least-squares "flat, then a straight ramp" fit of y: (onset index, flat level, slope
    per commit, sum of squared residuals). For a creep, the trend was tested on the whole
    segment; the onset only says where the cumulative change is measured from."""
    x = np.arange(len(y), dtype=float)
    best = (math.inf, 0, float(y[0]), 0.0)
    for onset in range(len(y) - 2):
        design = np.column_stack([np.ones_like(x), np.maximum(0.0, x - onset)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        sse = float(np.sum((design @ coef - y) ** 2))
        if sse < best[0] - 1e-15:
            best = (sse, onset, float(coef[0]), float(coef[1]))
    return best[1], best[2], best[3], best[0]


def exact_steps(values: Sequence[float | None]) -> list[Change]:
    """Every change of an exact count between consecutive commits that both recorded it."""
    found = []
    last = None  # index of the last point with a value
    for i, v in enumerate(values):
        if v is None:
            continue
        if last is not None and v != values[last]:
            old = float(values[last])  # type: ignore[arg-type]
            change = float(v) / old - 1 if old else math.inf
            found.append(Change(STEP, last, i, old, float(v), change))
        last = i
    return found
