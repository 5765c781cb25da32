"""What an A/B run was asked for, and how it starts one side's suite in a child process."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from unet.bench.defaults import AB_ROUNDS_SHARE, DEFAULT_BLOCKS, MIN_EFFECT
from unet.bench.errors import ToolError, UsageError
from unet.bench.invoke import suite_command
from unet.bench.results.floors import DEFAULT_PATH as FLOORS
from unet.bench.results.runs import Run, load_run, merge_runs

# PAIRED_WORKERS per side: a process has its own speed (memory placement, kernel code); with
# two per side that spread shows between the process medians instead of passing for a change.


class ABError(ToolError):
    """A/B could not run (a suite that crashed or wrote no results, a git command that
    failed): exit 2."""


class ABUsageError(UsageError):
    """A/B was asked for something that cannot be (an unknown revision, not a git tree): exit
    4."""


@dataclass
class ABSettings:
    repo: Path  # the working tree measured as "head"
    out: Path  # where each worker's JSON and log go
    device: str = "auto"
    quick: bool = False
    blocks: int = DEFAULT_BLOCKS  # round blocks per case and side (paired workers)
    # a side's rounds of a case per generation, as a share of one suite run's (calibrate: 1,
    # so its floors stay those of processes that time what a run times)
    rounds_share: float = AB_ROUNDS_SHARE
    min_effect: float = MIN_EFFECT
    gate_on: str = "median"  # what is judged: the median, or p90 / p99 of the rounds
    # a confirmation of suspects (--verdict's): only a change is worth more generations; a case
    # whose estimate falls below min_effect stops unsure instead of settling "no change"
    confirm: bool = False
    pytest_args: Sequence[str] = ()
    cases: Sequence[str] = ()  # node ids to measure (relative to a tree's root); all when empty
    attribute: bool = True  # profile and attribute the flagged cases (bisect's steps do not)
    # apply the head's acknowledged changes; bisect's steps do not: they look for the slowdown,
    # and bisect then says whether the first bad commit declared it
    acknowledge: bool = True
    floors: Path = FLOORS  # the calibrated floors: earlier evidence of each case's spread
    log: TextIO = field(default=sys.stderr)
    command_name: str = "ab"  # whose progress lines these are (bisect runs A/Bs too)

    def say(self, message: str) -> None:
        print(f"unet-bench {self.command_name}: {message}", file=self.log, flush=True)

    def command(self, name: str, cases: Sequence[str], extra: Sequence[str]) -> list[str]:
        """The suite command of the process ``name``, on ``cases`` (node ids, relative to the
        tree's root; all when empty), writing ``<out>/<name>.json``."""
        return suite_command(
            list(cases) or list(self.cases) or ["benchmarks"],
            device=self.device,
            storage=self.out / "storage",  # never the user's runs
            quick=self.quick,
            options=[
                "-q",
                f"--benchmark-json={self.result_path(name)}",
                *self.pytest_args,
                *extra,
            ],
        )

    def result_path(self, name: str) -> Path:
        return self.out / f"{name}.json"

    @staticmethod
    def env(tree: Path, **extra: str) -> dict[str, str]:
        # each tree imports its own unet package
        path = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])
        return {**os.environ, "PYTHONPATH": path, **extra}

    def side_run(self, names: Sequence[str], side: str, logs: Path | None = None) -> Run:
        """The merged results of the processes ``names`` of one side."""
        runs = []
        for name in names:
            path = self.result_path(name)
            if not path.exists():
                where = f"; see {logs / (name + '.log')}" if logs else ""
                raise ABError(f"the {side} suite wrote no results{where}")
            runs.append(load_run(path))
        return merge_runs(runs)
