"""Same-runner A/B: a base revision against the working tree, on one machine, in one job.

The base is checked out in a temporary git worktree (the user's tree is never touched). A base
that speaks the paired protocol is measured by paired workers taking turns (``coordinator``) in
generations of fresh processes until each case is settled (``stats.sequential``); with
``--gate-on p90|p99``, in one generation whose suspected regressions a second must confirm
(``verdict.judge_and_confirm``). An older base runs in whole-suite process blocks (``legacy``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from unet.bench.ab.coordinator import Generation, WorkerProcess, run_generation
from unet.bench.ab.git import base_worktree, resolve_revision, toplevel
from unet.bench.ab.legacy import measure_in_process_blocks
from unet.bench.ab.profiling import ProfileError, can_profile, profile_in_turns
from unet.bench.ab.result import ABMode, ABResult
from unet.bench.ab.schedule import SIDES, Schedule
from unet.bench.ab.settings import ABSettings
from unet.bench.defaults import LATER_PAIRED_WORKERS, PAIRED_WORKERS
from unet.bench.measure import turns as worker
from unet.bench.results.environment import environment_diff, with_environment
from unet.bench.results.expected import acknowledge, active, stale_lines
from unet.bench.results.explained import CONFIRMED, Explained, attribute_sides, repro_command
from unet.bench.results.floors import Calibration, FloorsError, calibration_for, tier_of
from unet.bench.results.runs import cost_changes_between, demote_throttled
from unet.bench.stats.sequential import MAX_GENERATIONS, sequential_verdict, settled
from unet.bench.stats.verdict import Verdict, compare_generations, failed, judge_and_confirm

# where a tree keeps its worker side: today's path first, then where it lived before
WORKER_FILES = ("unet/bench/measure/turns.py", "unet/bench/ab/worker.py", "unet/bench/abworker.py")


def paired_protocol(tree: Path) -> int | None:
    """The paired-worker protocol the suite in ``tree`` speaks, if this version can run it."""
    for relative in WORKER_FILES:
        path = tree / relative
        if path.exists():
            found = re.search(r"^PROTOCOL = (\d+)", path.read_text(), re.M)
            spoken = int(found.group(1)) if found else None
            return spoken if spoken in worker.PROTOCOLS else None
    return None


def speaks_paired_protocol(tree: Path) -> bool:
    """Whether the suite in ``tree`` can run as a paired worker of this version."""
    return paired_protocol(tree) is not None


def check_base(settings: ABSettings, base_rev: str) -> tuple[Path, str]:
    """The head's tree and the base's commit id; ABUsageError before anything is created."""
    head_tree = toplevel(settings.repo)
    return head_tree, resolve_revision(head_tree, base_rev)


def run_ab(settings: ABSettings, base_rev: str) -> ABResult:
    head_tree, sha = check_base(settings, base_rev)
    settings.out.mkdir(parents=True, exist_ok=True)
    with base_worktree(head_tree, sha) as base_tree:
        trees = {"base": base_tree, "head": head_tree}
        if speaks_paired_protocol(base_tree):
            result = measure_paired(settings, trees, ABResult(base_rev=base_rev))
        else:
            settings.say("the base predates paired workers; measuring in process blocks")
            result = ABResult(base_rev=base_rev, mode=ABMode.PROCESS_BLOCKS)
            result = measure_in_process_blocks(settings, trees, result)
        acknowledge_and_diff(result, head_tree, sha if settings.acknowledge else None)
        if settings.attribute:
            result.explained = explain_flagged(settings, trees, result)
        return result


def acknowledge_and_diff(result: ABResult, head_tree: Path, base_sha: str | None) -> None:
    """The head's acknowledged changes (those it adds to the base's file; none without a base
    commit) applied to the verdicts, and the environment diff of the two sides' workers noted
    beside them."""
    acknowledged = acknowledge(result.verdicts, active(head_tree, base_sha))
    result.stale = stale_lines(acknowledged.stale)
    if result.base is not None and result.head is not None:
        result.environment = environment_diff(result.base.machine_info, result.head.machine_info)
    result.verdicts = with_environment(acknowledged.verdicts, result.environment)


def explain_flagged(settings: ABSettings, trees: dict[str, Path], result: ABResult):
    """Confirmed regressions and cost changes, profiled on both sides taking turns and
    attributed to operators; traces in the output folder."""
    flagged = {v.case: CONFIRMED for v in failed(result.verdicts)}
    for case, *_ in result.cost_changes:
        flagged.setdefault(case, "cost change")
    if not flagged or result.base is None or result.head is None:
        return []
    repro = {c: repro_command(c, result.base_rev, settings.device) for c in flagged}
    if not can_profile(trees["base"]):
        note = "the base predates profiling; `unet-bench explain` needs a newer base"
        return [Explained(c, why, None, note, repro[c]) for c, why in flagged.items()]
    settings.say(f"profiling {len(flagged)} flagged case(s) on both sides, taking turns")
    node_ids = {
        side: [run.cases[c]["fullname"] for c in flagged]
        for side, run in (("base", result.base), ("head", result.head))
    }
    options = [*(["--quick"] if settings.quick else []), *settings.pytest_args]
    try:
        found = profile_in_turns(trees, node_ids, settings.out, settings.device, options)
    except ProfileError as err:
        return [Explained(c, why, None, str(err), repro[c]) for c, why in flagged.items()]
    return [attribute_sides(found, c, why, repro[c]) for c, why in flagged.items()]


def measure_paired(settings: ABSettings, trees: dict[str, Path], result: ABResult) -> ABResult:
    """Paired workers in generations: the median gate judges sequentially
    (``measure_sequential``); a tail percentile's (``--gate-on``), which judges rounds rather
    than process medians, in one generation whose suspects a second one confirms
    (``measure_confirmed``)."""
    if settings.gate_on == "median":
        return measure_sequential(settings, trees, result)
    # a tail percentile is of the rounds: each side times all a suite run would
    return measure_confirmed(replace(settings, rounds_share=1.0), trees, result)


def measure_confirmed(settings: ABSettings, trees: dict[str, Path], result: ABResult) -> ABResult:
    """One generation of paired workers over every case; suspected regressions measured again
    by a second generation of fresh workers and confirmed or not."""
    settings.say(
        f"paired workers, {PAIRED_WORKERS} per side, {settings.blocks} round blocks per case "
        f"and side; suspects judged on {settings.gate_on} confirmed by fresh workers"
    )
    first, workers = run_generation(settings, trees, {}, Generation(costs=True))
    generations = [first]

    def judge(case: str) -> Verdict:
        """Each process counts once; judged per generation (see compare_generations)."""
        per_generation = [
            (g.process_samples("base", case), g.process_samples("head", case)) for g in generations
        ]
        return compare_generations(case, per_generation, settings.min_effect, settings.gate_on)

    def remeasure(suspects: list[str]):
        settings.say(f"re-measuring {len(suspects)} suspected regression(s) in new workers")
        # two a side, as the first: its floor is the largest spread between a generation's
        # processes, which more of them would widen
        again, more = _next_generation(settings, trees, workers, suspects, PAIRED_WORKERS)
        workers.extend(more)
        generations.append(again)
        return judge  # now over both generations

    measured = {side: set(first.samples[side]) for side in SIDES}
    common = sorted(measured["base"] & measured["head"])
    result.verdicts, result.reruns = judge_and_confirm(common, judge, remeasure)
    return _finish(settings, workers, generations, measured, result)


def measure_sequential(settings: ABSettings, trees: dict[str, Path], result: ABResult) -> ABResult:
    """Generations of paired workers until every case is settled (``stats.sequential``): all
    cases in the first, then only the unsettled ones in new workers, up to MAX_GENERATIONS."""
    settings.say(
        f"paired workers, {PAIRED_WORKERS} per side, {settings.blocks} round blocks per case "
        f"and side; unsettled cases take up to {MAX_GENERATIONS - 1} more generations of "
        f"{LATER_PAIRED_WORKERS} workers a side"
    )
    first, workers = run_generation(settings, trees, {}, Generation(costs=True))
    generations = [first]
    calibration = _calibration(settings, workers)

    def judge(case: str) -> Verdict:
        """Each process counts once, each generation's effect within it (drift cancels)."""
        per_generation = [
            (g.process_samples("base", case), g.process_samples("head", case)) for g in generations
        ]
        prior = calibration.floor(case) if calibration else None
        return sequential_verdict(case, per_generation, settings.min_effect, prior)

    measured = {side: set(first.samples[side]) for side in SIDES}
    common = sorted(measured["base"] & measured["head"])
    verdicts = {case: judge(case) for case in common}
    while len(generations) < MAX_GENERATIONS:
        pending = [case for case in common if takes_more(settings, verdicts[case])]
        if not pending:
            break
        settings.say(
            f"{len(pending)} case(s) unsettled after {len(generations)} generation(s); "
            "more turns in new workers"
        )
        again, more = _next_generation(settings, trees, workers, pending, LATER_PAIRED_WORKERS)
        workers.extend(more)
        generations.append(again)
        result.reruns = sorted(set(result.reruns) | set(pending))
        verdicts.update((case, judge(case)) for case in pending)
    result.verdicts = [verdicts[case] for case in common]
    return _finish(settings, workers, generations, measured, result)


def takes_more(settings: ABSettings, verdict: Verdict) -> bool:
    """Whether a case takes another generation: unsettled and, when confirming suspects, still
    a change as estimated (a full suite's suspects on a noisy runner took four generations
    to settle "no change", which a confirmation does not need)."""
    if settled(verdict):
        return False
    return not settings.confirm or abs(verdict.change) >= settings.min_effect


def _next_generation(
    settings: ABSettings,
    trees: dict[str, Path],
    workers: list[WorkerProcess],
    cases: list[str],
    per_side: int,
) -> tuple[Schedule, list[WorkerProcess]]:
    """The next generation: ``per_side`` fresh workers a side on just ``cases`` (a process's
    own speed is the likeliest cause of a false alarm, and the same processes would repeat it).
    The sequential gate starts more than the first generation had: these start for a few
    cases, and each is another process's evidence."""
    node_ids = {
        side: [_side_run(settings, workers, side).cases[c]["fullname"] for c in cases]
        for side in SIDES
    }
    numbered = len(workers) // len(SIDES)  # worker names go on from the last generation's
    shared = own_share(trees["base"], per_side)
    return run_generation(settings, trees, node_ids, Generation(numbered, per_side, shared))


def own_share(base_tree: Path, per_side: int) -> float | None:
    """The share of a process's minimum rounds that each of ``per_side`` workers a side times:
    a side of more processes than the first generation's times as many rounds in all (its
    processes' medians of fewer rounds are still more looks at the spread between processes).
    None where the base's workers would not follow it: both sides then time them all."""
    if per_side <= PAIRED_WORKERS or (paired_protocol(base_tree) or 0) < 2:
        return None
    return PAIRED_WORKERS / per_side


def _finish(
    settings: ABSettings,
    workers: list[WorkerProcess],
    generations: list[Schedule],
    measured: dict[str, set[str]],
    result: ABResult,
) -> ABResult:
    """What every paired A/B ends with: the turns written, both sides' merged runs, throttled
    verdicts demoted, one-sided cases and cost changes."""
    write_turns(settings.out / "schedule.tsv", generations)
    result.base = _side_run(settings, workers, "base")
    result.head = _side_run(settings, workers, "head")
    result.verdicts = demote_throttled(result.verdicts, result.base, result.head)
    result.unmatched = sorted(measured["base"] ^ measured["head"])
    result.cost_changes = cost_changes_between(result.base, result.head)
    return result


def _calibration(settings: ABSettings, workers: list[WorkerProcess]) -> Calibration | None:
    """The calibrated floors of the key the workers measured under, if the floors file has
    them (an unreadable file is no calibration, said once)."""
    try:
        key = _side_run(settings, workers, "head").key
        return calibration_for(key, tier_of(settings.quick), settings.floors) if key else None
    except FloorsError as err:
        settings.say(f"{err}; judging without calibrated floors")
        return None


def _side_run(settings: ABSettings, workers: list[WorkerProcess], side: str):
    names = [w.state.name for w in workers if w.state.side == side]
    return settings.side_run(names, side, logs=settings.out)


def write_turns(path: Path, generations: list[Schedule]) -> None:
    """schedule.tsv: every turn given, in order (seconds since the first)."""
    turns = [(str(i + 1), *turn) for i, g in enumerate(generations) for turn in g.log]
    t0 = turns[0][1] if turns else 0.0
    rows = ["generation\tseconds\tworker\tcase\tstage\tgo"]
    rows += [f"{g}\t{t - t0:.3f}\t{w}\t{c}\t{st}\t{go}" for g, t, w, c, st, go in turns]
    path.write_text("\n".join(rows) + "\n")
