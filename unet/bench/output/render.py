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
    if any(v.note for v in verdicts):  # e.g. the GPU throttled: why a change is only unsure
        header.append("note")
        for row, v in zip(rows, verdicts, strict=True):
            row.append(v.note)
    return table(header, rows, markdown=markdown)


def cost_change_table(changes: Sequence[tuple[str, str, object, object]]) -> str:
    """(case, field, old, new) rows; bytes in MiB."""
    rows = [
        (case, f, *((mib(v) for v in (old, new)) if f == "peak_activation_bytes" else (old, new)))
        for case, f, old, new in changes
    ]
    return table(("case", "field", "old", "new"), rows, empty="(none)")


def _calls(n: float | None) -> str:
    return "-" if n is None else f"{n:g}"


def attribution_table(att: Attribution, markdown: bool = False) -> str:
    """Operators by self-time change (or, for one profile, by self time), then the outside row.
    Times are per case call, in the profile's clock (host CPU, or CUDA kernels)."""
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
        "share of Δ",
    ]
    rows = [
        [
            r.op,
            _calls(r.calls[0]),
            _calls(r.calls[1]),
            f"{r.self_s[0] * 1e3:.4f}",
            f"{r.self_s[1] * 1e3:.4f}",
            f"{r.delta_s * 1e3:+.4f}",
            f"{r.share:.1%}",
        ]
        for r in att.rows
    ]
    return table(header, rows, markdown=markdown)


def attribution_text(att: Attribution, markdown: bool = False) -> str:
    """A heading line with the case's profiled call times, then the table."""
    if att.single:
        head = f"{att.case}: {att.wall_s[1] * 1e3:.4f} ms per call (profiled)"
    else:
        base, now = (w * 1e3 for w in att.wall_s)
        change = f"{att.delta_s / att.wall_s[0]:+.1%}" if att.wall_s[0] else "n/a"
        head = f"{att.case}: {base:.4f} -> {now:.4f} ms per call (profiled, {change})"
    if markdown:
        return f"**{head}**\n\n{attribution_table(att, True)}"
    return f"{head}\n{attribution_table(att)}"


def explained_markdown(items: Sequence[Explained], title: str) -> str:
    """The explained cases as Markdown (explain.md, the attribution part of ab.md)."""
    lines = [f"## {title}", ""]
    for item in items:
        if item.attribution is not None:
            lines += [attribution_text(item.attribution, markdown=True), ""]
        else:
            lines += [f"**{item.case}** ({item.reason}): not attributed: {item.note}", ""]
        lines += [f"Repro: `{item.repro}`", ""]
    return "\n".join(lines)
