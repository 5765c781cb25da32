"""Measure the verdicts between runs on this machine (a measurement, not a test; issue 20).

On a throwaway clone of HEAD (the checkout is never touched):
1. ``--runs`` consecutive ``unet-bench run`` of unchanged code (what ``make bench`` runs): each
   after the first judges against the one before; its exit code and confirmed regressions;
2. ``unet-bench compare`` of each consecutive pair of those saved runs;
3. one more run after a source change that busy-waits ``--delay-ms`` before every
   interpolating up block (the ``up=interpolate`` cases): which cases it confirms
   (``--delay-ms 0`` leaves it out).

Usage: python scripts/verdict_quality.py [--runs 6] [--quick] [--device auto] [--delay-ms 2]
       [--out verdict-quality.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# appended to unet/layers.py: every interpolating up block busy-waits first (work-like time)
DELAY = """

import time as _time


def _delayed_forward(self, x, _forward=InterpolateConv.forward):
    end = _time.perf_counter() + {seconds!r}
    while _time.perf_counter() < end:
        pass
    return _forward(self, x)


InterpolateConv.forward = _delayed_forward
"""


def run_once(clone: Path, args: argparse.Namespace, label: str, logs: Path) -> dict:
    command = [sys.executable, "-m", "unet.cli", "run", f"--device={args.device}"]
    command += ["--quick"] if args.quick else []
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=clone, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    said = proc.stdout + proc.stderr
    (logs / f"{label}.log").write_text(said)
    found = re.findall(r"unet-bench: confirmed regression in (.+)", said)
    summary = re.findall(r"^verdicts: .*$", said, re.M)
    improved = re.findall(r"^  improvement: (\S+)", said, re.M)
    print(f"{label}: exit {proc.returncode}, {seconds:.0f} s, {summary[-1:] or 'no verdict'}")
    return {
        "label": label,
        "exit": proc.returncode,
        "seconds": round(seconds, 1),
        "confirmed": found[-1].split(", ") if found else [],
        "improvements": improved,
        "summary": summary[-1] if summary else None,
        "paired_confirmations": said.count("paired A/B against"),
    }


def compare(clone: Path, base: Path, head: Path) -> dict:
    command = [sys.executable, "-m", "unet.cli", "compare", str(base), str(head)]
    proc = subprocess.run(command, cwd=clone, capture_output=True, text=True)
    summary = re.findall(r"^verdicts: .*$", proc.stdout, re.M)
    regressions = re.findall(r"^  regression: (\S+)", proc.stdout, re.M)
    improvements = re.findall(r"^  improvement: (\S+)", proc.stdout, re.M)
    print(f"compare {base.name} {head.name}: exit {proc.returncode}, {summary[-1:]}")
    return {
        "exit": proc.returncode,
        "regressions": regressions,
        "improvements": improvements,
        "summary": summary[-1:],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--delay-ms", type=float, default=2.0)
    parser.add_argument("--out", type=Path, default=Path("verdict-quality.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="verdict-quality-"))
    clone, logs = work / "repo", work / "logs"
    logs.mkdir()
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    results: dict[str, object] = {"quick": args.quick, "device": args.device, "work": str(work)}
    results["unchanged"] = [run_once(clone, args, f"run-{i}", logs) for i in range(args.runs)]
    saved = sorted((clone / ".benchmarks").glob("*/*/*.json"))  # key / machine / run
    results["compare"] = [compare(clone, a, b) for a, b in itertools.pairwise(saved)]
    if args.delay_ms > 0:  # 0: only the unchanged runs
        layers = clone / "unet" / "layers.py"
        layers.write_text(layers.read_text() + DELAY.format(seconds=args.delay_ms / 1e3))
        results["delayed_interpolate"] = run_once(clone, args, "delayed", logs)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
