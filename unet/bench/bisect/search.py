"""The bisection and how each step decides, given functions that measure a commit.

Costs are exact: one count of a commit decides whether it changed them. Time is not: a step is a
paired A/B of the commit against the good revision (two worker processes per side, a suspected
regression confirmed by fresh processes before it counts), so no step rests on a single run. An
``unsure`` step is measured again with twice the round blocks, up to ``MAX_ATTEMPTS`` times;
still unsure, it is decided by its size: bad when the change is at least half the change between
the ends (the evidence row says so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from unet.bench.stats.verdict import NO_CHANGE, REGRESSION, UNSURE, Verdict

MAX_ATTEMPTS = 3  # A/B measurements of one step before it is decided by size
BAD, GOOD = "bad", "good"


@dataclass(frozen=True)
class Slowdown:
    """What the ends showed and a step looks for: these cases slower, by up to ``change``."""

    cases: Sequence[str]
    change: float  # the largest of their changes between the ends


@dataclass
class Evidence:
    """What one measurement of a commit showed, and what it decided."""

    commit: str  # full id
    subject: str
    measured: str  # "time" (A/B against good) or "cost" (exact)
    decision: str  # bad or good, or "" for a measurement that decided nothing
    detail: list[str] = field(default_factory=list)  # per case: verdict, change, CI / cost change
    blocks: int = 0  # round blocks per case and side (time)
    note: str = ""


def first_bad(commits: Sequence[str], is_bad: Callable[[str], bool]) -> int:
    """Index of the first bad commit of ``commits``, whose first is known good and last known
    bad; ``is_bad`` is asked about as few midpoints as binary search needs."""
    lo, hi = 0, len(commits) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if is_bad(commits[mid]):
            hi = mid
        else:
            lo = mid
    return hi


def verdict_line(v: Verdict) -> str:
    return (
        f"{v.case}: {v.outcome} {v.change:+.1%} (base {v.base_median * 1e3:.4g} ms "
        f"[{v.base_ci[0] * 1e3:.4g}, {v.base_ci[1] * 1e3:.4g}], head {v.head_median * 1e3:.4g} ms "
        f"[{v.head_ci[0] * 1e3:.4g}, {v.head_ci[1] * 1e3:.4g}])"
        + (f"; {v.note}" if v.note else "")  # e.g. the environments differ
    )


def time_outcome(verdicts: Sequence[Verdict], cases: Sequence[str]) -> str:
    """regression when any case regressed; unsure when none did but some could not be told;
    else no change. A case missing from ``verdicts`` (it failed to run) is unsure."""
    by_case = {v.case: v.outcome for v in verdicts}
    outcomes = [by_case.get(c, UNSURE) for c in cases]
    if REGRESSION in outcomes:
        return REGRESSION
    if UNSURE in outcomes:
        return UNSURE
    return NO_CHANGE


def decide_time(
    commit: str,
    subject: str,
    slowdown: Slowdown,
    measure: Callable[[str, int], list[Verdict]],
    blocks: int,
    log: list[Evidence],
) -> bool:
    """Whether ``commit`` is slower than good for the slowdown's cases; each measurement joins
    ``log``."""
    for attempt in range(MAX_ATTEMPTS):
        verdicts = measure(commit, blocks)
        outcome = time_outcome(verdicts, slowdown.cases)
        row = Evidence(commit, subject, "time", "", [verdict_line(v) for v in verdicts], blocks)
        log.append(row)
        if outcome != UNSURE:
            row.decision = BAD if outcome == REGRESSION else GOOD
            return row.decision == BAD
        if attempt + 1 < MAX_ATTEMPTS:
            row.note = "unsure: measured again with twice the round blocks"
            blocks *= 2
    mine = [v.change for v in verdicts if v.case in slowdown.cases]
    change = max(mine) if mine else 0.0
    row.decision = BAD if change >= slowdown.change / 2 else GOOD
    row.note = (
        f"still unsure after {MAX_ATTEMPTS} measurements: decided by size ({change:+.1%} "
        f"against {slowdown.change:+.1%} between the ends)"
    )
    return row.decision == BAD


def decide_cost(
    commit: str, subject: str, changes: Callable[[str], list[str]], log: list[Evidence]
) -> bool:
    """Whether ``commit``'s exact costs differ from good's for the cases that changed."""
    found = changes(commit)
    decision = BAD if found else GOOD
    log.append(Evidence(commit, subject, "cost", decision, found or ["costs as at good"]))
    return bool(found)
