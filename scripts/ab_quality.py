"""Measure the A/B gate's quality bars on this machine (a measurement, not a test).

1. wall time of one quick suite run vs one A/B run (target <= 2.2x);
2. N A/A runs of the same code: how many fail (target 0);
3. N A/B runs with a slowdown injected into one case: (slowdown x that case's median in step 1)
   added to each call — a CPU busy-wait, or on CUDA a GPU kernel that spins that long, queued
   after the case's own — and how many runs flag that case as a confirmed regression, for each
   slowdown size. ``--case upsample`` (default): test_upsample[up=interpolate-bs=1], ~1.1 ms on
   a CPU; ``--case model``: the standard hourglass with BatchNorm at batch 1, for a GPU, where
   the issue asks for a case of at least 100 us.

Works on a throwaway clone of HEAD, so the checkout is never touched.
Usage: python scripts/ab_quality.py [--runs 10] [--slowdowns 0.05,0.1,0.2] [--device auto]
       [--case upsample|model] [--skip-aa] [--out ab-quality.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
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
    print(f"single quick run {single_s:.1f} s, A/B {ab_s:.1f} s, ratio {ab_s / single_s:.2f}")
    return {
        "single_run_s": single_s,
        "ab_run_s": ab_s,
        "ratio": ab_s / single_s,
        "case": case,
        "case_median_s": median,
    }


def regressions(out_dir: Path) -> list[str]:
    """The cases the A/B run in ``out_dir`` judged confirmed regressions."""
    result = load_ab_json(out_dir / "ab.json")
    return [v.case for v in result.verdicts if v.outcome == "regression"]


def injected_runs(
    args: argparse.Namespace, repo: Path, work: Path, ab: list[str], median: float
) -> tuple[dict[str, int], dict[str, int]]:
    """For each slowdown: how many of ``args.runs`` A/B runs flag the slowed case, and how
    many flag an untouched case (a false alarm beside the real change)."""
    case, patched, cls, select = CASES[args.case]
    rate = gpu_cycles_per_second(args.device)
    target = repo / patched
    original = target.read_text()
    detections, untouched = {}, {}
    for slowdown in [float(s) for s in args.slowdowns.split(",")]:
        delay = median * slowdown
        target.write_text(original + SPIN.format(cls=cls, delay=delay, cycles=int(delay * rate)))
        hits = others = 0
        for i in range(args.runs):
            out_dir = work / f"slow-{slowdown}-{i}"
            rc, _, _ = timed([*ab, f"--out={out_dir}", "--", "-k", select], repo)
            flagged = regressions(out_dir)
            hits += case in flagged
            others += any(name != case for name in flagged)
            print(f"slowdown {slowdown:.0%} run {i}: exit {rc}, flagged {flagged}", flush=True)
        detections[f"{slowdown:.2f}"] = hits
        untouched[f"{slowdown:.2f}"] = others
    target.write_text(original)
    return detections, untouched


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--slowdowns", default="0.05,0.1,0.2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("ab-quality.json"))
    parser.add_argument("--skip-aa", action="store_true", help="only the injected slowdowns")
    parser.add_argument("--case", choices=sorted(CASES), default="upsample")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ab-quality-"))
    repo = work / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
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
    results: dict[str, object] = {"device": args.device, "runs": args.runs}
    results.update(wall_time_ratio(args, repo, work, ab))
    failures = []
    for i in range(0 if args.skip_aa else args.runs):
        rc, _, _ = timed([*ab, f"--out={work}/aa-{i}"], repo)
        failures.append(rc)
        print(f"A/A {i}: exit {rc}", flush=True)
    results["aa_exit_codes"] = failures
    flagged, untouched = injected_runs(args, repo, work, ab, results["case_median_s"])
    results["flagged_of_runs"] = flagged
    results["untouched_case_flagged_in_runs"] = untouched
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
