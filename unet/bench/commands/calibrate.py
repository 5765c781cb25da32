"""``unet-bench calibrate``: measure this machine's noise between processes of unchanged code,
per case, into the committed floors file that verdicts between runs read."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from unet.bench.commands.common import (
    add_blocks,
    add_device,
    add_floors,
    add_out,
    add_pytest_args,
    add_quick,
)
from unet.bench.errors import NOTHING_FOUND
from unet.bench.values import positive_int

DEFAULT_RUNS = 8


def add_parser(sub: argparse._SubParsersAction) -> None:
    from unet.bench.defaults import FLOOR_ALPHA, MIN_PROCESSES, UNSTABLE_LIMIT

    calibrate = sub.add_parser(
        "calibrate",
        help="measure the noise between processes of unchanged code: the floors verdicts use",
        description="Runs the working tree's suite in RUNS separate processes taking turns (as "
        "A/B's workers do) and records, per case and hardware key, the change between two "
        f"processes of the same code at a false-alarm rate of {FLOOR_ALPHA:g} per case, in "
        "the floors file that `unet-bench compare`, `unet-bench run` and --verdict read. A "
        f"case whose floor exceeds {UNSTABLE_LIMIT:.0%} is not gated on this machine. Other "
        "keys and cases not measured stay in the file. Arguments after -- go to pytest.",
    )
    calibrate.add_argument(
        "--runs",
        type=positive_int,
        default=DEFAULT_RUNS,
        help=f"processes of the same code (default {DEFAULT_RUNS}, at least {MIN_PROCESSES}; "
        "rounded up to whole generations of 4)",
    )
    add_device(calibrate)
    add_quick(calibrate)
    add_blocks(calibrate)
    add_floors(calibrate, "written")
    add_out(calibrate, "calibrate", "the workers' logs and results")
    add_pytest_args(calibrate)
    calibrate.set_defaults(handler=run, interrupted="its workers were stopped")


def run(args: argparse.Namespace) -> int:
    from unet.bench.ab.git import head_commit
    from unet.bench.calibrate import calibrate, generations_for
    from unet.bench.commands.common import ab_settings
    from unet.bench.errors import UsageError
    from unet.bench.output.render import floor_table
    from unet.bench.results.floors import DEFAULT_PATH, update_floors

    try:
        generations_for(args.runs)
    except ValueError as err:
        raise UsageError(str(err)) from None
    path = args.floors or DEFAULT_PATH
    # processes that time what a suite run times: the floors judge saved runs
    settings = replace(ab_settings(args, "calibrate"), rounds_share=1.0)
    commit = head_commit(settings.repo)
    found = calibrate(settings, args.runs, commit)
    print(floor_table(found.calibration.cases))
    replaced = update_floors(path, found.key, found.calibration)
    gated = sum(not f.unstable for f in found.calibration.cases.values())
    print(
        f"\nunet-bench calibrate: {len(found.calibration.cases)} cases ({gated} gated) from "
        f"{max(map(len, found.medians.values()), default=0)} processes in {found.seconds:.0f} s; "
        f"wrote {path} for {found.key}, {found.calibration.tier} tier"
        + (f" (replacing the floors of {len(replaced)} cases)" if replaced else ""),
        file=sys.stderr,
    )
    return NOTHING_FOUND
