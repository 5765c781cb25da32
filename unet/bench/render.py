"""The one table renderer of every command: plain fixed-width text or Markdown.

Cells are formatted alike everywhere: integers with thousands separators, lists joined by
commas (``empty`` when there are none), everything else with ``str``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unet.bench.verdict import Verdict


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


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.4g} ms"


def verdict_table(verdicts: Sequence[Verdict], markdown: bool = False) -> str:
    """Case, outcome, base and head medians with 95 % CIs, change, p, noise floor, noisy flag."""
    if not verdicts:
        return "(no case was measured in both runs)"
    header = ["case", "verdict", "base median", "head median", "change", "p", "floor", "noisy"]
    rows = [
        [
            v.case,
            v.outcome,
            f"{_ms(v.base_median)} [{_ms(v.base_ci[0])}, {_ms(v.base_ci[1])}]",
            f"{_ms(v.head_median)} [{_ms(v.head_ci[0])}, {_ms(v.head_ci[1])}]",
            f"{v.change:+.1%}",
            f"{v.p_value:.2g}",
            f"{v.noise_floor:.1%}",
            "noisy" if v.noisy else "",
        ]
        for v in verdicts
    ]
    return table(header, rows, markdown=markdown)


def cost_change_table(changes: Sequence[tuple[str, str, object, object]]) -> str:
    """(case, field, old, new) rows."""
    return table(("case", "field", "old", "new"), changes, empty="(none)")
