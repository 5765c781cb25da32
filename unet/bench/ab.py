"""Same-runner A/B: measure a base revision and the working tree on one machine in one job.

The base is checked out in a temporary git worktree (the user's tree is never touched). Both
suites run at once as long-lived pytest processes that take turns (see ``abworker``): for each
case, base and head run its setup once each and then alternate round blocks, base-head then
head-base (ABBA...), so drift in clocks, temperature or background load hits both sides alike,
and neither side pays interpreter start, imports or a case's setup more than once. A case that
looks like a regression after its blocks gets two more blocks per side at once, and the verdict
uses them all. The worktree is removed afterwards, also on Ctrl-C or SIGTERM.

A base from before this protocol (no matching ``unet/bench/abworker.py``) is measured the old
way instead: whole-suite process blocks, base-head then head-base, suspects re-run in two more.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unet.bench import abworker
from unet.bench.runs import Run, cost_changes_between, load_run, merge_runs
from unet.bench.verdict import REGRESSION, Verdict, compare_blocks, confirm

PYTEST_MAX_TIME_S = 1.0  # pytest-benchmark's default time per case, split across the blocks
PYTEST_MIN_ROUNDS = 5
PROCESS_BLOCKS = 2  # process blocks per side for a base that predates paired workers
CONFIRM_BLOCKS = 2  # blocks per side added to re-measure a suspected regression


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


def speaks_paired_protocol(tree: Path) -> bool:
    """Whether the suite in ``tree`` can run as a paired worker of this version."""
    worker = tree / "unet" / "bench" / "abworker.py"
    found = re.search(r"^PROTOCOL = (\d+)", worker.read_text(), re.M) if worker.exists() else None
    return found is not None and int(found.group(1)) == abworker.PROTOCOL


@dataclass
class ABResult:
    base_rev: str
    mode: str = "paired"  # or "process blocks" for a base without the paired protocol
    verdicts: list[Verdict] = field(default_factory=list)
    cost_changes: list[tuple[str, str, object, object]] = field(default_factory=list)
    base: Run | None = None
    head: Run | None = None
    reruns: list[str] = field(default_factory=list)  # cases re-measured to confirm
    unmatched: list[str] = field(default_factory=list)  # cases timed on one side only


@dataclass
class _Worker:
    """One side's long-lived pytest process, seen from the coordinator."""

    side: str
    proc: subprocess.Popen
    sock: socket.socket
    log: Path
    cases: list[str] = field(default_factory=list)  # its collected cases, in order
    request: dict | None = None  # where it waits for the turn; None while it runs
    current: str | None = None  # the case it is in
    done: set[str] = field(default_factory=set)  # cases it has moved past
    buffer: bytes = b""

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None

    def reply(self, go: bool, blocks: int) -> None:
        self.request = None
        self.sock.sendall(json.dumps({"go": go, "blocks": blocks}).encode() + b"\n")

    def messages(self) -> list[dict] | None:
        """The complete messages that arrived; None when the worker closed its end."""
        data = self.sock.recv(1 << 16)
        if not data:
            return None
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]


def _stage(request: dict) -> int:
    """Order of a request within its case: setup before block 0, 1, ..."""
    return -1 if request["stage"] == abworker.SETUP else int(request["stage"])


@dataclass
class ABRunner:
    repo: Path  # the working tree measured as "head"
    out: Path  # where each side's JSON and log go
    device: str = "auto"
    quick: bool = False
    blocks: int = abworker.DEFAULT_BLOCKS  # round blocks per case and side (paired workers)
    min_effect: float = 0.03
    pytest_args: Sequence[str] = ()
    log: object = sys.stderr

    # --- shared ------------------------------------------------------------------------------

    def _command(self, out: Path, cases: Sequence[str], extra: Sequence[str]) -> list[str]:
        return [
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
            *(["--quick"] if self.quick else []),
            *self.pytest_args,
            *extra,
        ]

    @staticmethod
    def _env(tree: Path, **extra: str) -> dict[str, str]:
        # each tree imports its own unet package
        path = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])
        return {**os.environ, "PYTHONPATH": path, **extra}

    def _verdict(self, name: str, blocks: dict[str, list[list[float]]]) -> Verdict:
        return compare_blocks(name, blocks["base"], blocks["head"], min_effect=self.min_effect)

    def run(self, base_rev: str) -> ABResult:
        self.out.mkdir(parents=True, exist_ok=True)
        head_tree = Path(git(self.repo, "rev-parse", "--show-toplevel"))
        with sigterm_as_interrupt(), base_worktree(head_tree, base_rev) as base_tree:
            trees = {"base": base_tree, "head": head_tree}
            if speaks_paired_protocol(base_tree):
                return self._paired(trees, ABResult(base_rev=base_rev))
            print(
                "unet-bench ab: the base predates paired workers; measuring in process blocks",
                file=self.log,
                flush=True,
            )
            return self._process_blocks(trees, ABResult(base_rev=base_rev, mode="process blocks"))

    # --- paired workers: both suites alive, taking turns per round block ---------------------

    def _start(self, side: str, tree: Path) -> _Worker:
        ours, theirs = socket.socketpair()
        log = self.out / f"{side}.log"
        with log.open("w") as sink:
            proc = subprocess.Popen(
                self._command(self.out / f"{side}.json", (), ()),
                cwd=tree,
                env=self._env(
                    tree, **{abworker.ENV_FD: str(theirs.fileno()), abworker.ENV_SIDE: side}
                ),
                stdout=sink,
                stderr=subprocess.STDOUT,
                pass_fds=[theirs.fileno()],
            )
        theirs.close()
        return _Worker(side=side, proc=proc, sock=ours, log=log)

    def _paired(self, trees: dict[str, Path], result: ABResult) -> ABResult:
        print(f"unet-bench ab: paired workers, {self.blocks} blocks per case", file=self.log)
        workers = [self._start(side, trees[side]) for side in ("base", "head")]
        samples: dict[str, dict[str, list[list[float]]]] = {"base": {}, "head": {}}
        planned: dict[str, int] = {}  # blocks per side of each case (more when confirming)
        suspects: dict[str, Verdict] = {}  # first-pass verdicts of re-measured cases
        selector = selectors.DefaultSelector()
        for w in workers:
            selector.register(w.sock, selectors.EVENT_READ, w)

        def grant(w: _Worker) -> None:
            """Let ``w`` run its requested stage, or tell it the case is done."""
            case, stage = w.request["case"], w.request["stage"]
            if stage in (abworker.SETUP, abworker.FINAL):
                return w.reply(True, self.blocks)
            w.reply(stage < planned.setdefault(case, self.blocks), self.blocks)

        def decide(live: list[_Worker]) -> None:
            """Every live worker waits: give the turn to exactly one (all, at the end)."""
            active = [w for w in live if w.request["stage"] != abworker.FINAL]
            if not active:  # both measured everything: let them write their results
                for w in live:
                    w.reply(True, self.blocks)
                return
            if len(active) == 1:
                return grant(active[0])
            base, head = active
            case = base.request["case"]
            if case != head.request["case"]:
                # a case the other side has passed or lacks runs alone; else orders differ
                for w, other in ((base, head), (head, base)):
                    mine = w.request["case"]
                    if mine in other.done or mine not in other.cases:
                        return grant(w)
                return grant(head)
            sb, sh = _stage(base.request), _stage(head.request)
            limit = planned.setdefault(case, self.blocks)
            if min(sb, sh) >= limit and case not in suspects:
                blocks = {side: samples[side].get(case, []) for side in samples}
                first = self._verdict(case, blocks)
                if first.verdict == REGRESSION:  # confirm-by-rerun: more blocks, now
                    suspects[case] = first
                    planned[case] = limit = limit + CONFIRM_BLOCKS
            if sb != sh:
                return grant(base if sb < sh else head)
            # same stage: ABBA, base first in even blocks (and setup), head first in odd ones
            return grant(head if sb >= 0 and sb % 2 else base)

        try:
            while any(w.alive for w in workers):
                live = [w for w in workers if w.alive]
                if all(w.request is not None for w in live):
                    decide(live)
                    continue
                for key, _ in selector.select():
                    w = key.data
                    messages = w.messages()
                    if messages is None:  # it exited
                        selector.unregister(w.sock)
                        w.proc.wait()
                        if w.proc.returncode not in (0, 1):  # 1: failing cases still timed
                            tail = w.log.read_text()[-3000:]
                            raise ABError(
                                f"the {w.side} suite failed (exit {w.proc.returncode}):\n{tail}"
                            )
                        continue
                    for message in messages:
                        if "hello" in message:
                            w.cases = message["cases"]
                            continue
                        if w.current is not None and message["case"] != w.current:
                            w.done.add(w.current)
                        w.current = message["case"] or None
                        if message["samples"]:
                            samples[w.side].setdefault(message["case"], []).append(
                                message["samples"]
                            )
                        w.request = message
        finally:
            for w in workers:
                if w.alive:
                    w.proc.terminate()
                    w.proc.wait()
                w.sock.close()
            selector.close()

        runs = {}
        for w in workers:
            path = self.out / f"{w.side}.json"
            if not path.exists():
                raise ABError(f"the {w.side} suite wrote no results; see {w.log}")
            runs[w.side] = load_run(path)
        result.base, result.head = runs["base"], runs["head"]
        measured = {side: set(cases) for side, cases in samples.items()}
        result.unmatched = sorted(measured["base"] ^ measured["head"])
        for case in sorted(measured["base"] & measured["head"]):
            verdict = self._verdict(case, {side: samples[side][case] for side in samples})
            if case in suspects:  # the final word uses every block: first pass and re-measured
                verdict = confirm(suspects[case], verdict)
            result.verdicts.append(verdict)
        result.reruns = sorted(suspects)
        result.cost_changes = cost_changes_between(result.base, result.head)
        return result

    # --- process blocks: for a base without paired workers -----------------------------------

    def _block(
        self, side: str, tree: Path, index: int, extra: Sequence[str], cases: Sequence[str]
    ) -> Run:
        out = self.out / f"{side}-{index}.json"
        timing = [
            f"--benchmark-max-time={PYTEST_MAX_TIME_S / PROCESS_BLOCKS}",
            f"--benchmark-min-rounds={math.ceil(PYTEST_MIN_ROUNDS / PROCESS_BLOCKS)}",
        ]
        print(f"unet-bench ab: {side} block {index}", file=self.log, flush=True)
        proc = subprocess.Popen(
            self._command(out, cases, [*timing, *extra]),
            cwd=tree,
            env=self._env(tree),
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

    def _process_verdict(self, name: str, runs: dict[str, list[Run]]) -> Verdict:
        blocks = {
            side: [r.samples(name) for r in side_runs if name in r.cases]
            for side, side_runs in runs.items()
        }
        return self._verdict(name, blocks)

    def _process_blocks(self, trees: dict[str, Path], result: ABResult) -> ABResult:
        runs = self._blocks(trees, PROCESS_BLOCKS, 0)
        base, head = merge_runs(runs["base"]), merge_runs(runs["head"])
        result.base, result.head = base, head
        common = sorted(set(base.cases) & set(head.cases))
        result.unmatched = sorted(set(base.cases) ^ set(head.cases))
        result.verdicts = [self._process_verdict(name, runs) for name in common]
        result.cost_changes = cost_changes_between(base, head)
        suspects = [v for v in result.verdicts if v.verdict == REGRESSION]
        if suspects:
            result.reruns = [v.case for v in suspects]
            node_ids = [head.cases[v.case]["fullname"] for v in suspects]
            again = self._blocks(trees, CONFIRM_BLOCKS, PROCESS_BLOCKS, node_ids)
            # the final word uses every block of the case: first pass and re-measurement
            every = {side: runs[side] + again[side] for side in runs}
            confirmed = {v.case: confirm(v, self._process_verdict(v.case, every)) for v in suspects}
            result.verdicts = [confirmed.get(v.case, v) for v in result.verdicts]
        return result
