"""Every detected change of a history: latency steps and creeps per case, and exact steps of the
cost fields, each with the commits that bound it."""

from __future__ import annotations

from dataclasses import dataclass

from unet.bench.defaults import MIN_EFFECT
from unet.bench.history.series import CaseSeries, Commit, History
from unet.bench.history.steps import STEP, Change, detect_changes, exact_steps
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
