"""Noise floors calibrated across processes, and the rule for a verdict between two saved runs.

Two runs are two processes. On a shared machine one process of unchanged code can run 20-50 %
slower than the next, so the rounds inside a run say nothing about the run that follows it: a
rank test on them finds p = 1e-200 for a change that is the process's own speed. A verdict
between runs therefore needs evidence about the noise *between processes*:

* a **calibrated floor**: the same code run in ``n`` processes (``unet-bench calibrate``); the
  logarithms of their medians have a spread ``s``. If log medians are normal across processes,
  the difference of two new processes' log medians over ``s * sqrt(2)`` follows Student's t with
  ``n - 1`` degrees of freedom (a prediction interval: it accounts for ``s`` being estimated from
  a few processes). The floor is the change that this interval allows at a two-sided
  false-alarm rate ``FLOOR_ALPHA`` per case: ``exp(t * sqrt(2) * s) - 1``. A change beyond it
  is a verdict, one inside it ``no change`` (no change this machine can detect: the report
  shows each case's detection limit).
  A case whose floor exceeds ``UNSTABLE_LIMIT`` is ``not gated`` here: its verdicts would be
  coin flips;
* or a **paired confirmation** (fresh processes of both sides, ``unet-bench ab``);
* otherwise the outcome is ``unsure``, with the reason, never a regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from unet.bench.defaults import FLOOR_ALPHA, MIN_PROCESSES, UNSTABLE_LIMIT
from unet.bench.stats.verdict import (
    IMPROVEMENT,
    MIN_SAMPLES,
    NO_CHANGE,
    NOT_GATED,
    REGRESSION,
    UNSURE,
    Thresholds,
    Verdict,
    compare_samples,
)

NO_EVIDENCE = (
    "one process per side and no calibrated floor for this hardware: "
    "run `unet-bench calibrate`, or `unet-bench ab` for a paired verdict"
)


@dataclass(frozen=True)
class Floor:
    """What ``n`` processes of unchanged code say about one case on one machine."""

    floor: float  # the relative change two processes of the same code reach at FLOOR_ALPHA
    log_spread: float  # the standard deviation of the processes' log medians
    processes: int
    median_s: float  # the median of the process medians (scale, for the report)
    # the spread within one generation of processes taking turns (drift between generations
    # left out), and its degrees of freedom: what an A/B's paired processes differ by. None in
    # calibrations made before it was recorded
    paired_spread: float | None = None
    paired_dof: int = 0

    def paired(self) -> tuple[float, int]:
        """The spread an A/B's processes of one generation have, and its degrees of freedom:
        the within-generation one where recorded, else the whole calibration's (larger: it
        holds the drift between generations too)."""
        if self.paired_spread is not None and self.paired_dof > 0:
            return self.paired_spread, self.paired_dof
        return self.log_spread, self.processes - 1

    @property
    def unstable(self) -> bool:
        return self.floor > UNSTABLE_LIMIT

    def as_dict(self) -> dict[str, float | int]:
        paired = (
            {"paired_spread": self.paired_spread, "paired_dof": self.paired_dof}
            if self.paired_spread is not None
            else {}
        )
        return {
            "floor": self.floor,
            "log_spread": self.log_spread,
            "processes": self.processes,
            "median_s": self.median_s,
            **paired,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Floor:
        paired = data.get("paired_spread")
        return cls(
            float(data["floor"]),
            float(data["log_spread"]),
            int(data["processes"]),
            float(data["median_s"]),
            None if paired is None else float(paired),
            int(data.get("paired_dof", 0)),
        )


def calibrated_floor(
    medians: Sequence[float],
    alpha: float = FLOOR_ALPHA,
    generations: Sequence[Sequence[float]] = (),
) -> Floor:
    """The floor of one case from the medians of ``n >= MIN_PROCESSES`` processes of the same
    code (seconds); ``generations``, the same medians grouped by the generation they took turns
    in, also give the spread within one (``Floor.paired_spread``)."""
    if len(medians) < MIN_PROCESSES:
        raise ValueError(f"{len(medians)} processes: a floor needs at least {MIN_PROCESSES}")
    if min(medians) <= 0:
        raise ValueError(f"process medians must be positive, got {min(medians)}")
    from scipy import stats  # imported when used: it costs every process 0.7 s

    logs = np.log(np.asarray(medians, dtype=float))
    spread = float(np.std(logs, ddof=1))
    t = float(stats.t.isf(alpha / 2, len(medians) - 1))
    paired, dof = within_groups(generations)
    return Floor(
        math.expm1(t * math.sqrt(2) * spread),
        spread,
        len(medians),
        float(np.median(medians)),
        paired if dof else None,
        dof,
    )


def within_groups(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The pooled standard deviation of log values within each group (what is common to a
    group, such as a generation's drift, left out) and its degrees of freedom."""
    squares, dof = 0.0, 0
    for group in groups:
        logs = np.log(np.asarray(group, dtype=float))
        if len(logs) > 1:
            squares += float(((logs - logs.mean()) ** 2).sum())
            dof += len(logs) - 1
    return (math.sqrt(squares / dof), dof) if dof else (0.0, 0)


def judge_between_runs(
    case: str,
    base: Sequence[float],
    head: Sequence[float],
    min_effect: float,
    floor: Floor | None,
    statistic: str = "median",
) -> Verdict:
    """The verdict between two runs of one process each (their per-round samples): against the
    calibrated ``floor`` when there is one; without one a change is ``unsure``, never a
    regression; an unstable case is ``not gated``. ``statistic``: what is judged (--gate-on;
    a tail percentile is held to the median's floor, the only one calibrated)."""
    if floor is None:
        thresholds = Thresholds(min_effect, statistic=statistic)
        verdict = compare_samples(case, base, head, thresholds=thresholds)
        if verdict.outcome in (REGRESSION, IMPROVEMENT):
            return replace(verdict, outcome=UNSURE, note=NO_EVIDENCE)
        return verdict
    thresholds = Thresholds(min_effect, floor.floor, statistic)
    verdict = compare_samples(case, base, head, thresholds=thresholds)
    inside = abs(verdict.change) < floor.floor
    if verdict.outcome == UNSURE and inside and min(verdict.n_base, verdict.n_head) >= MIN_SAMPLES:
        # within what two processes of unchanged code reach here: nothing to tell apart
        verdict = replace(verdict, outcome=NO_CHANGE)
    if floor.unstable:
        limit, n = f"{UNSTABLE_LIMIT:.0%}", floor.processes
        note = f"unstable here: floor {floor.floor:.1%} > {limit} ({n} processes)"
        return replace(verdict, outcome=NOT_GATED, note=note)
    return verdict


def detection_limit(min_effect: float, floor: Floor | None) -> float | None:
    """The smallest change a verdict between two runs can call on this machine; None when
    nothing is calibrated (no change can be called)."""
    if floor is None or floor.unstable:
        return None
    return max(min_effect, floor.floor)
