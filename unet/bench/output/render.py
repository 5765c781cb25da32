"""The one table renderer of every command: plain fixed-width text or Markdown.

Cells are formatted alike everywhere: integers with thousands separators, lists joined by
commas (``empty`` when there are none), everything else with ``str``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from unet.bench.units import mib, ms

if TYPE_CHECKING:
    from unet.bench.results.explained import Explained
    from unet.bench.stats.attribution import Attribution
    from unet.bench.stats.floors import Floor
    from unet.bench.stats.verdict import Verdict


def cell(value: object, empty: str = "-") -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or empty
    return str(value)


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    markdown: bool = False,
    right: Sequence[bool] | None = None,
    empty: str = "-",
) -> str:
    """``rows`` under ``header``. Plain tables pad columns (right-aligned where ``right`` says
    so) under a dashed rule; Markdown tables are GitHub's pipe tables."""
    cells = [[cell(v, empty) for v in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    align = right or [False] * len(header)

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, align, strict=True)
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def numeric_columns(rows: Sequence[Sequence[object]], width: int) -> list[bool]:
    """Which columns hold only integers (right-aligned in plain tables)."""
    return [
        bool(rows) and all(isinstance(r[i], int) and not isinstance(r[i], bool) for r in rows)
        for i in range(width)
    ]


def verdict_table(verdicts: Sequence[Verdict], markdown: bool = False) -> str:
    """Case, outcome, base and head medians with 95 % CIs, change, p, noise floor, noisy flag."""
    if not verdicts:
        return "(no case was measured in both runs)"
    header = ["case", "verdict", "base median", "head median", "change", "p", "floor", "noisy"]
    rows = [
        [
            v.case,
            v.outcome,
            f"{ms(v.base_median)} [{ms(v.base_ci[0])}, {ms(v.base_ci[1])}]",
            f"{ms(v.head_median)} [{ms(v.head_ci[0])}, {ms(v.head_ci[1])}]",
            f"{v.change:+.1%}",
            f"{v.p_value:.2g}",
            f"{v.noise_floor:.1%}",
            "noisy" if v.noisy else "",
        ]
        for v in verdicts
    ]
    for p in (90, 99):  # tail percentiles, where any case had the rounds for them
        pairs = [(getattr(v, f"base_p{p}"), getattr(v, f"head_p{p}")) for v in verdicts]
        if any(b is not None and h is not None for b, h in pairs):
            header.append(f"p{p} base → head")
            for row, v, pair in zip(rows, verdicts, pairs, strict=True):
                row.append(_tail(pair, min(v.n_base, v.n_head), p))
    if any(v.statistic != "median" for v in verdicts):  # --gate-on: what change and p are of
        header[4] = f"{verdicts[0].statistic} change"
    # why a change is only unsure (throttling, no calibration): each distinct note once, below
    notes = list(dict.fromkeys(v.note for v in verdicts if v.note))
    if notes:
        header.append("note")
        for row, v in zip(rows, verdicts, strict=True):
            row.append(f"[{notes.index(v.note) + 1}]" if v.note else "")
    footer = "".join(f"\n[{i}] {note}" for i, note in enumerate(notes, 1))
    return table(header, rows, markdown=markdown) + ("\n" + footer if footer else "")


def _tail(pair: tuple[float | None, float | None], n: int, p: int) -> str:
    from unet.bench.stats.percentiles import too_few

    base, head = pair
    if base is None or head is None:
        return too_few(n, p)
    return f"{ms(base)} → {ms(head)} ({head / base - 1:+.1%})"


def verdict_summary(
    verdicts: Sequence[Verdict], cost_changes: Sequence[tuple[str, str, object, object]] = ()
) -> str:
    """What a person reads first: the counts per outcome, then each regression and improvement,
    why the unsure ones are unsure, and the cases not gated here."""
    from unet.bench.results.expected import EXPECTED
    from unet.bench.stats.verdict import IMPROVEMENT, NOT_GATED, REGRESSION, UNSURE

    by: dict[str, list[Verdict]] = {}
    for v in verdicts:
        by.setdefault(v.outcome, []).append(v)
    counts = ", ".join(f"{len(vs)} {outcome}" for outcome, vs in sorted(by.items()))
    changed = sorted({case for case, *_ in cost_changes})
    lines = [f"verdicts: {counts or 'none'}; {len(changed)} case(s) with cost changes"]
    for outcome in (REGRESSION, IMPROVEMENT):
        for v in by.get(outcome, []):
            limit = max(v.noise_floor, 0.0)
            lines.append(f"  {outcome}: {v.case} {v.change:+.1%} (beyond a floor of {limit:.1%})")
    for v in by.get(EXPECTED, []):  # acknowledged in benchmarks/expected_changes.toml
        lines.append(f"  {EXPECTED}: {v.case} {v.change:+.1%} ({v.note})")
    reasons: dict[str, list[Verdict]] = {}
    for v in by.get(UNSURE, []):
        reasons.setdefault(v.note or "too noisy to tell at this effect size", []).append(v)
    for why, vs in reasons.items():
        lines.append(f"  unsure ({len(vs)}): {why}")
    for v in by.get(NOT_GATED, []):
        lines.append(f"  not gated: {v.case}: {v.note}")
    lines += [f"  cost change: {case}" for case in changed]
    return "\n".join(lines)


def cost_change_table(changes: Sequence[tuple[str, str, object, object]]) -> str:
    """(case, field, old, new) rows; bytes in MiB."""
    rows = [
        (case, f, *((mib(v) for v in (old, new)) if f == "peak_activation_bytes" else (old, new)))
        for case, f, old, new in changes
    ]
    return table(("case", "field", "old", "new"), rows, empty="(none)")


def _calls(n: float | None) -> str:
    return "-" if n is None else f"{n:g}"


def attribution_table(att: Attribution, markdown: bool = False, shares: bool = True) -> str:
    """Operators by self-time change (or, for one profile, by self time), then the outside row.
    Times are per case call, in the profile's clock (host CPU, or CUDA kernels). ``shares``:
    each operator's share of the net change, shown only when that change is a confirmed one."""
    unit = "ms/call" if att.clock == "cpu" else "device ms/call"
    if att.single:
        header = ["operator", "calls", f"self {unit}", "share of call"]
        rows = [
            [r.op, _calls(r.calls[1]), f"{r.self_s[1] * 1e3:.4f}", f"{r.share:.1%}"]
            for r in att.rows
        ]
        return table(header, rows, markdown=markdown)
    header = [
        "operator",
        "calls base",
        "calls head",
        f"base {unit}",
        f"head {unit}",
        "Δ ms",
        *(["share of Δ"] if shares else []),
    ]
    rows = [
        [
            r.op,
            _calls(r.calls[0]),
            _calls(r.calls[1]),
            f"{r.self_s[0] * 1e3:.4f}",
            f"{r.self_s[1] * 1e3:.4f}",
            f"{r.delta_s * 1e3:+.4f}",
            *([f"{r.share:.1%}"] if shares else []),
        ]
        for r in att.rows
    ]
    note = "" if shares else "\n(the net change is not a confirmed one: deltas without shares)"
    return table(header, rows, markdown=markdown) + note


def attribution_text(att: Attribution, markdown: bool = False, shares: bool = True) -> str:
    """A heading line with the case's profiled call times, then the table."""
    if att.single:
        head = f"{att.case}: {att.wall_s[1] * 1e3:.4f} ms per call (profiled)"
    else:
        base, now = (w * 1e3 for w in att.wall_s)
        change = f"{att.delta_s / att.wall_s[0]:+.1%}" if att.wall_s[0] else "n/a"
        head = f"{att.case}: {base:.4f} -> {now:.4f} ms per call (profiled, {change})"
    if markdown:
        return f"**{head}**\n\n{attribution_table(att, True, shares)}"
    return f"{head}\n{attribution_table(att, shares=shares)}"


def explained_markdown(items: Sequence[Explained], title: str) -> str:
    """The explained cases as Markdown (explain.md, the attribution part of ab.md)."""
    lines = [f"## {title}", ""]
    for item in items:
        if item.attribution is not None:
            lines += [attribution_text(item.attribution, True, item.confirmed), ""]
        else:
            lines += [f"**{item.case}** ({item.reason}): not attributed: {item.note}", ""]
        lines += [f"Repro: `{item.repro}`", ""]
    return "\n".join(lines)


def floor_table(floors: dict[str, Floor], markdown: bool = False) -> str:
    """Per case: its median, the processes measured, its floor (the change two processes of
    the same code reach) and whether it is gated here."""
    rows = [
        (
            case,
            ms(f.median_s),
            f.processes,
            f"{f.floor:.1%}",
            "unstable here: not gated" if f.unstable else "gated",
        )
        for case, f in sorted(floors.items())
    ]
    header = ("case", "median", "processes", "floor (detection limit)", "status")
    return table(header, rows, markdown=markdown, empty="(no case measured)")
