"""The history page: one self-contained HTML file (inline SVG and CSS, no script), one section
per group with its latency chart, its exact costs as small charts, and what was detected."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from unet.bench.history.findings import Finding
from unet.bench.history.series import CaseSeries, History, Point
from unet.bench.history.steps import CREEP, PENALTY, Z
from unet.bench.history.svg import PALETTE, Frame, Marker, Series, chart, si
from unet.bench.results.environment import describe_diff
from unet.bench.results.record import EXACT_FIELDS
from unet.bench.units import mib

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 36px; border-top: 1px solid #ddd;
  padding-top: 12px; } h3 { font-size: 14px; margin: 4px 0; }
svg.chart text { font-size: 11px; fill: #444; } svg.chart text.marker { font-weight: 600; }
svg.chart polyline { fill: none; stroke-width: 1.5; } svg.chart line.grid { stroke: #eee; }
svg.chart line.axis { stroke: #999; } svg.chart line.ci { stroke-width: 1; opacity: .6; }
svg.chart line.step { stroke-dasharray: 5 4; stroke-width: 1.5; }
svg.chart rect.band { opacity: .12; }
svg.chart g.series:hover polyline { stroke-width: 3.5; } svg.chart circle:hover { r: 6; }
.legend span { display: inline-block; margin: 2px 12px 2px 0; font-size: 12px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
  vertical-align: -1px; }
.costs { display: flex; flex-wrap: wrap; gap: 8px 24px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } .muted { color: #777; }
"""


def short_names(cases: Sequence[str]) -> dict[str, str]:
    """Case -> its id without the parts every case of the group shares (``bs=1``)."""
    parts = {c: re.sub(r"^[^\[]*\[|\]$", "", c).split("-") for c in cases}
    common = set.intersection(*(set(p) for p in parts.values())) if len(parts) > 1 else set()
    return {c: "-".join(x for x in p if x not in common) or c for c, p in parts.items()}


def _hover(case: str, p: Point, value: str) -> str:
    ci = f", 95 % CI {p.ci[0] * 1e3:.4g}–{p.ci[1] * 1e3:.4g} ms" if p.ci else ""
    runs = f"{p.runs} run" + ("s" if p.runs > 1 else "")
    return f"{case}\ncommit {p.commit.label} ({p.commit.time or 'no time'})\n{value}{ci}\n{runs}"


def latency_chart(history: History, cases: list[CaseSeries], found: list[Finding]) -> str:
    index = {c: i for i, c in enumerate(history.commits)}
    names, colors = short_names([c.case for c in cases]), {}
    series = []
    for k, c in enumerate(cases):
        colors[c.case] = PALETTE[k % len(PALETTE)]
        s = Series(names[c.case], colors[c.case])
        for p in c.points:
            ci = (p.ci[0] * 1e3, p.ci[1] * 1e3) if p.ci else None
            text = _hover(c.case, p, f"median {p.median * 1e3:.4g} ms")
            s.points.append((index[p.commit], p.median * 1e3, ci, text))
        series.append(s)
    markers = [
        Marker(
            index[f.start],
            index[f.end],
            f"{names[f.case]} {f.change.change:+.1%}",
            colors[f.case],
            f.change.kind == CREEP,
        )
        for f in found
        if f.field == "latency"
    ]
    markers += [  # environment changes, gray, between the commit before and this one
        Marker(i - 1, i, "env: " + ", ".join(field for field, *_ in diff), "#888888")
        for i, diff in history.environment_changes()
    ]
    legend = "".join(
        f'<span><i style="background:{colors[c.case]}"></i>{escape(names[c.case])}</span>'
        for c in cases
    )
    labels = [c.label for c in history.commits]
    return chart(series, labels, "median ms", markers) + f'<div class="legend">{legend}</div>'


def cost_charts(history: History, cases: list[CaseSeries]) -> str:
    """One small staircase chart per exact field that the group's runs recorded."""
    index = {c: i for i, c in enumerate(history.commits)}
    labels = [c.label for c in history.commits]
    names = short_names([c.case for c in cases])
    out = []
    for name in EXACT_FIELDS:
        series = []
        for k, c in enumerate(cases):
            s = Series(names[c.case], PALETTE[k % len(PALETTE)], steps=True)
            for p in c.points:
                if name in p.exact:
                    v = p.exact[name]
                    shown = mib(v) if name == "peak_activation_bytes" else f"{v:,.0f}"
                    i = index[p.commit]
                    s.points.append((i, v, None, _hover(c.case, p, f"{name} {shown}")))
            if s.points:
                series.append(s)
        if series:
            frame = Frame(440, 220, left=80, bottom=60)
            mib_ticks = lambda v: f"{v / 2**20:.3g} MiB"  # noqa: E731
            fmt = mib_ticks if name == "peak_activation_bytes" else si
            svg = chart(series, labels, name, frame=frame, fmt=fmt)
            out.append(f"<div><h3>{escape(name)}</h3>{svg}</div>")
    return f'<div class="costs">{"".join(out)}</div>' if out else ""


def findings_table(found: list[Finding]) -> str:
    if not found:
        return '<p class="muted">No step, creep or exact change detected.</p>'
    rows = []
    for f in found:
        c = f.change
        before, after = shown_value(f.field, c.before), shown_value(f.field, c.after)
        rows.append(
            f"<tr><td>{escape(f.case)}</td><td>{escape(f.field)}</td><td>{c.kind}</td>"
            f"<td><code>{escape(f.commit_range)}</code></td><td class=num>{before}</td>"
            f"<td class=num>{after}</td><td class=num>{c.change:+.1%}</td>"
            f"<td>{escape(f.declared)}</td></tr>"
        )
    head = "<tr><th>case</th><th>field</th><th>kind</th><th>commits</th><th>before</th>"
    tail = "<th>after</th><th>change</th><th>declared</th></tr>"
    return f"<table>{head}{tail}{''.join(rows)}</table>"


def environment_section(history: History) -> str:
    """Where the runs' environment changed: the commit and what differs."""
    changes = history.environment_changes()
    if not changes:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(history.commits[i].label)}</code></td>"
        f"<td>{escape(describe_diff(diff))}</td></tr>"
        for i, diff in changes
    )
    return (
        "<h2>Environment changes</h2><p>A step at one of these commits may be the "
        "environment's, not the code's; the charts mark them (env).</p>"
        f"<table><tr><th>from commit</th><th>what changed</th></tr>{rows}</table>"
    )


def shown_value(field_name: str, v: float) -> str:
    if field_name == "latency":
        return f"{v * 1e3:.4g} ms"
    return mib(v) if field_name == "peak_activation_bytes" else f"{v:,.0f}"


def method_note(min_effect: float) -> str:
    return (
        "Each point is one commit: the median of all its runs' rounds, with the 95 % CI of that "
        "median (order statistics). Steps: an exact penalised least-squares segmentation of the "
        f"log medians (PELT, penalty {PENALTY:g}·σ²·ln n, σ the run-to-run scatter from the "
        f"successive differences); a step is kept when it is at least {min_effect:.0%} and "
        f"{Z:g} standard errors, and is not better described as a ramp (a flat-then-ramp fit as "
        "good, and the jump no larger than twice the typical commit-to-commit change). Creep: a "
        "monotonic trend (Kendall's τ, p < 0.05) over a level whose Theil–Sen slope adds up to "
        f"at least {min_effect:.0%}, measured from where it starts. Exact fields: every change "
        "is a step."
    )


def render_page(history: History, found: list[Finding], min_effect: float) -> str:
    commits = history.commits
    span = f"{commits[0].label} ({commits[0].time}) … {commits[-1].label} ({commits[-1].time})"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>unet-bench history: {escape(history.key)}</title><style>{STYLE}</style>",
        f"</head><body><h1>Performance history of <code>{escape(history.key)}</code></h1>",
        f"<p>{len(commits)} commits, {span}. Made "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Hover a point for its commit, date, median "
        "and CI.</p>",
        f'<p class="muted">{escape(method_note(min_effect))}</p>',
    ]
    if history.skipped:
        parts.append(
            f'<p class="muted">{len(history.skipped)} file(s) skipped (other hardware '
            "keys or not run files); the command lists them.</p>"
        )
    parts.append(environment_section(history))
    for group, cases in history.groups().items():
        mine = [f for f in found if f.group == group]
        parts += [
            f"<h2>{escape(group)}</h2>",
            latency_chart(history, cases, mine),
            "<h3>Exact costs</h3>",
            cost_charts(history, cases),
            "<h3>Detected</h3>",
            findings_table(mine),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
