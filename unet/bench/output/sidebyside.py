"""Two runs of different axes side by side, case by case: eager against compiled, inference
against training, float32 against autocast; the speed-up and, for compiled runs, compile time."""

from __future__ import annotations

import re

from unet.bench.measure.compiled import COMPILE_MODES
from unet.bench.output.render import table
from unet.bench.results.axes import DEFAULTS, id_suffix
from unet.bench.results.runs import Run

# an axis as case ids show it: -mode=train, -compile=max-autotune, -channels_last
_COMPILE = "|".join(sorted(COMPILE_MODES, key=len, reverse=True))  # values with dashes
AXIS_IN_ID = re.compile(
    rf"-(?:(?:mode|dtype|autocast|cache)=\w+|compile=(?:{_COMPILE})|channels_last)(?=-|\])"
)


def plain_id(name: str) -> str:
    """A case name without its axes: the same case of every run."""
    return AXIS_IN_ID.sub("", name)


def axes_label(run: Run) -> str:
    """What a run measured, e.g. ``mode=train`` or ``defaults`` (eager inference, float32)."""
    axes = {a: run.hardware.get(a, d) for a, d in DEFAULTS.items()}
    return id_suffix(axes).lstrip("-") or "defaults"


def side_by_side(a: Run, b: Run, markdown: bool = True) -> str:
    """One row per case both runs measured: each median, a/b (above 1: b is faster), and each
    run's compile time where it compiled."""
    la, lb = axes_label(a), axes_label(b)
    ours = {plain_id(n): a.case(n) for n in a.cases}
    theirs = {plain_id(n): b.case(n) for n in b.cases}
    common = sorted(set(ours) & set(theirs))
    compiled = any(r.compile.compile_s is not None for r in (*ours.values(), *theirs.values()))
    header = ["case", f"{la} ms", f"{lb} ms", f"{la} / {lb}"]
    header += [f"{la} compile s", f"{lb} compile s"] if compiled else []
    rows = []
    for case in common:
        ma, mb = ours[case].median_s or 0.0, theirs[case].median_s or 0.0
        row = [case, f"{ma * 1e3:.3f}", f"{mb * 1e3:.3f}", f"{ma / mb:.2f}×" if mb else "–"]
        if compiled:
            for r in (ours[case], theirs[case]):
                seconds, cached = r.compile.compile_s, r.compile.compile_cached
                if seconds is None:
                    row.append("–")
                else:
                    row.append(f"{seconds:.1f}" + (" (cached)" if cached else ""))
        rows.append(row)
    title = f"### {la} against {lb}"
    if not rows:
        return f"{title}\n\n(no case measured in both runs)\n"
    return f"{title}\n\n{table(header, rows, markdown=markdown)}\n"
