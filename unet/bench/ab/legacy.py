"""Process-block A/B, for a base from before paired workers: whole-suite processes, base-head
then head-base, suspects re-run in two more. Kept apart so it can be deleted once no base of
interest predates the paired protocol."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Sequence
from pathlib import Path

from unet.bench.ab.result import ABResult
from unet.bench.ab.schedule import SIDES
from unet.bench.ab.settings import ABError, ABSettings
from unet.bench.results.runs import (
    Run,
    cost_changes_between,
    demote_throttled,
    load_run,
    merge_runs,
)
from unet.bench.stats.verdict import Verdict, compare_processes, judge_and_confirm

PYTEST_MAX_TIME_S = 1.0  # pytest-benchmark's default time per case, split across the processes
PYTEST_MIN_ROUNDS = 5
PROCESSES_PER_SIDE = 2  # whole-suite processes per side
CONFIRM_BLOCKS = 2  # more processes per side that re-measure a suspect


def _process(
    settings: ABSettings,
    side: str,
    tree: Path,
    index: int,
    extra: Sequence[str],
    cases: Sequence[str],
) -> Run:
    """One whole-suite process of ``side``."""
    name = f"{side}-{index}"
    timing = [
        f"--benchmark-max-time={PYTEST_MAX_TIME_S / PROCESSES_PER_SIDE}",
        f"--benchmark-min-rounds={math.ceil(PYTEST_MIN_ROUNDS / PROCESSES_PER_SIDE)}",
    ]
    settings.say(f"{side} process block {index}")
    proc = subprocess.Popen(
        settings.command(name, cases, [*timing, *extra]),
        cwd=tree,
        env=settings.env(tree),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate()
    except BaseException:
        proc.terminate()
        proc.wait()
        raise
    out = settings.result_path(name)
    # 1: failing cases (e.g. a cost gate) still produced timings
    if proc.returncode not in (0, 1) or not out.exists():
        raise ABError(f"the {side} suite failed (exit {proc.returncode}):\n{output[-3000:]}")
    return load_run(out)


def _processes(
    settings: ABSettings, trees: dict[str, Path], count: int, first: int, cases: Sequence[str] = ()
) -> dict[str, list[Run]]:
    """``count`` processes per side, base-head then head-base; only process 0 counts costs."""
    runs: dict[str, list[Run]] = {side: [] for side in SIDES}
    for i in range(first, first + count):
        order = SIDES if i % 2 == 0 else SIDES[::-1]
        for side in order:
            costs = [] if i == 0 else ["--skip-costs"]
            runs[side].append(_process(settings, side, trees[side], i, costs, cases))
    return runs


def measure_in_process_blocks(
    settings: ABSettings, trees: dict[str, Path], result: ABResult
) -> ABResult:
    """Each side in whole-suite processes; each process counts once in the verdicts."""
    every = _processes(settings, trees, PROCESSES_PER_SIDE, 0)
    result.base = base = merge_runs(every["base"])
    result.head = head = merge_runs(every["head"])

    def judge(name: str) -> Verdict:
        samples = {s: [r.samples(name) for r in every[s] if name in r.cases] for s in SIDES}
        return compare_processes(name, samples["base"], samples["head"], settings.min_effect)

    def remeasure(suspects: list[str]):
        node_ids = [head.cases[case]["fullname"] for case in suspects]
        again = _processes(settings, trees, CONFIRM_BLOCKS, PROCESSES_PER_SIDE, node_ids)
        for side in SIDES:  # the final word uses every process: first pass and re-measurement
            every[side] += again[side]
        return judge

    common = sorted(set(base.cases) & set(head.cases))
    result.verdicts, result.reruns = judge_and_confirm(common, judge, remeasure)
    # a throttled GPU fakes a change: judged over every process, re-measurement included
    result.verdicts = demote_throttled(
        result.verdicts, merge_runs(every["base"]), merge_runs(every["head"])
    )
    result.unmatched = sorted(set(base.cases) ^ set(head.cases))
    result.cost_changes = cost_changes_between(base, head)
    return result
