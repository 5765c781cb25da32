"""Same-runner A/B: measure a base revision and the working tree on one machine in one job.

The base is checked out in a temporary git worktree (the user's tree is never touched). Both
suites run at once as long-lived pytest processes, two per side, that take turns (see
``abworker``): for each case, every worker runs its setup once, then the sides alternate round
blocks, base-head then head-base (ABBA...), so drift in clocks, temperature or background load
hits both sides alike, and no process pays interpreter start, imports or a case's setup more than
once. Suspected regressions are re-measured by two fresh workers per side, since a process's own
speed is what most often fakes a difference, and the verdict uses every block. The worktree is
removed afterwards, also on Ctrl-C or SIGTERM.

A base from before this protocol (no matching ``unet/bench/abworker.py``) is measured the old
way instead: whole-suite process blocks, base-head then head-base, suspects re-run in two more.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unet.bench import abworker
from unet.bench.runs import Run, cost_changes_between, load_run, merge_runs
from unet.bench.verdict import REGRESSION, Verdict, compare_blocks, compare_generations, confirm

PYTEST_MAX_TIME_S = 1.0  # pytest-benchmark's default time per case, split across the blocks
PYTEST_MIN_ROUNDS = 5
PROCESS_BLOCKS = 2  # process blocks per side for a base that predates paired workers
CONFIRM_BLOCKS = 2  # process blocks per side that re-measure a suspect (the older mode)
# Paired workers per side: a process has its own speed (memory placement, kernel code); with
# two per side that spread shows between the process medians instead of passing for a change.
PAIRED_WORKERS = 2


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
    """One long-lived pytest process of one side, seen from the coordinator."""

    side: str  # base or head
    slot: int  # 0 or 1: which of the side's processes in this generation
    name: str  # e.g. head-1: its log and JSON files are named after it
    proc: subprocess.Popen
    sock: socket.socket
    log: Path
    cases: list[str] = field(default_factory=list)  # its collected cases, in order
    request: dict | None = None  # where it waits for the turn; None while it runs
    done: set[str] = field(default_factory=set)  # cases it has moved past
    last_case: str = ""
    alive: bool = True  # False once it closed its end of the socket
    buffer: bytes = b""

    @property
    def case(self) -> str | None:
        return self.request["case"] if self.request else None

    @property
    def finished(self) -> bool:
        return bool(self.request) and self.request["stage"] == abworker.FINAL

    def reply(self, go: bool, blocks: int, side_blocks: int) -> None:
        self.request = None
        message = {"go": go, "blocks": blocks, "side_blocks": side_blocks}
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def receive(self) -> list[dict] | None:
        """The complete messages that arrived; None when the worker closed its end."""
        data = self.sock.recv(1 << 16)
        if not data:
            return None
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]


@dataclass
class _Schedule:
    """Who runs next. Per case: every worker's setup, then the side's blocks split over its
    workers, base and head alternating ABBA: B0 H0 H1 B1 B0 H0 ... (letter = side, digit =
    slot), so position effects after a switch hit both sides alike."""

    workers: list[_Worker]
    side_blocks: int  # blocks per side and case
    per_side: int = 2
    # side -> case -> worker -> its rounds: the process, not the block, is the unit of a
    # verdict, because blocks of one process share its speed
    samples: dict[str, dict[str, dict[str, list[float]]]] = field(
        default_factory=lambda: {"base": {}, "head": {}}
    )
    log: list[tuple[float, str, str, str, bool]] = field(default_factory=list)  # the turns given

    @property
    def share(self) -> int:
        """Blocks per worker and case."""
        return math.ceil(self.side_blocks / self.per_side)

    def key(self, w: _Worker) -> tuple[float, int]:
        stage = w.request["stage"]
        if stage == abworker.SETUP:
            return (-1, self.workers.index(w))
        if stage >= self.share:
            return (math.inf, self.workers.index(w))  # asks to be told it is done
        block = stage * self.per_side + w.slot  # the side's block number
        first = "base" if block % 2 == 0 else "head"
        return (block, 0 if w.side == first else 1)

    def record(self, w: _Worker, message: dict) -> None:
        """A worker asks for the turn, reporting the block it just ran."""
        if w.last_case and message["case"] != w.last_case:
            w.done.add(w.last_case)
        w.last_case = message["case"]
        if message["samples"]:
            per_worker = self.samples[w.side].setdefault(message["case"], {})
            per_worker.setdefault(w.name, []).extend(message["samples"])
        w.request = message

    def pending(self, case: str, live: list[_Worker]) -> bool:
        """Whether a live worker has still to reach ``case``."""
        return any(
            w.case != case and case in w.cases and case not in w.done and not w.finished
            for w in live
        )

    def decide(self, live: list[_Worker]) -> None:
        """Every live worker waits: let exactly one run (all of them at the end)."""
        if all(w.finished for w in live):
            for w in live:
                w.reply(True, 0, self.side_blocks)
            return
        groups: dict[str, list[_Worker]] = {}
        for w in live:
            if not w.finished:
                groups.setdefault(w.case, []).append(w)
        # a case nobody else will still reach goes first; if every case waits on somebody, the
        # sides collected their cases in different orders: let the first group go anyway
        case = next((c for c in groups if not self.pending(c, live)), next(iter(groups)))
        w = min(groups[case], key=self.key)
        stage = w.request["stage"]
        go = stage == abworker.SETUP or stage < self.share
        self.log.append((time.monotonic(), w.name, case, str(stage), go))
        w.reply(go, self.share, self.side_blocks)


@dataclass
class ABRunner:
    repo: Path  # the working tree measured as "head"
    out: Path  # where each worker's JSON and log go
    device: str = "auto"
    quick: bool = False
    blocks: int = abworker.DEFAULT_BLOCKS  # round blocks per case and side (paired workers)
    min_effect: float = 0.03
    pytest_args: Sequence[str] = ()
    log: object = sys.stderr

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

    def _verdict(self, name: str, blocks: dict[str, list[Run]]) -> Verdict:
        """Process blocks: each run of a side is one block."""
        samples = {
            side: [r.samples(name) for r in runs if name in r.cases]
            for side, runs in blocks.items()
        }
        return compare_blocks(name, samples["base"], samples["head"], min_effect=self.min_effect)

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

    # --- paired workers: all alive, taking turns per round block -----------------------------

    def _start(
        self, side: str, slot: int, name: str, tree: Path, cases: Sequence[str], costs: bool
    ) -> _Worker:
        ours, theirs = socket.socketpair()
        log = self.out / f"{name}.log"
        env = self._env(
            tree,
            **{
                abworker.ENV_FD: str(theirs.fileno()),
                abworker.ENV_SIDE: name,
                # a random amount of environment moves the stack and what is laid out after
                # it, so this (known) source of a process's speed varies between processes
                # instead of differing between the sides by accident
                "UNET_BENCH_AB_PAD": "." * random.randrange(4096),
            },
        )
        with log.open("w") as sink:
            proc = subprocess.Popen(
                self._command(self.out / f"{name}.json", cases, [] if costs else ["--skip-costs"]),
                cwd=tree,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                pass_fds=[theirs.fileno()],
            )
        theirs.close()
        return _Worker(side=side, slot=slot, name=name, proc=proc, sock=ours, log=log)

    def _generation(
        self, trees: dict[str, Path], first: int, cases: dict[str, list[str]], costs: bool
    ) -> tuple[_Schedule, list[_Worker]]:
        """Run one generation of paired workers (two per side) through each side's ``cases``
        (node ids; all when none). Only the first worker of a side counts costs, if ``costs``."""
        started = time.monotonic()
        workers = [
            self._start(
                side,
                slot,
                f"{side}-{first + slot}",
                trees[side],
                cases.get(side, []),
                costs and not slot,
            )
            for slot in range(PAIRED_WORKERS)
            for side in ("base", "head")
        ]
        schedule = _Schedule(workers, self.blocks, PAIRED_WORKERS)
        selector = selectors.DefaultSelector()
        for w in workers:
            selector.register(w.sock, selectors.EVENT_READ, w)
        try:
            while any(w.alive for w in workers):
                live = [w for w in workers if w.alive]
                if all(w.request is not None for w in live):
                    if not schedule.log:
                        ready = time.monotonic() - started
                        print(f"unet-bench ab: workers ready after {ready:.1f} s", file=self.log)
                    schedule.decide(live)
                    continue
                for key, _ in selector.select():
                    w = key.data
                    messages = w.receive()
                    if messages is None:  # it exited
                        selector.unregister(w.sock)
                        w.alive = False
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
                        else:
                            schedule.record(w, message)
        finally:
            for w in workers:
                if w.proc.poll() is None:
                    w.proc.terminate()
                    w.proc.wait()
                w.sock.close()
            selector.close()
        elapsed = time.monotonic() - started
        print(f"unet-bench ab: workers done after {elapsed:.1f} s", file=self.log, flush=True)
        return schedule, workers

    def _paired(self, trees: dict[str, Path], result: ABResult) -> ABResult:
        print(
            f"unet-bench ab: paired workers, {PAIRED_WORKERS} per side, "
            f"{self.blocks} blocks per case and side",
            file=self.log,
            flush=True,
        )
        first, workers = self._generation(trees, 0, {}, costs=True)
        turns = [("1", *turn) for turn in first.log]
        measured = {side: set(cases) for side, cases in first.samples.items()}
        common = sorted(measured["base"] & measured["head"])
        verdicts = {case: self._process_verdict(case, [first.samples]) for case in common}
        suspects = [case for case, v in verdicts.items() if v.verdict == REGRESSION]
        if suspects:
            # Confirm-by-rerun in fresh processes: a process's own speed is the likeliest
            # cause of a false alarm, and the same processes would repeat it.
            print(
                f"unet-bench ab: re-measuring {len(suspects)} suspected regression(s) in new "
                "workers",
                file=self.log,
                flush=True,
            )
            node_ids = {
                side: [run.cases[case]["fullname"] for case in suspects]
                for side, run in ((s, self._side_run(workers, s)) for s in ("base", "head"))
            }
            again, more = self._generation(trees, PAIRED_WORKERS, node_ids, costs=False)
            workers += more
            turns += [("2", *turn) for turn in again.log]
            for case in suspects:  # the final word uses both generations of processes
                both = self._process_verdict(case, [first.samples, again.samples])
                verdicts[case] = confirm(verdicts[case], both)
        self._write_turns(turns)
        result.base = self._side_run(workers, "base")
        result.head = self._side_run(workers, "head")
        result.unmatched = sorted(measured["base"] ^ measured["head"])
        result.verdicts = [verdicts[case] for case in common]
        result.reruns = suspects
        result.cost_changes = cost_changes_between(result.base, result.head)
        return result

    def _process_verdict(
        self, case: str, generations: list[dict[str, dict[str, dict[str, list[float]]]]]
    ) -> Verdict:
        """Each worker's rounds count as one block: its median once, and the noise floor is
        the spread between the processes of a side that ran at the same time."""
        blocks = [
            tuple(list(samples[side].get(case, {}).values()) for side in ("base", "head"))
            for samples in generations
        ]
        return compare_generations(case, blocks, min_effect=self.min_effect)

    def _side_run(self, workers: list[_Worker], side: str) -> Run:
        runs = []
        for w in workers:
            path = self.out / f"{w.name}.json"
            if w.side == side:
                if not path.exists():
                    raise ABError(f"the {side} suite wrote no results; see {w.log}")
                runs.append(load_run(path))
        return merge_runs(runs)

    def _write_turns(self, turns: list[tuple[str, float, str, str, str, bool]]) -> None:
        """schedule.tsv: every turn given, in order (seconds since the first)."""
        t0 = turns[0][1] if turns else 0.0
        rows = ["generation\tseconds\tworker\tcase\tstage\tgo"]
        rows += [f"{g}\t{t - t0:.3f}\t{w}\t{c}\t{st}\t{go}" for g, t, w, c, st, go in turns]
        (self.out / "schedule.tsv").write_text("\n".join(rows) + "\n")

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

    def _process_blocks(self, trees: dict[str, Path], result: ABResult) -> ABResult:
        runs = self._blocks(trees, PROCESS_BLOCKS, 0)
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
            again = self._blocks(trees, CONFIRM_BLOCKS, PROCESS_BLOCKS, node_ids)
            # the final word uses every block of the case: first pass and re-measurement
            every = {side: runs[side] + again[side] for side in runs}
            confirmed = {v.case: confirm(v, self._verdict(v.case, every)) for v in suspects}
            result.verdicts = [confirmed.get(v.case, v) for v in result.verdicts]
        return result
