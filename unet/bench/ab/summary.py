"""The Markdown summary of an A/B run (printed, written as ab.md, and put in a CI job's
summary)."""

from __future__ import annotations

from unet.bench.ab.result import ABResult
from unet.bench.results.environment import diff_lines


def kernel_notes(result: ABResult) -> list[str]:
    """Cases whose worker processes launched different kernels (CUDA): with the same code on
    both sides that is cuDNN choosing other algorithms per process, noise the verdict's floor
    must absorb; with a change, it may be the cause."""
    if result.base is None or result.head is None:
        return []
    lines = []
    for case in sorted(set(result.base.cases) & set(result.head.cases)):
        base = result.base.case(case).kernel_signatures
        head = result.head.case(case).kernel_signatures
        if len(set(base) | set(head)) > 1:
            lines.append(
                f"- `{case}`: kernels differ between processes (base {', '.join(base)}; "
                f"head {', '.join(head)})"
            )
    if not lines:
        return []
    return ["### Kernel signatures that differ between processes", "", *lines, ""]


def energy_table(result: ABResult) -> list[str]:
    """Joules per call and watts of each side (one worker's rounds each: the counter is read
    around every process's rounds), where both sides had an energy counter; recorded, not
    judged."""
    from unet.bench.output.render import table

    if result.base is None or result.head is None:
        return []
    rows = []
    for case in sorted(set(result.base.cases) & set(result.head.cases)):
        base, head = result.base.case(case).energy, result.head.case(case).energy
        if base.energy_j_per_call and head.energy_j_per_call:
            change = head.energy_j_per_call / base.energy_j_per_call - 1
            rows.append(
                [
                    case,
                    f"{base.energy_j_per_call:.4g}",
                    f"{head.energy_j_per_call:.4g}",
                    f"{change:+.1%}",
                    f"{base.power_w:.4g} / {head.power_w:.4g}",
                ]
            )
    if not rows:
        return []
    header = ["case", "base J/call", "head J/call", "change", "W base / head"]
    return ["### Energy per call (recorded, not gated)", "", table(header, rows, markdown=True), ""]


def ab_markdown(result: ABResult, seconds: float) -> str:
    """The verdicts, re-measured and one-sided cases and cost changes, for the job summary."""
    from unet.bench.ab.result import ABMode
    from unet.bench.output.render import cost_change_table, explained_markdown, verdict_table
    from unet.bench.stats.verdict import failed

    how = (
        f"{result.mode}: base and head alternating per round block on this machine; "
        "the turns taken are in schedule.tsv"
        if result.mode == ABMode.PAIRED
        else f"{result.mode}: the base predates paired workers"
    )
    lines = [f"## A/B: {result.base_rev} (base) vs working tree (head)", "", f"Measured {how}."]
    lines += ["", verdict_table(result.verdicts, markdown=True), ""]
    if result.reruns:
        lines += [
            f"Measured again by fresh processes: {', '.join(result.reruns)}",
            "",
        ]
    if result.unmatched:
        one_side = ", ".join(result.unmatched)
        lines += [f"Timed on one side only (new, removed or failing): {one_side}", ""]
    lines += [*result.stale, ""] if result.stale else []
    lines += [*diff_lines(result.environment), ""]
    lines += kernel_notes(result)
    lines += energy_table(result)
    if result.cost_changes:
        lines += ["### Cost changes", "", "```", cost_change_table(result.cost_changes), "```", ""]
    if result.explained:
        body = explained_markdown(result.explained, "Attribution").split("\n", 2)[2]
        lines += ["### Attribution of flagged cases", "", body, ""]
        traces = "`<case>.base.trace.json`, `<case>.head.trace.json` beside this file"
        lines += [f"Chrome traces of both sides (open in Perfetto): {traces}.", ""]
    lines.append(
        f"**{len(failed(result.verdicts))} confirmed regression(s)**, "
        f"{len(result.cost_changes)} cost change(s); {seconds:.0f} s wall."
    )
    return "\n".join(lines)
