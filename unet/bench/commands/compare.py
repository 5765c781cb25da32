"""``unet-bench compare BASE HEAD``: two saved runs compared under the rule for verdicts between
runs (``stats.floors``): a change is a regression only beyond this hardware's calibrated floor;
without one it is ``unsure``. Exit 1 on a regression or a cost change."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from unet.bench.commands.common import add_floors, add_gate_on, add_min_effect
from unet.bench.errors import FOUND, NOTHING_FOUND, UsageError

if TYPE_CHECKING:
    from unet.bench.results.floors import Calibration
    from unet.bench.results.runs import Run
    from unet.bench.stats.verdict import Verdict


def add_parser(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare",
        help="compare two saved runs: regressions beyond the calibrated noise floor, cost "
        "changes (exit 1 on either)",
        description="Compares two pytest-benchmark run files recorded with raw samples "
        "(--benchmark-save-data or --benchmark-json). Each run is one process, and processes "
        "of the same code differ by more than their rounds show, so a change counts only when "
        "it exceeds the case's floor calibrated on this hardware (unet-bench calibrate) and "
        "the minimum effect, with a Mann-Whitney U test on the rounds; without a floor it is "
        "'unsure', never a regression. For a verdict without calibration use unet-bench ab.",
    )
    compare.add_argument("base", type=Path, help="the reference run file")
    compare.add_argument("head", type=Path, help="the run to judge")
    add_min_effect(compare)
    add_gate_on(compare)
    add_floors(compare)
    compare.add_argument("--markdown", action="store_true", help="print a Markdown table")
    compare.add_argument(
        "--allow-other-hardware",
        action="store_true",
        help="compare runs of different hardware, or that measured different axes "
        "(dtype, mode, compile, ...): both refusals are waived",
    )
    compare.set_defaults(handler=run)


def compare_runs(
    base: Run,
    head: Run,
    min_effect: float,
    calibration: Calibration | None,
    statistic: str = "median",
) -> tuple[list[Verdict], list[tuple[str, str, object, object]]]:
    """Verdicts (against ``calibration``'s floors; without them nothing is a regression) and
    cost changes for every case present in both runs."""
    from unet.bench.results.runs import cost_changes_between, demote_throttled
    from unet.bench.stats.floors import judge_between_runs

    judged = [
        judge_between_runs(
            name,
            base.samples(name),
            head.samples(name),
            min_effect,
            calibration.floor(name) if calibration else None,
            statistic,
        )
        for name in sorted(set(base.cases) & set(head.cases))
    ]
    return demote_throttled(judged, base, head), cost_changes_between(base, head)


def acknowledge_between(
    base: Run, head: Run, verdicts: list[Verdict]
) -> tuple[list[Verdict], list[str]]:
    """The acknowledged changes the head's commit adds to the base's (``results.expected``),
    applied; both runs need a clean commit this repository has, else none apply, and the note
    says why. Notes: that, and the stale entries."""
    from unet.bench.results.expected import acknowledge, active, run_commit, stale_lines

    repo = Path.cwd()
    (base_sha, why_base), (head_sha, why_head) = run_commit(base, repo), run_commit(head, repo)
    if base_sha is None or head_sha is None:
        why = why_base or why_head
        return verdicts, [f"Acknowledged changes not applied: {why}."]
    acknowledged = acknowledge(verdicts, active(repo, base_sha, head_sha))
    return acknowledged.verdicts, stale_lines(acknowledged.stale)


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


def load_calibration(path: Path | None, base: Run, head: Run) -> tuple[Calibration | None, str]:
    """The floors that hold between ``base`` and ``head`` in ``path`` (the default file when
    None): their key's, for the tier both ran; else None and why. UsageError for a file that
    cannot be read."""
    from unet.bench.results.floors import (
        DEFAULT_PATH,
        FloorsError,
        calibrated_tiers,
        calibration_for,
    )

    path = path or DEFAULT_PATH
    if not head.key:
        return None, "the runs record no hardware key"
    if head.tier is None or base.tier != head.tier:
        tiers = f"base {base.tier or 'unrecorded'}, head {head.tier or 'unrecorded'}"
        return None, f"the runs are not of one recorded tier ({tiers}): no floor applies"
    try:
        found = calibration_for(head.key, head.tier, path)
        have = calibrated_tiers(head.key, path)
    except FloorsError as err:
        raise UsageError(str(err)) from None
    if found is None:
        also = f" (it has the {', '.join(have)} tier)" if have else ""
        return None, f"{path} has no {head.tier}-tier floors for {head.key}{also}"
    return found, ""


def run(args: argparse.Namespace) -> int:
    from unet.bench.output.render import (
        attribution_table,
        cost_change_table,
        verdict_summary,
        verdict_table,
    )
    from unet.bench.results.environment import diff_lines, environment_diff, with_environment
    from unet.bench.results.explained import CONFIRMED, between_runs
    from unet.bench.stats.verdict import failed

    base, head = load_pair(args)
    calibration, why = load_calibration(args.floors, base, head)
    verdicts, changes = compare_runs(base, head, args.min_effect, calibration, args.gate_on)
    verdicts, notes = acknowledge_between(base, head, verdicts)
    diff = environment_diff(base.machine_info, head.machine_info)
    verdicts = with_environment(verdicts, diff)
    print(verdict_table(verdicts, markdown=args.markdown))
    for note in notes:
        print(f"\n{note}")
    print("\n" + "\n".join(diff_lines(diff, args.markdown)))
    if why:
        print(f"\nNo calibrated floors: {why}; a change between these runs is reported unsure.")
    if changes:
        print("\nCost changes:\n" + cost_change_table(changes))
    print("\n" + verdict_summary(verdicts, changes))
    regressions = failed(verdicts)
    flagged = {v.case: CONFIRMED for v in regressions}
    flagged.update((case, "cost change") for case, *_ in changes if case not in flagged)
    for item in between_runs(base, head, flagged):
        print(f"\n{item.case} ({item.reason})")
        att = item.attribution
        print(
            attribution_table(att, args.markdown, item.confirmed)
            if att
            else f"  not attributed: {item.note}"
        )
        print(f"  repro: {item.repro}")
    return FOUND if regressions or changes else NOTHING_FOUND
