"""``unet-bench compare BASE HEAD``: noise-aware comparison of two saved runs; exit 1 on a
regression or a cost change."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from unet.bench.commands.common import add_min_effect
from unet.bench.errors import FOUND, NOTHING_FOUND, UsageError

if TYPE_CHECKING:
    from unet.bench.results.runs import Run
    from unet.bench.stats.verdict import Verdict


def add_parser(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare",
        help="noise-aware comparison of two saved runs (exit 1 on a regression or cost change)",
        description="Compares two pytest-benchmark run files recorded with raw samples "
        "(--benchmark-save-data or --benchmark-json) with a Mann-Whitney U test and a minimum "
        "effect. Saved runs cannot be re-measured, so a regression here is final; the A/B mode "
        "(unet-bench ab) re-measures before failing.",
    )
    compare.add_argument("base", type=Path, help="the reference run file")
    compare.add_argument("head", type=Path, help="the run to judge")
    add_min_effect(compare)
    compare.add_argument("--markdown", action="store_true", help="print a Markdown table")
    compare.add_argument(
        "--allow-other-hardware",
        action="store_true",
        help="compare runs of different hardware, or that measured different axes "
        "(dtype, mode, compile, ...): both refusals are waived",
    )
    compare.set_defaults(handler=run)


def compare_runs(
    base: Run, head: Run, min_effect: float
) -> tuple[list[Verdict], list[tuple[str, str, object, object]]]:
    """Verdicts and cost changes for every case present in both runs."""
    from unet.bench.results.runs import cost_changes_between, demote_throttled
    from unet.bench.stats.verdict import Thresholds, compare_samples

    judged = [
        compare_samples(
            name, base.samples(name), head.samples(name), thresholds=Thresholds(min_effect)
        )
        for name in sorted(set(base.cases) & set(head.cases))
    ]
    return demote_throttled(judged, base, head), cost_changes_between(base, head)


def load_pair(args: argparse.Namespace) -> tuple[Run, Run]:
    """Both runs, refused (UsageError) unless they have raw samples and come from the same
    hardware and axes (or --allow-other-hardware)."""
    from unet.bench.measure.hardware import differing_fields, other_hardware_message
    from unet.bench.results.axes import differing_axes, other_axes_message
    from unet.bench.results.runs import RunError, load_run, require_samples

    try:
        base, head = load_run(args.base), load_run(args.head)
        require_samples(base)
        require_samples(head)
    except RunError as err:
        raise UsageError(str(err)) from None
    diff = differing_fields(head.hardware, base.hardware)
    if diff and not args.allow_other_hardware:
        subject = "the runs come from different hardware"
        raise UsageError(other_hardware_message(subject, diff, ("base", "head")))
    other = differing_axes(head.hardware, base.hardware)
    if other and not args.allow_other_hardware:
        subject = "the runs measured different settings"
        raise UsageError(other_axes_message(subject, other, ("base", "head")))
    return base, head


def run(args: argparse.Namespace) -> int:
    from unet.bench.output.render import attribution_table, cost_change_table, verdict_table
    from unet.bench.results.explained import between_runs
    from unet.bench.stats.verdict import failed

    base, head = load_pair(args)
    verdicts, changes = compare_runs(base, head, args.min_effect)
    print(verdict_table(verdicts, markdown=args.markdown))
    if changes:
        print("\nCost changes:\n" + cost_change_table(changes))
    regressions = failed(verdicts)
    for v in regressions:
        print(f"regression: {v.case} {v.change:+.1%} (p = {v.p_value:.2g})")
    flagged = {v.case: "confirmed regression" for v in regressions}
    flagged.update((case, "cost change") for case, *_ in changes if case not in flagged)
    for item in between_runs(base, head, flagged):
        print(f"\n{item.case} ({item.reason})")
        att = item.attribution
        print(attribution_table(att, args.markdown) if att else f"  not attributed: {item.note}")
        print(f"  repro: {item.repro}")
    return FOUND if regressions or changes else NOTHING_FOUND
