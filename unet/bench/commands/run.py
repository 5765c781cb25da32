"""``unet-bench run``: the main job. Run the suite on the chosen device, save the run under the
hardware key, and judge it against the previous run of that key (or the committed baseline):
--verdict, whose suspects a paired A/B or the calibrated floors must confirm."""

from __future__ import annotations

import argparse
import subprocess
import sys

from unet.bench.commands.common import add_device, add_pytest_args, add_quick, add_storage
from unet.bench.errors import from_pytest


def add_parser(sub: argparse._SubParsersAction) -> None:
    run_ = sub.add_parser(
        "run",
        help="run the benchmark suite, save it under this hardware's key, compare with the last",
        description="Runs pytest benchmarks on the chosen device, saves the run under the "
        "hardware key and judges it against the previous run of that key (or the committed "
        "baseline): a suspected regression counts only once a paired A/B against that run's "
        "commit confirms it, or it exceeds the calibrated noise floor (unet-bench calibrate); "
        "exit 1 on a confirmed regression or a cost change. Arguments after -- go to pytest, "
        "e.g. -- --benchmark-compare-fail=median:10%",
    )
    run_.add_argument(
        "--no-verdict",
        action="store_true",
        help="only compare (pytest-benchmark's table) without judging: exit 0 unless a cost "
        "changed or a case failed",
    )
    add_device(run_)
    add_quick(run_)
    add_storage(run_)
    add_pytest_args(run_)
    run_.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from unet.bench.commands.common import device_key
    from unet.bench.invoke import suite_command
    from unet.bench.results.storage import (
        BENCHMARKS_DIR,
        REPO_ROOT,
        committed_baselines,
        keyed_storage,
        saved_runs,
    )

    key = device_key(args.device)
    root = args.storage.resolve()
    folder = keyed_storage(root, key)
    before = saved_runs(folder)
    previous = before[-1:] or committed_baselines(key)[-1:]
    argv = suite_command(
        [str(BENCHMARKS_DIR)],
        device=args.device,
        storage=root,
        quick=args.quick,
        options=[
            "--benchmark-autosave",
            "--benchmark-save-data",  # raw samples, for noise-aware comparison
            *(["--benchmark-compare"] if previous else []),
            *(["--verdict"] if previous and not args.no_verdict else []),
            *args.pytest_args,
        ],
    )
    print(f"unet-bench: hardware key {key}")
    if previous:
        print(f"unet-bench: comparing against {previous[0]}")
    else:
        print("unet-bench: no earlier run for this hardware; this run becomes its baseline")
    sys.stdout.flush()
    code = subprocess.call(argv, cwd=REPO_ROOT)
    after = [p for p in saved_runs(folder) if p not in before]
    if after:
        label = "recorded the first run (baseline)" if not previous else "saved this run"
        print(f"unet-bench: {label} for {key}: {after[-1]}")
    if code == 2:  # the suite was interrupted: so is the command
        raise KeyboardInterrupt
    return from_pytest(code)
