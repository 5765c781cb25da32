"""Noise-aware verdicts: is the head's latency distribution different from the base's?

Per case, on the raw per-round samples of both runs:

* a two-sided Mann-Whitney U rank test (scipy) says whether the distributions differ
  (significant when p < ``ALPHA``) without assuming normal, outlier-free timings;
* the effect is the relative change of the medians, head / base - 1; it must reach
  ``min_effect`` to matter.

| test        | effect >= threshold              | effect < min_effect |
|-------------|----------------------------------|---------------------|
| significant | ``regression`` / ``improvement`` | ``no change``       |
| not         | ``unsure`` (too noisy to tell)   | ``no change``       |

When each side was measured in several processes (A/B), rounds within one process are not
independent: memory layout, core placement and neighbours differ from one process to the next,
and on a CPU a case can switch between speed modes. So the process is the unit: the effect is the
change of the median of the per-process medians (each process counts once, however many rounds
it fitted in), and the threshold is raised to the *noise floor*, the spread of the per-process
medians of the same code on either side. An effect between ``min_effect`` and the noise floor is
``unsure``. Processes that ran one generation after another (A/B's re-measurement) are judged per
generation: the floor is the largest spread within one, the effect the mean of theirs, so drift
between generations, which moves both sides alike, is not mistaken for noise (``--sequential``
A/B judges its generations with ``sequential`` instead).

Fewer than ``MIN_SAMPLES`` rounds on either side is ``unsure``. ``unsure`` never fails a run.
A side whose IQR / median exceeds ``max_dispersion`` is reported as noisy. ``judge_and_confirm``
is the one decide-then-re-measure path of the A/B (paired and process blocks).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from unet.bench.defaults import MIN_EFFECT
from unet.bench.stats.percentiles import MIN_SAMPLES as PERCENTILE_SAMPLES
from unet.bench.stats.percentiles import percentile, statistic_p

REGRESSION, IMPROVEMENT, NO_CHANGE, UNSURE = "regression", "improvement", "no change", "unsure"
NOT_GATED = "not gated"  # between runs: this machine's noise for the case is too large (floors)
ALPHA = 0.01  # significance level of the rank test
MIN_SAMPLES = 5  # fewer rounds than this on a side cannot support a verdict
MAX_DISPERSION = 0.10  # IQR / median above this marks a side as noisy


@dataclass(frozen=True)
class Verdict:
    case: str
    outcome: str  # regression, improvement, no change, unsure or not gated
    base_median: float  # seconds, over all rounds (the CIs are of these)
    head_median: float
    change: float  # head / base - 1, from the per-process medians when there are several
    p_value: float
    base_ci: tuple[float, float]  # 95 % confidence interval of each median
    head_ci: tuple[float, float]
    base_dispersion: float  # IQR / median
    head_dispersion: float
    n_base: int
    n_head: int
    noise_floor: float = 0.0  # relative spread of per-process medians of the same side
    base_processes: tuple[float, ...] = ()  # per-process medians, A/B mode
    head_processes: tuple[float, ...] = ()
    note: str = ""  # why the outcome is what it is when not the statistics alone (throttling)
    more: bool = False  # sequential A/B: another generation of processes could settle it
    base_p90: float | None = None  # tail percentiles of each side's rounds, where enough
    head_p90: float | None = None
    base_p99: float | None = None
    head_p99: float | None = None
    statistic: str = "median"  # what the outcome judges: the median, or --gate-on p90 / p99

    @property
    def noisy(self) -> bool:
        return max(self.base_dispersion, self.head_dispersion) > MAX_DISPERSION

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "noisy": self.noisy}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Verdict:
        """A verdict as ``as_dict`` wrote it, also under the field names of earlier versions."""
        renamed = {LEGACY_FIELDS.get(k, k): v for k, v in data.items()}
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in renamed.items() if k in known}
        for name in ("base_ci", "head_ci", "base_processes", "head_processes"):
            if name in values:
                values[name] = tuple(values[name])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


# field names of ab.json verdicts written before the rename -> today's
LEGACY_FIELDS = {
    "verdict": "outcome",
    "base_blocks": "base_processes",
    "head_blocks": "head_processes",
}


def dispersion(samples: Sequence[float]) -> float:
    """IQR / median."""
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else math.inf


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median from order statistics."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    if n < 3:
        return float(x[0]), float(x[-1])
    from scipy import stats  # imported when used: it costs every pytest process 0.7 s

    lo = int(stats.binom.ppf((1 - confidence) / 2, n, 0.5))
    hi = int(stats.binom.isf((1 - confidence) / 2, n, 0.5))
    return float(x[max(lo - 1, 0)]), float(x[min(hi, n - 1)])


def sides(base: Sequence[float], head: Sequence[float]) -> dict[str, Any]:
    """The fields of a ``Verdict`` that describe each side's rounds: median, its 95 % CI,
    dispersion and count."""
    return {
        "base_median": float(np.median(base)),
        "head_median": float(np.median(head)),
        "base_ci": median_ci(base),
        "head_ci": median_ci(head),
        "base_dispersion": dispersion(base),
        "head_dispersion": dispersion(head),
        "n_base": len(base),
        "n_head": len(head),
        **{
            f"{side}_p{p}": percentile(x, p)
            for side, x in (("base", base), ("head", head))
            for p in (90, 99)
        },
    }


@dataclass(frozen=True)
class Thresholds:
    """What a change must clear to be a verdict: ``min_effect`` (relative) and the case's noise
    floor; significance at ``ALPHA`` and ``MIN_SAMPLES`` rounds a side hold for every gate."""

    min_effect: float = MIN_EFFECT
    noise_floor: float = 0.0
    statistic: str = "median"  # --gate-on: the median, or a tail percentile (p90, p99)


def compare_samples(
    case: str,
    base: Sequence[float],
    head: Sequence[float],
    *,
    thresholds: Thresholds = Thresholds(),
    process_medians: tuple[Sequence[float], Sequence[float]] = ((), ()),
    change: float | None = None,
) -> Verdict:
    """The verdict for one case from its base and head per-round times (seconds).

    With ``process_medians`` (the per-process medians of each side) the effect is the change of
    their medians instead of the pooled rounds' medians. ``change`` overrides the effect.
    """
    if not base or not head:
        raise ValueError(f"{case}: no samples (base {len(base)}, head {len(head)})")
    if thresholds.statistic != "median":
        return compare_percentile(case, base, head, thresholds)
    b_med, h_med = float(np.median(base)), float(np.median(head))
    b_procs, h_procs = process_medians
    if change is None and len(b_procs) and len(h_procs):
        change = float(np.median(h_procs)) / float(np.median(b_procs)) - 1
    elif change is None:
        change = h_med / b_med - 1
    from scipy import stats

    p = float(stats.mannwhitneyu(head, base, alternative="two-sided").pvalue)
    enough = min(len(base), len(head)) >= MIN_SAMPLES
    return Verdict(
        case=case,
        outcome=decide(change, p, enough, thresholds),
        change=change,
        p_value=p,
        **sides(base, head),
        noise_floor=thresholds.noise_floor,
        base_processes=tuple(b_procs),
        head_processes=tuple(h_procs),
    )


def compare_percentile(
    case: str, base: Sequence[float], head: Sequence[float], thresholds: Thresholds
) -> Verdict:
    """``--gate-on pNN``: the effect is the change of that percentile of the rounds; the test
    asks whether one side has more of its rounds above the pooled pNN than the other (Fisher's
    exact test on the 2x2 counts: a quantile test that, unlike Mann-Whitney, a slower tail moves
    even where the median did not, and that holds its false-alarm rate because the threshold
    comes from both sides alike). Fewer rounds than the percentile's floor on a side is
    ``unsure``, saying so."""
    from scipy import stats

    p = statistic_p(thresholds.statistic)
    b_tail, h_tail = percentile(base, p), percentile(head, p)
    if b_tail is None or h_tail is None:
        n = min(len(base), len(head))
        change, pvalue, outcome = 0.0, 1.0, UNSURE
        note = f"too few rounds for p{p} ({n} < {PERCENTILE_SAMPLES[p]})"
    else:
        change = h_tail / b_tail - 1
        pooled = float(np.percentile(np.concatenate([base, head]), p))
        above = [int(np.sum(np.asarray(x) > pooled)) for x in (head, base)]
        counts = [[above[0], len(head) - above[0]], [above[1], len(base) - above[1]]]
        pvalue = float(stats.fisher_exact(counts).pvalue)
        outcome, note = decide(change, pvalue, True, thresholds), ""
    return Verdict(
        case=case,
        outcome=outcome,
        change=change,
        p_value=pvalue,
        **sides(base, head),
        noise_floor=thresholds.noise_floor,
        note=note,
        statistic=thresholds.statistic,
    )


def decide(change: float, p: float, enough: bool, thresholds: Thresholds) -> str:
    """The outcome of the table above, for an effect ``change`` with p-value ``p``; ``enough``
    says whether both sides had ``MIN_SAMPLES`` rounds."""
    if not enough:
        return UNSURE
    if abs(change) < thresholds.min_effect:
        return NO_CHANGE
    if p < ALPHA and abs(change) >= thresholds.noise_floor:
        return REGRESSION if change > 0 else IMPROVEMENT
    return UNSURE


def process_spread(processes: Sequence[Sequence[float]]) -> float:
    """(max - min) of the per-process medians over the median of all their samples; 0 for one
    process."""
    medians = [float(np.median(p)) for p in processes if len(p)]
    if len(medians) < 2:
        return 0.0
    return (max(medians) - min(medians)) / float(np.median(np.concatenate(processes)))


def compare_processes(
    case: str,
    base: Sequence[Sequence[float]],
    head: Sequence[Sequence[float]],
    min_effect: float = MIN_EFFECT,
    statistic: str = "median",
) -> Verdict:
    """The verdict from each side's processes (one list of rounds per process): the rank test
    on the pooled rounds, the effect from the median of per-process medians, and the noise
    floor."""
    floor = max(process_spread(base), process_spread(head))
    b_meds, h_meds = ([float(np.median(p)) for p in side if len(p)] for side in (base, head))
    return compare_samples(
        case,
        [x for p in base for x in p],
        [x for p in head for x in p],
        thresholds=Thresholds(min_effect, floor, statistic),
        process_medians=(b_meds, h_meds),
    )


def compare_generations(
    case: str,
    generations: Sequence[tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]]],
    min_effect: float = MIN_EFFECT,
    statistic: str = "median",
) -> Verdict:
    """The verdict from processes measured in generations: (base processes, head processes)
    that ran side by side, one generation after another. Drift between generations moves both
    sides alike, so it must not count as noise: the floor is the largest spread within one
    generation, and the effect is the mean of the generations' effects."""
    generations = [(base, head) for base, head in generations if base and head]
    if not generations:
        raise ValueError(f"{case}: no generation measured both sides")
    each = [
        compare_processes(case, base, head, min_effect, statistic) for base, head in generations
    ]
    if len(each) == 1:
        return each[0]
    return compare_samples(
        case,
        [x for base, _ in generations for process in base for x in process],
        [x for _, head in generations for process in head for x in process],
        thresholds=Thresholds(min_effect, max(v.noise_floor for v in each), statistic),
        process_medians=(
            [m for v in each for m in v.base_processes],
            [m for v in each for m in v.head_processes],
        ),
        change=float(np.mean([v.change for v in each])),
    )


def demote(verdict: Verdict, base_reasons: Sequence[str], head_reasons: Sequence[str]) -> Verdict:
    """``verdict``, made ``unsure`` with the reason when either side's rounds ran throttled
    (``*_reasons``: that side's throttle reasons; none, not throttled)."""
    sides = (("base", base_reasons), ("head", head_reasons))
    why = "; ".join(f"{side}: {', '.join(r)}" for side, r in sides if r)
    if not why:
        return verdict
    outcome = UNSURE if verdict.outcome in (REGRESSION, IMPROVEMENT) else verdict.outcome
    return replace(verdict, outcome=outcome, note=f"GPU throttled during the rounds ({why})")


def confirm(first: Verdict, rerun: Verdict) -> Verdict:
    """A suspected regression (or improvement) stands only if its re-measurement says so too;
    else ``unsure``."""
    if first.outcome not in (REGRESSION, IMPROVEMENT):
        return first
    return rerun if rerun.outcome == first.outcome else replace(rerun, outcome=UNSURE)


def failed(verdicts: Sequence[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if v.outcome == REGRESSION]


def judge_and_confirm(
    cases: Sequence[str],
    judge: Callable[[str], Verdict | None],
    remeasure: Callable[[list[str]], Callable[[str], Verdict]],
) -> tuple[list[Verdict], list[str]]:
    """Decide each case, then confirm-by-rerun: the suspected regressions are measured again
    (``remeasure`` runs that and returns the judge over all the evidence), and a regression
    stands only if that judge says so too. ``judge`` returns None for a case it cannot decide.
    Returns the verdicts in case order and the re-measured cases."""
    first = {case: judge(case) for case in cases}
    verdicts = {case: v for case, v in first.items() if v is not None}
    suspects = [case for case, v in verdicts.items() if v.outcome == REGRESSION]
    if suspects:
        final = remeasure(suspects)
        for case in suspects:
            verdicts[case] = confirm(verdicts[case], final(case))
    return [verdicts[case] for case in cases if case in verdicts], suspects
