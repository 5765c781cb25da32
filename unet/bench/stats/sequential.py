"""The A/B verdict as a sequential design: a case takes as many generations of paired processes
as it needs to be settled, up to ``MAX_GENERATIONS``, and no more.

The unit is the process: each process's median of a case counts once. Per generation ``g``
(processes of both sides that ran side by side, taking turns), the effect is the difference of
the mean log medians, head minus base, so drift between generations, which moves both sides
alike, cancels. The noise is the spread of the log medians within each side of a generation,
pooled over all generations of this run, with the case's calibrated floor's spread (``Floor``)
added as earlier evidence of the same quantity where one exists. Under normal log medians the
weighted mean effect over its standard error follows Student's t with the pooled degrees of
freedom, so each look gives a confidence interval of the change.

Looking after every generation would inflate the false-alarm rate if each look used the full
``alpha``; each look uses ``alpha / MAX_GENERATIONS`` instead (a Bonferroni bound over the
looks: the probability that *any* look falsely rejects is at most the sum of the looks' rates,
whatever the stopping rule, since a case stops only when settled). A regression needs two
generations at least: a change seen by one generation's processes alone never confirms one.

Outcomes after each look: ``no change`` when the estimated change is below ``min_effect``;
``regression`` / ``improvement`` when the interval excludes no change and the estimate reaches
``min_effect``; else ``unsure``, which takes another generation only when one could settle it:
not at the cap, and from the second look on not when even the last look's interval, projected
from this noise (each further generation adds two processes a side), would still be wider than
the estimated change (futility: more processes would not tell, so the case stops as ``unsure``
instead of running to the cap). Stopping early can only remove rejections, so the bound above
still holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unet.bench.stats.floors import Floor
from unet.bench.stats.verdict import (
    IMPROVEMENT,
    MIN_SAMPLES,
    NO_CHANGE,
    REGRESSION,
    UNSURE,
    Verdict,
    sides,
)

MAX_GENERATIONS = 4  # looks per case: the first generation and up to three more
SEQUENTIAL_ALPHA = 0.002  # per case over all its looks, two-sided
MIN_GENERATIONS_FOR_REGRESSION = 2
MIN_GENERATIONS_FOR_FUTILITY = 2  # the first look's spread has too few degrees of freedom

Processes = Sequence[Sequence[float]]  # one list of rounds per process


@dataclass(frozen=True)
class Evidence:
    """What the generations so far say about one case's change (log scale)."""

    effect: float  # the weighted mean of the generations' log effects
    se: float  # its standard error
    dof: int  # degrees of freedom of the pooled spread
    generations: int
    weight: float  # the generations' total weight, 1 / (1/n_base + 1/n_head) each

    def interval(self, alpha: float) -> tuple[float, float]:
        from scipy import stats  # imported when used: it costs every process 0.7 s

        t = float(stats.t.isf(alpha / 2, self.dof))
        return self.effect - t * self.se, self.effect + t * self.se

    def projected_half_width(self, alpha: float, looks: int) -> float:
        """The interval's half-width (log scale) at the last look, if each further generation
        brings two processes a side at today's spread."""
        from scipy import stats

        more = max(looks - self.generations, 0)
        sigma = self.se * math.sqrt(self.weight)  # the pooled spread of one log median
        se = sigma / math.sqrt(self.weight + more)  # two processes a side: weight 1 each
        return float(stats.t.isf(alpha / 2, self.dof + 2 * more)) * se

    def p_value(self) -> float:
        from scipy import stats

        if self.se == 0:
            return 0.0 if self.effect else 1.0
        return float(2 * stats.t.sf(abs(self.effect) / self.se, self.dof))


def _log_medians(processes: Processes) -> np.ndarray:
    return np.log([float(np.median(p)) for p in processes if len(p)])


def evidence(
    generations: Sequence[tuple[Processes, Processes]], prior: Floor | None
) -> Evidence | None:
    """The pooled evidence of ``generations`` ((base processes, head processes) each); None
    when no degree of freedom is left to estimate the noise from."""
    effects, weights = [], []
    squares, dof = 0.0, 0
    for base, head in generations:
        b, h = _log_medians(base), _log_medians(head)
        if not len(b) or not len(h):
            continue
        effects.append(float(h.mean() - b.mean()))
        weights.append(1 / (1 / len(b) + 1 / len(h)))
        for side in (b, h):
            squares += float(((side - side.mean()) ** 2).sum())
            dof += len(side) - 1
    if prior is not None:  # the calibration's processes: earlier evidence of the same spread
        squares += (prior.processes - 1) * prior.log_spread**2
        dof += prior.processes - 1
    if not effects or dof == 0:
        return None
    variance = squares / dof
    total = sum(weights)
    effect = sum(e * w for e, w in zip(effects, weights, strict=True)) / total
    return Evidence(effect, math.sqrt(variance / total), dof, len(effects), total)


def sequential_verdict(
    case: str,
    generations: Sequence[tuple[Processes, Processes]],
    min_effect: float,
    prior: Floor | None = None,
    alpha: float = SEQUENTIAL_ALPHA,
    looks: int = MAX_GENERATIONS,
) -> Verdict:
    """The verdict on ``case`` after the generations measured so far (see the module's
    docstring); ``noise_floor`` is the half-width of this look's interval, as a change."""
    generations = [(b, h) for b, h in generations if b and h]
    if not generations:
        raise ValueError(f"{case}: no generation measured both sides")
    base = [x for b, _ in generations for p in b for x in p]
    head = [x for _, h in generations for p in h for x in p]
    found = evidence(generations, prior)
    b_meds = tuple(float(np.median(p)) for b, _ in generations for p in b)
    h_meds = tuple(float(np.median(p)) for _, h in generations for p in h)
    more = len(generations) < looks
    if found is None or min(len(base), len(head)) < MIN_SAMPLES:
        change = float(np.median(h_meds)) / float(np.median(b_meds)) - 1
        p, half, outcome = 1.0, math.inf, UNSURE
    else:
        lo, hi = found.interval(alpha / looks)
        change, p, half = math.expm1(found.effect), found.p_value(), math.expm1((hi - lo) / 2)
        outcome = _decide(change, lo, hi, found.generations, min_effect)
        if outcome == UNSURE and more and found.generations >= MIN_GENERATIONS_FOR_FUTILITY:
            # more processes must be able to tell; a spread from one generation's two
            # processes a side is too rough to give up on (a 10 % slowdown was lost so)
            more = abs(found.effect) >= found.projected_half_width(alpha / looks, looks)
    return Verdict(
        case=case,
        outcome=outcome,
        change=change,
        p_value=p,
        **sides(base, head),
        noise_floor=half,
        base_processes=b_meds,
        head_processes=h_meds,
        more=outcome == UNSURE and more,
    )


def _decide(change: float, lo: float, hi: float, generations: int, min_effect: float) -> str:
    if abs(change) < min_effect:
        return NO_CHANGE
    if lo > 0 and generations >= MIN_GENERATIONS_FOR_REGRESSION:
        return REGRESSION
    if hi < 0:
        return IMPROVEMENT
    return UNSURE


def settled(verdict: Verdict) -> bool:
    """Whether a case needs no more generations: decided, at the cap, or beyond what more
    processes could tell."""
    return not verdict.more
