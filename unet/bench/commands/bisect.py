"""``unet-bench bisect --good REV --bad REV``: the first commit at which cases got slower or
changed cost (``bisect.bisection`` runs it).

Exit 1 when it names a first bad commit (a regression found, as for every command), 0 when
nothing regressed between the ends; 2, 4 and 130 as for every command."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

from unet.bench.commands.common import (
    ab_settings,
    add_blocks,
    add_device,
    add_min_effect,
    add_out,
    add_pytest_args,
    add_quick,
)
from unet.bench.errors import FOUND, NOTHING_FOUND


def add_parser(sub: argparse._SubParsersAction) -> None:
    bisect = sub.add_parser(
        "bisect",
        help="the first commit between --good and --bad at which cases got slower or changed "
        "cost (paired A/B per step; costs exactly, first)",
        description="A first A/B of the two ends finds the cases that regress (or takes "
        "--case). Cost changes are bisected first, exactly, one pass per step; slowdowns then, "
        "each step a paired A/B against --good, unsure steps measured again with more rounds. "
        "Your working tree is never touched: every commit is measured in a temporary worktree. "
        "Exit 1 when a first bad commit is named, 0 when nothing regressed between the ends. "
        "Arguments after -- go to pytest.",
    )
    bisect.add_argument("--good", required=True, help="a revision without the regression")
    bisect.add_argument("--bad", required=True, help="a later revision with it")
    bisect.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="NAME",
        help="a case to bisect, full name or id (repeatable; default: the "
        "cases that regress between the ends)",
    )
    add_device(bisect)
    add_quick(bisect)
    add_blocks(bisect, "; an unsure step doubles them")
    add_min_effect(bisect)
    add_out(bisect, "bisect")
    add_pytest_args(bisect)
    bisect.set_defaults(handler=run, interrupted="the worktrees were removed")


def run(args: argparse.Namespace) -> int:
    from unet.bench.bisect import bisection
    from unet.bench.bisect.report import markdown

    settings = replace(ab_settings(args, "bisect"), acknowledge=False)
    out = settings.out
    started = time.perf_counter()
    b = bisection.run(settings, args.good, args.bad, args.case)
    text = markdown(b, time.perf_counter() - started)
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bisect.md").write_text(text + "\n")
    (out / "bisect.json").write_text(json.dumps(b.to_dict(), indent=2))
    print(f"unet-bench bisect: wrote {out}/bisect.md, bisect.json", file=sys.stderr)
    return FOUND if b.found else NOTHING_FOUND
