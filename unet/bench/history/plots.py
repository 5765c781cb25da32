"""A PNG per group (median and CI per commit, detected changes marked) and the Markdown summary,
for a CI job summary or a pull request comment."""

from __future__ import annotations

import re
from pathlib import Path

from unet.bench.history.findings import LATENCY, Finding
from unet.bench.history.page import method_note, short_names, shown_value
from unet.bench.history.series import CaseSeries, History
from unet.bench.history.steps import CREEP
from unet.bench.history.svg import PALETTE
from unet.bench.output.render import table
from unet.bench.results.environment import describe_diff


def slug(group: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", group).strip("_") or "group"


def plot_group(
    history: History, group: str, cases: list[CaseSeries], found: list[Finding], path: Path
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = {c: i for i, c in enumerate(history.commits)}
    names = short_names([c.case for c in cases])
    fig, ax = plt.subplots(figsize=(11, 4.8))
    for k, c in enumerate(cases):
        color = PALETTE[k % len(PALETTE)]
        xs = [index[p.commit] for p in c.points]
        ys = [p.median * 1e3 for p in c.points]
        ax.plot(xs, ys, "o-", color=color, label=names[c.case], markersize=4, linewidth=1.2)
        for x, p in zip(xs, c.points, strict=True):
            if p.ci:
                ax.vlines(x, p.ci[0] * 1e3, p.ci[1] * 1e3, color=color, alpha=0.5)
    colors = {c.case: PALETTE[k % len(PALETTE)] for k, c in enumerate(cases)}
    for f in found:
        if f.field != LATENCY:
            continue
        a, b = index[f.start], index[f.end]
        if f.change.kind == CREEP:
            ax.axvspan(a, b, color=colors[f.case], alpha=0.1)
        else:
            ax.axvline((a + b) / 2, color=colors[f.case], linestyle="--", linewidth=1)
        ax.annotate(
            f"{f.change.change:+.1%}",
            ((a + b) / 2, 1),
            xycoords=("data", "axes fraction"),
            color=colors[f.case],
            fontsize=9,
            va="top",
        )
    ax.set_xticks(
        range(len(history.commits)),
        [c.label for c in history.commits],
        rotation=45,
        ha="right",
        fontsize=8,
    )
    ax.set_ylabel("median ms (95 % CI)")
    ax.set_title(f"{group} — {history.key}", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown_summary(history: History, found: list[Finding], min_effect: float) -> str:
    commits = history.commits
    lines = [
        f"## Performance history: `{history.key}`",
        "",
        f"{len(commits)} commits, `{commits[0].label}` … `{commits[-1].label}`, "
        f"{len(history.cases)} cases.",
        "",
        method_note(min_effect),
        "",
    ]
    for i, diff in history.environment_changes():
        lines.append(f"Environment changed at `{commits[i].label}`: {describe_diff(diff)}")
    if history.environment_changes():
        lines.append("")
    if not found:
        return "\n".join([*lines, "No step, creep or exact change detected."]) + "\n"
    rows = [
        [
            f.case,
            f.field,
            f.change.kind,
            f"`{f.commit_range}`",
            shown_value(f.field, f.change.before),
            shown_value(f.field, f.change.after),
            f"{f.change.change:+.1%}",
            f.declared,
        ]
        for f in found
    ]
    header = ["case", "field", "kind", "commits", "before", "after", "change", "declared"]
    return "\n".join([*lines, table(header, rows, markdown=True)]) + "\n"
