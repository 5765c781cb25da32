"""Noise-aware verdicts: is the head's latency distribution different from the base's?

Per case, on the raw per-round samples of both runs:

* a two-sided Mann-Whitney U rank test (scipy) says whether the distributions differ
  (significant when p < ``alpha``) without assuming normal, outlier-free timings;
* the effect is the relative change of the medians, head / base - 1; it must reach
  ``min_effect`` to matter.

| test        | effect >= threshold              | effect < min_effect |
|-------------|----------------------------------|---------------------|
| significant | ``regression`` / ``improvement`` | ``no change``       |
| not         | ``unsure`` (too noisy to tell)   | ``no change``       |

When each side was measured in several processes (A/B round blocks), rounds within one process
are not independent: memory layout, core placement and neighbours differ from one process to the
next, and on a CPU a case can switch between speed modes. So the block is the unit: the effect is
the change of the median of the per-block medians (each process counts once, however many rounds
it fitted in), and the threshold is raised to the *noise floor*, the spread of the per-block
medians of the same code on either side. An effect between ``min_effect`` and the noise floor is
``unsure``. Processes that ran one generation after another (A/B's re-measurement) are judged per
generation: the floor is the largest spread within one, the effect the mean of theirs, so drift
between generations, which moves both sides alike, is not mistaken for noise.

Fewer than ``min_samples`` rounds on either side is ``unsure``. ``unsure`` never fails a run.
A side whose IQR / median exceeds ``max_dispersion`` is reported as noisy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

REGRESSION, IMPROVEMENT, NO_CHANGE, UNSURE = "regression", "improvement", "no change", "unsure"
ALPHA = 0.01  # significance level of the rank test
MIN_EFFECT = 0.03  # smallest relative change of the median that counts (3 %)
MIN_SAMPLES = 5  # fewer rounds than this on a side cannot support a verdict
MAX_DISPERSION = 0.10  # IQR / median above this marks a side as noisy


@dataclass(frozen=True)
class Verdict:
    case: str
    verdict: str
    base_median: float  # seconds, over all rounds (the CIs are of these)
    head_median: float
    change: float  # head / base - 1, from the per-block medians when there are blocks
    p_value: float
    base_ci: tuple[float, float]  # 95 % confidence interval of each median
    head_ci: tuple[float, float]
    base_dispersion: float  # IQR / median
    head_dispersion: float
    n_base: int
    n_head: int
    noise_floor: float = 0.0  # relative spread of per-block medians of the same side
    base_blocks: tuple[float, ...] = ()  # per-block (per-process) medians, A/B mode
    head_blocks: tuple[float, ...] = ()

    @property
    def noisy(self) -> bool:
        return max(self.base_dispersion, self.head_dispersion) > MAX_DISPERSION

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "noisy": self.noisy}


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


def compare_samples(
    case: str,
    base: Sequence[float],
    head: Sequence[float],
    *,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    min_samples: int = MIN_SAMPLES,
    noise_floor: float = 0.0,
    block_medians: tuple[Sequence[float], Sequence[float]] = ((), ()),
    change: float | None = None,
) -> Verdict:
    """The verdict for one case from its base and head per-round times (seconds).

    With ``block_medians`` (per-process medians of each side) the effect is the change of their
    medians instead of the pooled rounds' medians. ``change`` overrides the effect.
    """
    if not base or not head:
        raise ValueError(f"{case}: no samples (base {len(base)}, head {len(head)})")
    b_med, h_med = float(np.median(base)), float(np.median(head))
    b_blocks, h_blocks = block_medians
    if change is None and len(b_blocks) and len(h_blocks):
        change = float(np.median(h_blocks)) / float(np.median(b_blocks)) - 1
    elif change is None:
        change = h_med / b_med - 1
    from scipy import stats

    p = float(stats.mannwhitneyu(head, base, alternative="two-sided").pvalue)
    if min(len(base), len(head)) < min_samples:
        verdict = UNSURE
    elif abs(change) < min_effect:
        verdict = NO_CHANGE
    elif p < alpha and abs(change) >= noise_floor:
        verdict = REGRESSION if change > 0 else IMPROVEMENT
    else:
        verdict = UNSURE
    return Verdict(
        case=case,
        verdict=verdict,
        base_median=b_med,
        head_median=h_med,
        change=change,
        p_value=p,
        base_ci=median_ci(base),
        head_ci=median_ci(head),
        base_dispersion=dispersion(base),
        head_dispersion=dispersion(head),
        n_base=len(base),
        n_head=len(head),
        noise_floor=noise_floor,
        base_blocks=tuple(b_blocks),
        head_blocks=tuple(h_blocks),
    )


def block_spread(blocks: Sequence[Sequence[float]]) -> float:
    """(max - min) of the per-block medians over the median of all samples; 0 for one block."""
    medians = [float(np.median(b)) for b in blocks if len(b)]
    if len(medians) < 2:
        return 0.0
    return (max(medians) - min(medians)) / float(np.median(np.concatenate(blocks)))


def compare_blocks(
    case: str,
    base_blocks: Sequence[Sequence[float]],
    head_blocks: Sequence[Sequence[float]],
    **options: float,
) -> Verdict:
    """The verdict from each side's blocks (one list of rounds per process): the rank test on
    the pooled rounds, the effect from the median of per-block medians, and the noise floor."""
    floor = max(block_spread(base_blocks), block_spread(head_blocks))
    b_meds, h_meds = (
        [float(np.median(b)) for b in bs if len(b)] for bs in (base_blocks, head_blocks)
    )
    return compare_samples(
        case,
        [x for b in base_blocks for x in b],
        [x for b in head_blocks for x in b],
        noise_floor=floor,
        block_medians=(b_meds, h_meds),
        **options,  # type: ignore[arg-type]
    )


def compare_generations(
    case: str,
    generations: Sequence[tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]]],
    **options: float,
) -> Verdict:
    """The verdict from blocks measured in generations: (base blocks, head blocks) of processes
    that ran side by side, one generation after another. Drift between generations moves both
    sides alike, so it must not count as noise: the floor is the largest spread within one
    generation, and the effect is the mean of the generations' effects."""
    generations = [(base, head) for base, head in generations if base and head]
    if not generations:
        raise ValueError(f"{case}: no generation measured both sides")
    each = [compare_blocks(case, base, head, **options) for base, head in generations]
    if len(each) == 1:
        return each[0]
    return compare_samples(
        case,
        [x for base, _ in generations for block in base for x in block],
        [x for _, head in generations for block in head for x in block],
        noise_floor=max(v.noise_floor for v in each),
        block_medians=(
            [m for v in each for m in v.base_blocks],
            [m for v in each for m in v.head_blocks],
        ),
        change=float(np.mean([v.change for v in each])),
        **options,  # type: ignore[arg-type]
    )


def confirm(first: Verdict, rerun: Verdict) -> Verdict:
    """A suspected regression stands only if its re-measurement says so too; else ``unsure``."""
    if first.verdict != REGRESSION:
        return first
    return rerun if rerun.verdict == REGRESSION else replace(rerun, verdict=UNSURE)


def format_verdicts(verdicts: Sequence[Verdict], markdown: bool = False) -> str:
    """A table: case, verdict, base and head medians with CIs, change, p, noisy flag."""
    if not verdicts:
        return "(no case was measured in both runs)"
    header = ["case", "verdict", "base median", "head median", "change", "p", "floor", "noisy"]

    def ms(v: float) -> str:
        return f"{v * 1e3:.4g} ms"

    rows = [
        [
            v.case,
            v.verdict,
            f"{ms(v.base_median)} [{ms(v.base_ci[0])}, {ms(v.base_ci[1])}]",
            f"{ms(v.head_median)} [{ms(v.head_ci[0])}, {ms(v.head_ci[1])}]",
            f"{v.change:+.1%}",
            f"{v.p_value:.2g}",
            f"{v.noise_floor:.1%}",
            "noisy" if v.noisy else "",
        ]
        for v in verdicts
    ]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, ["-" * w for w in widths], *rows]
    )


def failed(verdicts: Sequence[Verdict]) -> list[Verdict]:
    return [v for v in verdicts if v.verdict == REGRESSION]
