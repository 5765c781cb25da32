"""Every detected change of a history: latency steps and creeps per case, and exact steps of the
cost fields, each with the commits that bound it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from unet.bench.defaults import MIN_EFFECT
from unet.bench.history.series import UNVERSIONED, CaseSeries, Commit, History
from unet.bench.history.steps import STEP, Change, detect_changes, exact_steps
from unet.bench.results.expected import ExpectedChangesError, active
from unet.bench.results.record import EXACT_FIELDS

LATENCY = "latency"


@dataclass(frozen=True)
class Finding:
    case: str
    group: str
    field: str  # latency, or one of EXACT_FIELDS
    change: Change
    start: Commit  # the last commit at the old level (a creep: its window's first)
    end: Commit  # the first at the new level (a creep: its window's last)
    declared: str = ""  # the reason an acknowledged change added in start..end gives

    @property
    def exact(self) -> bool:
        return self.field != LATENCY

    @property
    def commit_range(self) -> str:
        """git's notation for the commits that can hold the cause: start..end."""
        return f"{self.start.label}..{self.end.label}"

    def to_dict(self) -> dict[str, object]:
        c = self.change
        return {
            "case": self.case,
            "group": self.group,
            "field": self.field,
            "kind": c.kind,
            "from_commit": self.start.id,
            "to_commit": self.end.id,
            "before": c.before,
            "after": c.after,
            "change": c.change,
            "declared": self.declared,
        }


def case_findings(series: CaseSeries, min_effect: float = MIN_EFFECT) -> list[Finding]:
    points = series.points
    found = detect_changes(
        [p.median for p in points], [p.rel_ci_halfwidth for p in points], min_effect=min_effect
    )
    out = [_finding(series, LATENCY, c) for c in found]
    for name in EXACT_FIELDS:
        values = [p.exact.get(name) for p in points]
        out += [_finding(series, name, c) for c in exact_steps(values)]
    return out


def _finding(series: CaseSeries, field_name: str, change: Change) -> Finding:
    points = series.points
    return Finding(
        series.case,
        series.group,
        field_name,
        change,
        points[change.start].commit,
        points[change.end].commit,
    )


def all_findings(history: History, min_effect: float = MIN_EFFECT) -> list[Finding]:
    """Exact changes first (they are certain), then latency steps, then creeps."""
    found = [f for s in history.cases.values() for f in case_findings(s, min_effect)]
    return sorted(found, key=lambda f: (not f.exact, f.change.kind != STEP, f.case, f.field))


def with_declared(found: list[Finding], repo: Path) -> list[Finding]:
    """Each latency finding with the reason of an acknowledged change (``results.expected``)
    that a commit in its range added for its case, in its direction."""
    out = []
    for f in found:
        if f.exact or UNVERSIONED in (f.start.id, f.end.id) or f.start.dirty or f.end.dirty:
            out.append(f)
            continue
        try:
            entries = active(repo, f.start.id, f.end.id)
        except ExpectedChangesError:
            entries = []
        direction = "slower" if f.change.change > 0 else "faster"
        reasons = [e.reason for e in entries if e.matches(f.case) and e.direction == direction]
        out.append(replace(f, declared="; ".join(reasons)) if reasons else f)
    return out
