"""Measure the A/B gate's quality bars on this machine (a measurement, not a test).

1. wall time of one quick suite run vs one A/B run (target <= 2.2x);
2. N A/A runs of the same code: how many fail (target 0);
3. N A/B runs with a slowdown injected into one case: (slowdown x that case's median in step 1)
   added to each call — a CPU busy-wait, or on CUDA a GPU kernel that spins that long, queued
   after the case's own — and how many runs flag that case as a confirmed regression, for each
   slowdown size. ``--case upsample`` (default): test_upsample[up=interpolate-bs=1], ~1.1 ms on
   a CPU; ``--case model``: the standard hourglass with BatchNorm at batch 1, for a GPU, where
   the issue asks for a case of at least 100 us.

Works on a throwaway clone of HEAD, so the checkout is never touched. ``--revisions OLD,NEW``
measures several revisions of the gate in one sitting, interleaved: every step (the wall time,
each A/A run, each injected run) runs once per revision before the next step, so the machine's
noise over the minutes hits them alike. Each revision measures its own A/B (its ``unet.cli``).
Usage: python scripts/ab_quality.py [--runs 10] [--slowdowns 0.05,0.1,0.2] [--device auto]
       [--case upsample|model] [--skip-aa] [--revisions REV,REV] [--out ab-quality.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from unet.bench.ab.result import load_ab_json
from unet.bench.invoke import suite_command

REPO = Path(__file__).resolve().parents[1]
# name -> (case, file patched, class whose forward gets the delay, pytest -k selecting the case
#          in the quick tier)
CASES = {
    "upsample": (
        "test_upsample[up=interpolate-bs=1]",
        "unet/layers.py",
        "InterpolateConv",
        "test_upsample",
    ),
    "model": (
        "test_model[conv=standard-norm=batch-up=interpolate-bs=1]",
        "unet/model.py",
        "Hourglass",
        "test_model and standard and batch and interpolate",
    ),
}
SPIN = """

import time as _time

import torch as _torch


def _spun_forward(self, x, _forward={cls}.forward):
    out = _forward(self, x)
    if out.is_cuda:  # GPU work: a kernel spinning {cycles} cycles after the case's own
        _torch.cuda._sleep({cycles})
    else:  # busy-wait: extra time that looks like work
        end = _time.perf_counter() + {delay!r}
        while _time.perf_counter() < end:
            pass
    return out


{cls}.forward = _spun_forward
"""


def gpu_cycles_per_second(device: str) -> float:
    """The rate of torch.cuda._sleep's spin on this GPU (0 when no CUDA device is used)."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return 0.0
    torch.cuda._sleep(1000)  # load the kernel
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    torch.cuda._sleep(10**8)
    end.record()
    end.synchronize()
    return 1e8 / (start.elapsed_time(end) / 1e3)


def timed(cmd: list[str], cwd: Path) -> tuple[int, float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return proc.returncode, time.perf_counter() - start, proc.stdout + proc.stderr


def wall_time_ratio(args: argparse.Namespace, repo: Path, work: Path, ab: list[str]) -> dict:
    """One quick suite run, then one A/B run of the same code: their wall times, and the
    chosen case's median in the single run (the scale of the injected delays)."""
    case = CASES[args.case][0]
    single = suite_command(
        ["benchmarks"],
        device=args.device,
        storage=work / "runs",
        quick=True,
        options=["-q", f"--benchmark-json={work}/one.json"],
    )
    rc, single_s, out = timed(single, repo)
    if rc:
        sys.exit(f"ab_quality: the single quick run failed (exit {rc}):\n{out[-3000:]}")
    one = json.loads((work / "one.json").read_text())
    median = next(b["stats"]["median"] for b in one["benchmarks"] if b["name"] == case)
    rc, ab_s, out = timed([*ab, f"--out={work}/ab-time"], repo)
    print(
        f"{repo.name}: single quick run {single_s:.1f} s, A/B {ab_s:.1f} s, "
        f"ratio {ab_s / single_s:.2f}"
    )
    return {
        "single_run_s": single_s,
        "ab_run_s": ab_s,
        "ratio": ab_s / single_s,
        "case": case,
        "case_median_s": median,
    }


def called(out_dir: Path, outcomes: tuple[str, ...] = ("regression",)) -> list[str]:
    """The cases the A/B run in ``out_dir`` judged confirmed regressions (or any of
    ``outcomes``)."""
    result = load_ab_json(out_dir / "ab.json")
    return [v.case for v in result.verdicts if v.outcome in outcomes]


# a false improvement does not fail the gate, but it is as false as a false regression
CHANGES = ("regression", "improvement")


@dataclass
class Revision:
    """One revision of the gate under test: its clone, and what it measured."""

    name: str
    repo: Path
    work: Path
    results: dict = field(default_factory=dict)
    aa: list[int] = field(default_factory=list)
    seconds: dict[str, list[float]] = field(default_factory=dict)  # A/B wall times per step
    hits: dict[str, int] = field(default_factory=dict)
    untouched: dict[str, int] = field(default_factory=dict)
    untouched_changes: dict[str, int] = field(default_factory=dict)  # improvements too
    aa_changes: list[list[str]] = field(default_factory=list)  # any change called, per A/A


def injected_runs(
    args: argparse.Namespace, revisions: list[Revision], ab: list[str], median: float
) -> None:
    """For each slowdown: how many of ``args.runs`` A/B runs flag the slowed case, and how
    many flag an untouched case (a false alarm beside the real change), per revision, the
    revisions taking turns run by run."""
    case, patched, cls, select = CASES[args.case]
    rate = gpu_cycles_per_second(args.device)
    originals = {r.name: (r.repo / patched).read_text() for r in revisions}
    for slowdown in [float(s) for s in args.slowdowns.split(",")]:
        delay = median * slowdown
        key = f"{slowdown:.2f}"
        for r in revisions:
            spin = SPIN.format(cls=cls, delay=delay, cycles=int(delay * rate))
            (r.repo / patched).write_text(originals[r.name] + spin)
            r.hits[key] = r.untouched[key] = r.untouched_changes[key] = 0
            r.seconds[key] = []
        for i in range(args.runs):
            for r in revisions:
                out_dir = r.work / f"slow-{slowdown}-{i}"
                rc, seconds, _ = timed([*ab, f"--out={out_dir}", "--", "-k", select], r.repo)
                flagged = called(out_dir)
                r.hits[key] += case in flagged
                r.untouched[key] += any(name != case for name in flagged)
                r.untouched_changes[key] += any(n != case for n in called(out_dir, CHANGES))
                r.seconds[key].append(seconds)
                print(
                    f"{r.name} slowdown {slowdown:.0%} run {i}: exit {rc}, {seconds:.1f} s, "
                    f"flagged {flagged}",
                    flush=True,
                )
    for r in revisions:
        (r.repo / patched).write_text(originals[r.name])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--slowdowns", default="0.05,0.1,0.2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("ab-quality.json"))
    parser.add_argument("--skip-aa", action="store_true", help="only the injected slowdowns")
    parser.add_argument("--case", choices=sorted(CASES), default="upsample")
    parser.add_argument("--revisions", default="HEAD", help="comma-separated, measured interleaved")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ab-quality-"))
    revisions = []
    for i, rev in enumerate(args.revisions.split(",")):
        repo = work / f"repo{i}"
        subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
        subprocess.run(["git", "-C", str(repo), "checkout", "-q", rev], check=True)
        (work / f"out{i}").mkdir()
        revisions.append(Revision(rev, repo, work / f"out{i}"))
    ab = [
        sys.executable,
        "-m",
        "unet.cli",
        "ab",
        "--base",
        "HEAD",
        "--quick",
        f"--device={args.device}",
    ]
    for r in revisions:
        r.results = {"revision": r.name, "device": args.device, "runs": args.runs}
        r.results.update(wall_time_ratio(args, r.repo, r.work, ab))
    for i in range(0 if args.skip_aa else args.runs):
        for r in revisions:
            rc, seconds, _ = timed([*ab, f"--out={r.work}/aa-{i}"], r.repo)
            r.aa.append(rc)
            r.aa_changes.append(called(r.work / f"aa-{i}", CHANGES))
            r.seconds.setdefault("aa", []).append(seconds)
            said = f"exit {rc}, {seconds:.1f} s, changes called {r.aa_changes[-1]}"
            print(f"{r.name} A/A {i}: {said}", flush=True)
    injected_runs(args, revisions, ab, revisions[0].results["case_median_s"])
    for r in revisions:
        r.results["aa_exit_codes"] = r.aa
        r.results["flagged_of_runs"] = r.hits
        r.results["untouched_case_flagged_in_runs"] = r.untouched
        r.results["untouched_case_changed_in_runs"] = r.untouched_changes
        r.results["aa_changes_called"] = r.aa_changes
        r.results["ab_seconds"] = r.seconds
    found = [r.results for r in revisions]
    args.out.write_text(json.dumps(found if len(found) > 1 else found[0], indent=2))
    print(json.dumps(found, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
