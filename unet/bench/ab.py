"""Same-runner A/B: measure a base revision and the working tree on one machine in one job.

The base is checked out in a temporary git worktree (the user's tree is never touched). Both
suites run in alternating round blocks, base-head then head-base (ABBA), so drift in clocks,
temperature or background load hits both sides alike. Only the first block of each side counts
costs; later blocks only time. Suspected regressions are re-measured in two more blocks of just
those cases before they count. The worktree is removed afterwards, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unet.bench.runs import Run, cost_changes_between, load_run, merge_runs
from unet.bench.verdict import REGRESSION, Verdict, compare_blocks, confirm

PYTEST_MAX_TIME_S = 1.0  # pytest-benchmark's default time per case, split across the blocks
PYTEST_MIN_ROUNDS = 5


class ABError(RuntimeError):
    """A/B could not run (bad revision, not a git repository, a suite that crashed)."""


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode:
        raise ABError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


@contextlib.contextmanager
def base_worktree(repo: Path, rev: str) -> Iterator[Path]:
    """A detached worktree of ``rev`` in a temporary folder, removed on the way out."""
    sha = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    folder = Path(tempfile.mkdtemp(prefix="unet-bench-ab-"))
    tree = folder / "base"
    git(repo, "worktree", "add", "--detach", str(tree), sha)
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
        )
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)
        subprocess.run(["rm", "-rf", str(folder)], capture_output=True)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C so cleanup runs."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class ABResult:
    base_rev: str
    verdicts: list[Verdict] = field(default_factory=list)
    cost_changes: list[tuple[str, str, object, object]] = field(default_factory=list)
    base: Run | None = None
    head: Run | None = None
    reruns: list[str] = field(default_factory=list)  # cases re-measured to confirm
    unmatched: list[str] = field(default_factory=list)  # cases timed on one side only


@dataclass
class ABRunner:
    repo: Path  # the working tree measured as "head"
    out: Path  # where each block's JSON goes
    device: str = "auto"
    quick: bool = False
    blocks: int = 2
    min_effect: float = 0.03
    pytest_args: Sequence[str] = ()
    log: object = sys.stderr

    def _block(
        self, side: str, tree: Path, index: int, extra: Sequence[str], cases: Sequence[str]
    ) -> Run:
        out = self.out / f"{side}-{index}.json"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            *(cases or ["benchmarks"]),  # node ids are relative to the tree's root
            "-q",
            "-p",
            "no:cacheprovider",
            f"--device={self.device}",
            f"--benchmark-json={out}",
            f"--benchmark-storage=file://{self.out / 'storage'}",  # never the user's runs
            f"--benchmark-max-time={PYTEST_MAX_TIME_S / self.blocks}",
            f"--benchmark-min-rounds={math.ceil(PYTEST_MIN_ROUNDS / self.blocks)}",
            *(["--quick"] if self.quick else []),
            *self.pytest_args,
            *extra,
        ]
        # each tree imports its own unet package
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]),
        }
        print(f"unet-bench ab: {side} block {index}", file=self.log, flush=True)
        proc = subprocess.Popen(
            cmd, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            output, _ = proc.communicate()
        except BaseException:
            proc.terminate()
            proc.wait()
            raise
        # 1: failing cases (e.g. a cost gate) still produced timings
        if proc.returncode not in (0, 1) or not out.exists():
            raise ABError(f"the {side} suite failed (exit {proc.returncode}):\n{output[-3000:]}")
        return load_run(out)

    def _blocks(
        self, trees: dict[str, Path], count: int, first: int, cases: Sequence[str] = ()
    ) -> dict[str, list[Run]]:
        runs: dict[str, list[Run]] = {"base": [], "head": []}
        for i in range(first, first + count):
            order = ("base", "head") if i % 2 == 0 else ("head", "base")
            for side in order:
                costs = [] if i == 0 else ["--skip-costs"]
                runs[side].append(self._block(side, trees[side], i, costs, cases))
        return runs

    def _verdict(self, name: str, runs: dict[str, list[Run]]) -> Verdict:
        blocks = {
            side: [r.samples(name) for r in side_runs if name in r.cases]
            for side, side_runs in runs.items()
        }
        return compare_blocks(name, blocks["base"], blocks["head"], min_effect=self.min_effect)

    def run(self, base_rev: str) -> ABResult:
        self.out.mkdir(parents=True, exist_ok=True)
        head_tree = Path(git(self.repo, "rev-parse", "--show-toplevel"))
        result = ABResult(base_rev=base_rev)
        with sigterm_as_interrupt(), base_worktree(head_tree, base_rev) as base_tree:
            trees = {"base": base_tree, "head": head_tree}
            runs = self._blocks(trees, self.blocks, 0)
            base, head = merge_runs(runs["base"]), merge_runs(runs["head"])
            result.base, result.head = base, head
            common = sorted(set(base.cases) & set(head.cases))
            result.unmatched = sorted(set(base.cases) ^ set(head.cases))
            result.verdicts = [self._verdict(name, runs) for name in common]
            result.cost_changes = cost_changes_between(base, head)
            suspects = [v for v in result.verdicts if v.verdict == REGRESSION]
            if suspects:
                result.reruns = [v.case for v in suspects]
                node_ids = [head.cases[v.case]["fullname"] for v in suspects]
                again = self._blocks(trees, 2, self.blocks, node_ids)
                # the final word uses every block of the case: first pass and re-measurement
                every = {side: runs[side] + again[side] for side in runs}
                confirmed = {v.case: confirm(v, self._verdict(v.case, every)) for v in suspects}
                result.verdicts = [confirmed.get(v.case, v) for v in result.verdicts]
        return result
