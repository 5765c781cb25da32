"""The A/B verdict as a sequential design: a case takes as many generations of paired processes
as it needs to be settled, up to ``MAX_GENERATIONS``, and no more.

The unit is the process: each process's median of a case counts once. Per generation ``g``
(processes of both sides that ran side by side, taking turns), the effect is the difference of
the mean log medians, head minus base, so drift between generations, which moves both sides
alike, cancels. The noise is the spread of the log medians within each side of a generation,
pooled over all generations of this run, with the case's calibrated spread within a generation
(``Floor.paired``: the drift between generations, which cancels here, left out) added as
earlier evidence of the same quantity where one exists and this run's spread does not
contradict it (a two-sided F-test: a calibration from a quieter hour would make every look too
sure, one from a noisier hour would keep quiet cases from settling). It adds degrees of
freedom, but never lowers the variance below this run's own.
Under normal log medians the weighted mean effect over its standard error follows Student's t
with the pooled degrees of freedom, so each look gives a confidence interval of the change.
Process speeds on a shared machine are not that tame: a whole process can run 40-100 % slower.
So a generation whose spread is far beyond the others' is left out (``disturbed``), and where
the generations' effects scatter more than the processes' spread allows, the standard error is
widened by the Birge ratio (both processes of one side slow in one generation show only so).

A change (``regression`` or ``improvement``) needs two generations at least: what one
generation's processes alone show is always seen again by fresh processes, since a process's
own speed is what most often fakes a difference. So a change can be called at looks 2 to
``MAX_GENERATIONS`` only, and each of those looks uses ``alpha / (MAX_GENERATIONS - 1)``: a
Bonferroni bound over the looks (the probability that *any* look falsely calls a change is at
most the sum of the looks' levels, whatever the stopping rule).

Outcomes after each look, the change being ``exp(effect) - 1``:

* ``regression`` / ``improvement``: two generations or more, the look's interval excludes no
  change and the change reaches ``min_effect``;
* ``no change``: the change is below ``min_effect`` *and* the data rule out a change of
  ``EQUIVALENCE`` x ``min_effect`` (the one-sided ``EQUIVALENCE_BETA`` bounds of the change lie
  inside it). An estimate near zero from processes that happened to hide a change is not
  enough: with a wide interval the case takes another generation. This level bounds misses, not
  false alarms, so it is far looser than ``alpha``;
* else ``unsure``, which takes another generation only when one could settle it: not at the
  cap, and not when even the last look's interval, projected from this noise (each further
  generation adds ``LATER_PAIRED_WORKERS`` processes a side), could neither exclude no change
  nor rule out the margin (futility: the case stops as ``unsure`` instead of running to the
  cap). At the second look the projection uses the quieter generation's spread: one of two may
  be disturbed and not yet told apart. Stopping early only removes looks, so the bound above
  still holds.

Generations need not have as many processes as each other: the first times every case in two a
side, the later ones (only the unsettled cases, where a worker start is most of the cost) in
``LATER_PAIRED_WORKERS``. Each generation's weight and degrees of freedom follow its counts. A
first generation whose context moves a case's level (it times every case in one process; 17 %
sd between generations 1 and 2 here, 6 % later) shows an added-time slowdown as a smaller
relative change; the Birge ratio then widens the interval, and more processes in the later
generations are what still calls a 10 % change by the third look.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from unet.bench.defaults import LATER_PAIRED_WORKERS
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
MIN_GENERATIONS_FOR_CHANGE = 2  # a change is always seen again by fresh processes
MIN_GENERATIONS_FOR_FUTILITY = 3  # before that, futility on the quieter generation's spread
EQUIVALENCE = 2.0  # "no change" rules out a change of this many times min_effect
EQUIVALENCE_BETA = 0.05  # one-sided level of that ruling-out
PRIOR_CHECK = 0.05  # the F-test's level (two-sided): a run unlike its calibration ignores it
DISTURBED_LEVEL = 0.001  # a generation this unlikely spread, given the others, was disturbed

Processes = Sequence[Sequence[float]]  # one list of rounds per process


def _t(level: float, dof: int) -> float:
    """Student's t quantile of two-sided ``level``."""
    from scipy import stats  # imported when used: it costs every process 0.7 s

    return float(stats.t.isf(level / 2, dof))


@dataclass(frozen=True)
class Evidence:
    """What the generations so far say about one case's change (log scale)."""

    effect: float  # the weighted mean of the generations' log effects
    se: float  # its standard error
    dof: int  # degrees of freedom of the pooled spread
    generations: int
    weight: float  # the generations' total weight, 1 / (1/n_base + 1/n_head) each
    prior_used: bool = False  # whether the calibrated spread was pooled in
    measured: int = 0  # generations measured, the disturbed ones included
    left_out: tuple[int, ...] = ()  # the disturbed generations (1 = the first)
    quietest: float = 0.0  # the variance of a log median in the quietest kept generation

    def quieter(self) -> Evidence:
        """This evidence as if every generation were as quiet as its quietest."""
        return replace(self, se=math.sqrt(self.quietest / self.weight))

    def interval(self, level: float) -> tuple[float, float]:
        """The two-sided ``1 - level`` confidence interval of the effect."""
        half = _t(level, self.dof) * self.se
        return self.effect - half, self.effect + half

    def projected_half_width(self, level: float, looks: int, per_side: int) -> float:
        """The two-sided ``1 - level`` interval's half-width (log scale) at the last look, if
        each further generation brings ``per_side`` processes a side at today's spread."""
        more = max(looks - max(self.measured, self.generations), 0)
        sigma = self.se * math.sqrt(self.weight)  # the pooled spread of one log median
        se = sigma / math.sqrt(self.weight + more * per_side / 2)  # 1 / (1/n + 1/n) each
        return _t(level, self.dof + more * 2 * (per_side - 1)) * se

    def p_value(self) -> float:
        from scipy import stats

        if self.se == 0:
            return 0.0 if self.effect else 1.0
        return float(2 * stats.t.sf(abs(self.effect) / self.se, self.dof))


def _log_medians(processes: Processes) -> np.ndarray:
    return np.log([float(np.median(p)) for p in processes if len(p)])


@dataclass(frozen=True)
class Generation:
    """What one generation's processes say (log scale): its effect, and its spread."""

    effect: float  # head's mean log median minus base's
    weight: float  # 1 / (1/n_base + 1/n_head)
    squares: float  # squared deviations from each side's mean, both sides
    dof: int

    @classmethod
    def of(cls, base: Processes, head: Processes) -> Generation | None:
        b, h = _log_medians(base), _log_medians(head)
        if not len(b) or not len(h):
            return None
        squares = sum(float(((x - x.mean()) ** 2).sum()) for x in (b, h))
        return cls(
            float(h.mean() - b.mean()), 1 / (1 / len(b) + 1 / len(h)), squares, len(b) + len(h) - 2
        )


def disturbed(found: Sequence[Generation], prior: Floor | None) -> list[bool]:
    """Which generations were disturbed: their processes spread far beyond what the other
    generations' and the calibration's (where it agrees with them) did (one-sided F-test at
    ``DISTURBED_LEVEL``). On a shared machine a whole process can run 40 % slower for a while;
    one such generation would otherwise set the noise of every later look and hide any
    change."""
    from scipy import stats

    if len(found) < 2:  # a calibration alone is no reference: it may be from a quieter hour
        return [False] * len(found)
    flags = []
    for i, g in enumerate(found):
        squares, dof, _ = _pooled([o for j, o in enumerate(found) if j != i], prior)
        if g.dof == 0 or dof == 0 or squares <= 0:
            flags.append(False)
            continue
        ratio = (g.squares / g.dof) / (squares / dof)
        flags.append(ratio > float(stats.f.isf(DISTURBED_LEVEL, g.dof, dof)))
    return flags


def _pooled(found: Sequence[Generation], prior: Floor | None) -> tuple[float, int, bool]:
    """The squared deviations and degrees of freedom of ``found``'s processes, with the
    calibration's added where it agrees with them, and whether it was."""
    squares, dof = sum(g.squares for g in found), sum(g.dof for g in found)
    if prior is None or not _prior_agrees(squares / max(dof, 1), dof, prior):
        return squares, dof, False
    spread, prior_dof = prior.paired()  # earlier evidence of the same spread
    return squares + prior_dof * spread**2, dof + prior_dof, True


def _prior_agrees(run_variance: float, run_dof: int, prior: Floor) -> bool:
    """Whether this run's spread and the calibration's can be the same (two-sided F-test): a
    calibration from a noisier hour would keep quiet cases from settling, one from a quieter
    hour would make every look too sure."""
    spread, prior_dof = prior.paired()
    if run_dof == 0:
        return True
    if spread <= 0 or run_variance <= 0:
        return run_variance == spread
    from scipy import stats

    ratio = run_variance / spread**2
    dofs = (run_dof, prior_dof)
    low, high = stats.f.ppf(PRIOR_CHECK / 2, *dofs), stats.f.isf(PRIOR_CHECK / 2, *dofs)
    return float(low) <= ratio <= float(high)


def evidence(
    generations: Sequence[tuple[Processes, Processes]], prior: Floor | None
) -> Evidence | None:
    """The pooled evidence of ``generations`` ((base processes, head processes) each), the
    disturbed ones left out; None when no degree of freedom is left to estimate the noise
    from."""
    found = [g for g in (Generation.of(b, h) for b, h in generations) if g is not None]
    flags = disturbed(found, prior)
    kept = [g for g, bad in zip(found, flags, strict=True) if not bad]
    own_dof = sum(g.dof for g in kept)
    own = sum(g.squares for g in kept) / own_dof if own_dof else 0.0  # this run's own variance
    squares, dof, used = _pooled(kept, prior)
    if not kept or dof == 0:
        return None
    total = sum(g.weight for g in kept)
    effect = sum(g.effect * g.weight for g in kept) / total
    # the calibration adds confidence, never quiet: from a quieter hour it would make a run's
    # own noise look smaller than it is (a false regression of +5 % was called so here)
    variance = max(squares / dof, own)
    if len(kept) > 1:
        # generations whose effects disagree more than their processes' spread allows (both
        # processes of one side slow in one generation, say): the Birge ratio widens the
        # interval by as much, never narrows it
        q = sum(g.weight * (g.effect - effect) ** 2 for g in kept) / variance if variance else 0
        variance *= max(1.0, q / (len(kept) - 1))
    left_out = tuple(i + 1 for i, bad in enumerate(flags) if bad)
    quietest = min((g.squares / g.dof for g in kept if g.dof), default=0.0)
    return Evidence(
        effect=effect,
        se=math.sqrt(variance / total),
        dof=dof,
        generations=len(kept),
        weight=total,
        prior_used=used,
        measured=len(found),
        left_out=left_out,
        quietest=quietest,
    )


@dataclass(frozen=True)
class Design:
    """The sequential design's fixed choices."""

    alpha: float = SEQUENTIAL_ALPHA  # per case over all its looks, two-sided
    looks: int = MAX_GENERATIONS
    per_side: int = LATER_PAIRED_WORKERS  # the processes a side each further generation brings


DESIGN = Design()  # the A/B's


@dataclass(frozen=True)
class Levels:
    """The levels one look is judged at."""

    change: float  # two-sided, for calling a regression or improvement
    equivalence: float  # two-sided, for ruling out the margin (2 x the one-sided beta)
    margin: float  # log scale: the change that "no change" must rule out
    min_effect: float


def _levels(design: Design, min_effect: float) -> Levels:
    calls = max(design.looks - MIN_GENERATIONS_FOR_CHANGE + 1, 1)  # the looks that can call one
    margin = math.log1p(EQUIVALENCE * min_effect)
    return Levels(design.alpha / calls, 2 * EQUIVALENCE_BETA, margin, min_effect)


def sequential_verdict(
    case: str,
    generations: Sequence[tuple[Processes, Processes]],
    min_effect: float,
    prior: Floor | None = None,
    design: Design = DESIGN,
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
    levels = _levels(design, min_effect)
    more = len(generations) < design.looks
    if found is None or min(len(base), len(head)) < MIN_SAMPLES:
        change = float(np.median(h_meds)) / float(np.median(b_meds)) - 1
        p, half, outcome = 1.0, math.inf, UNSURE
    else:
        lo, hi = found.interval(levels.change)
        change, p, half = math.expm1(found.effect), found.p_value(), math.expm1((hi - lo) / 2)
        outcome = _decide(found, levels)
        if outcome == UNSURE and more and found.generations >= MIN_GENERATIONS_FOR_CHANGE:
            # more processes must be able to tell. With two generations, one of them may be
            # disturbed but not yet told apart (a 10 % slowdown was lost so): then only when
            # even the quieter one's spread could not (on a noisy runner most of the full
            # tier's batch-32 cases, which a third generation never settled either)
            early = found.generations < MIN_GENERATIONS_FOR_FUTILITY
            more = _could_settle(found.quieter() if early else found, levels, design)
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
        note=_left_out_note(found),
    )


def _left_out_note(found: Evidence | None) -> str:
    if found is None or not found.left_out:
        return ""
    which = ", ".join(map(str, found.left_out))
    return f"generation {which} left out: its processes spread far beyond the others' (disturbed)"


def _decide(found: Evidence, levels: Levels) -> str:
    change = math.expm1(found.effect)
    if abs(change) >= levels.min_effect:
        lo, hi = found.interval(levels.change)
        if found.generations < MIN_GENERATIONS_FOR_CHANGE:
            return UNSURE
        if lo > 0:
            return REGRESSION
        if hi < 0:
            return IMPROVEMENT
        return UNSURE
    lo, hi = found.interval(levels.equivalence)
    return NO_CHANGE if -levels.margin < lo and hi < levels.margin else UNSURE


def _could_settle(found: Evidence, levels: Levels, design: Design) -> bool:
    """Whether the last look, at this noise, could call a change of this size or rule out the
    margin around this estimate."""
    effect = abs(found.effect)
    if abs(math.expm1(found.effect)) >= levels.min_effect:
        return effect >= found.projected_half_width(levels.change, design.looks, design.per_side)
    margin = found.projected_half_width(levels.equivalence, design.looks, design.per_side)
    return effect + margin < levels.margin


def settled(verdict: Verdict) -> bool:
    """Whether a case needs no more generations: decided, at the cap, or beyond what more
    processes could tell."""
    return not verdict.more
