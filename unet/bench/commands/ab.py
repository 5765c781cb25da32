"""``unet-bench ab --base REV``: same-runner A/B of a base revision against the working tree."""

from __future__ import annotations

import argparse
import sys
import time

from unet.bench.commands.common import (
    ab_settings,
    add_blocks,
    add_device,
    add_floors,
    add_gate_on,
    add_min_effect,
    add_out,
    add_pytest_args,
    add_quick,
)
from unet.bench.errors import FOUND, NOTHING_FOUND


def add_parser(sub: argparse._SubParsersAction) -> None:
    ab = sub.add_parser(
        "ab",
        help="same-runner A/B: a base revision vs the working tree, interleaved, with verdicts",
        description="Checks out BASE in a temporary git worktree, runs its suite and the "
        "working tree's in alternating round blocks on this machine, in generations of fresh "
        "processes until each case is settled, prints the verdict table (Markdown) and writes "
        "ab.md, ab.json, ab.png. "
        "Exit 1 on a confirmed regression or a cost change. Arguments after -- go to pytest.",
    )
    ab.add_argument("--base", required=True, help="git revision to compare against, e.g. main")
    add_device(ab)
    add_quick(ab)
    add_blocks(ab)
    add_min_effect(ab)
    add_gate_on(ab)
    ab.add_argument(
        "--confirm",
        action="store_true",
        help="confirm suspected changes only: a case whose estimate is below --min-effect takes "
        "no more generations to settle 'no change' (stays unsure); --verdict's paired "
        "confirmation uses it",
    )
    add_floors(ab)
    add_out(ab, "ab")
    add_pytest_args(ab)
    ab.set_defaults(handler=run, interrupted="the base worktree was removed")


def run(args: argparse.Namespace) -> int:
    from unet.bench.ab.runner import run_ab
    from unet.bench.ab.summary import ab_markdown
    from unet.bench.output.report import plot_ab
    from unet.bench.stats.verdict import failed

    settings = ab_settings(args, "ab")
    out = settings.out
    started = time.perf_counter()
    result = run_ab(settings, args.base)  # checks the revision before creating ``out``
    markdown = ab_markdown(result, time.perf_counter() - started)
    print(markdown)
    (out / "ab.md").write_text(markdown + "\n")
    result.write_json(out / "ab.json")
    if result.verdicts:
        plot_ab(result.verdicts, out / "ab.png", f"A/B: {args.base} vs working tree")
    print(f"unet-bench ab: wrote {out}/ab.md, ab.json, ab.png", file=sys.stderr)
    return FOUND if failed(result.verdicts) or result.cost_changes else NOTHING_FOUND
