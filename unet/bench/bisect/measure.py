"""One bisect step's measurement: a commit checked out in a temporary worktree, then either a
paired A/B against the good revision (``unet-bench ab``'s machinery) or one untimed-in-effect
pass that records its exact costs. Worktrees go on the way out, also on Ctrl-C and SIGTERM."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from unet.bench.ab.git import base_worktree
from unet.bench.ab.result import ABResult
from unet.bench.ab.runner import run_ab
from unet.bench.ab.settings import ABError, ABSettings
from unet.bench.invoke import suite_command
from unet.bench.results.runs import Run, cost_changes_between, load_run

# one round, no warmup: the pass is for the costs its first (counted) call records
COST_PASS = ["--benchmark-min-rounds=1", "--benchmark-max-time=0.000001", "--warmup-time=0"]


@dataclass
class Measurer:
    repo: Path  # the user's repository (its object store; its working tree is never touched)
    good: str  # commit id of the good revision
    settings: ABSettings  # device, tier, pytest arguments, output root
    steps: int = 0  # measurements so far: each gets its own numbered output folder

    def folder(self, commit: str, what: str) -> Path:
        self.steps += 1
        return self.settings.out / f"{self.steps:02d}-{commit[:7]}-{what}"

    def ab(self, commit: str, blocks: int, node_ids: list[str]) -> ABResult:
        """Paired A/B of ``commit`` (head) against good (base) on ``node_ids`` (all if none)."""
        out = self.folder(commit, "ab")
        with base_worktree(self.repo, commit) as tree:
            step = replace(
                self.settings, repo=tree, out=out, blocks=blocks, cases=node_ids, attribute=False
            )
            step.say(f"A/B of {commit[:7]} against good {self.good[:7]}, {blocks} round blocks")
            return run_ab(step, self.good)

    def costs(self, commit: str, node_ids: list[str]) -> Run:
        """The run of one pass over ``node_ids`` at ``commit``, with their exact costs."""
        out = self.folder(commit, "costs")
        out.mkdir(parents=True)
        result = out / "run.json"
        with base_worktree(self.repo, commit) as tree:
            command = suite_command(
                node_ids,
                device=self.settings.device,
                storage=out / "storage",
                quick=self.settings.quick,
                options=[
                    "-q",
                    f"--benchmark-json={result}",
                    *self.settings.pytest_args,
                    *COST_PASS,
                ],
            )
            self.settings.say(f"exact costs of {commit[:7]}")
            with (out / "suite.log").open("w") as log:
                subprocess.run(
                    command,
                    cwd=tree,
                    env=ABSettings.env(tree),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        if not result.exists():
            raise ABError(f"the suite at {commit[:7]} wrote no results; see {out / 'suite.log'}")
        return load_run(result)


def cost_lines(good: Run, other: Run, cases: list[str]) -> list[str]:
    """``case: field old -> new`` for each cost that ``other`` changed in ``cases``."""
    return [
        f"{case}: {name} {old} -> {new}"
        for case, name, old, new in cost_changes_between(good, other)
        if case in cases
    ]
