"""The ``unet-bench`` command line: argument parsing, and the ``costs`` table."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from unet.bench.ab.worker import DEFAULT_BLOCKS
from unet.bench.bisect import command as bisect_command
from unet.bench.commands import (
    UsageFailure,
    cmd_ab,
    cmd_compare,
    cmd_report,
    cmd_run,
    cmd_save_baseline,
)
from unet.bench.explain import cmd_explain
from unet.bench.history import command as history_command
from unet.bench.options import min_effect, positive_int
from unet.bench.render import mib, numeric_columns, table
from unet.bench.storage import DEFAULT_STORAGE
from unet.bench.verdict import MIN_EFFECT
from unet.config import list_variants


def cmd_costs(args: argparse.Namespace) -> int:
    from unet.costs import cost_table  # imports fvcore/torchinfo only when needed

    try:
        configs = list_variants(input_size=args.input_size)
    except (TypeError, ValueError) as err:
        print(f"unet-bench costs: {err}", file=sys.stderr)
        return 2
    from unet.bench.counters import model_counts

    rows = cost_table(configs, batch_size=args.batch_size)
    for config, row in zip(configs, rows, strict=True):
        counts = model_counts(config, args.batch_size)
        row.update(counts.as_extra("cpu/float32"))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Cost of every variant, batch {args.batch_size}, 3x{args.input_size}x{args.input_size} "
        "input. flops: fvcore, 1 multiply-add = 1 flop; mult_adds: the study's (torchinfo) "
        "convention; unsupported_ops: left out of flops; ops: ATen operators per call; "
        "peak act: activation memory at its peak (exact counters, CPU float32)."
    )
    columns = ["variant", "params", "flops", "mult_adds", "ops", "peak act", "unsupported_ops"]
    cells = [[r[c] for c in columns[:4]] for r in rows]
    for cell, r in zip(cells, rows, strict=True):
        cell += [r["total_ops"], mib(r["peak_activation_bytes"]), r["unsupported_ops"]]
    print(table(columns, cells, right=numeric_columns(cells, len(columns))))
    return 0


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage", default=DEFAULT_STORAGE, help=f"local run folder ({DEFAULT_STORAGE})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unet-bench", description="What each U-Net layer choice costs in latency and FLOPs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (
        _add_costs,
        _add_run,
        _add_compare,
        _add_report,
        _add_ab,
        _add_explain,
        _add_save_baseline,
        history_command.add_parser,
        bisect_command.add_parser,
    ):
        add(sub)
    return parser


def _add_costs(sub: argparse._SubParsersAction) -> None:
    costs = sub.add_parser("costs", help="print params, FLOPs and mult-adds of every variant")
    costs.add_argument("--batch-size", type=positive_int, default=1, help="batch (default 1)")
    costs.add_argument("--input-size", type=positive_int, default=64, help="H = W (default 64)")
    costs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    costs.set_defaults(func=cmd_costs)


def _add_run(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "run",
        help="run the benchmark suite, save it under this hardware's key, compare with the last",
        description="Runs pytest benchmarks on the chosen device, saves the run under the "
        "hardware key and compares it with the previous run of that key (or the committed "
        "baseline). Arguments after -- go to pytest, e.g. -- --benchmark-compare-fail=median:10%%",
    )
    run.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    run.add_argument("--quick", action="store_true", help="the quick tier (CPU CI)")
    add_storage(run)
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    run.set_defaults(func=cmd_run)


def _add_compare(sub: argparse._SubParsersAction) -> None:
    compare = sub.add_parser(
        "compare",
        help="noise-aware comparison of two saved runs (exit 1 on a regression or cost change)",
        description="Compares two pytest-benchmark run files recorded with raw samples "
        "(--benchmark-save-data or --benchmark-json) with a Mann-Whitney U test and a minimum "
        "effect. Saved runs cannot be re-measured, so a regression here is final; the A/B mode "
        "(unet-bench ab) re-measures before failing.",
    )
    compare.add_argument("base", type=Path, help="the reference run file")
    compare.add_argument("head", type=Path, help="the run to judge")
    compare.add_argument(
        "--min-effect", type=min_effect, default=MIN_EFFECT, help="default 0.03 (3 %%), >= 0"
    )
    compare.add_argument("--markdown", action="store_true", help="print a Markdown table")
    compare.add_argument("--allow-other-hardware", action="store_true")
    compare.set_defaults(func=cmd_compare)


def _add_report(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report",
        help="the study's three tables from a run, beside the article's figures (Markdown), "
        "and a latency plot",
    )
    report.add_argument("run", type=Path, nargs="?", help="a run file (default: the latest)")
    report.add_argument("--out", type=Path, help="also write report.md and latency.png here")
    report.add_argument("--device", default="auto", help="whose latest run (default auto)")
    report.add_argument(
        "--vs",
        type=Path,
        action="append",
        metavar="RUN",
        help="another run of the same hardware with other axes (e.g. --compile, --mode train): "
        "its cases side by side with this run's (repeatable)",
    )
    add_storage(report)
    report.set_defaults(func=cmd_report)


def _add_ab(sub: argparse._SubParsersAction) -> None:
    ab = sub.add_parser(
        "ab",
        help="same-runner A/B: a base revision vs the working tree, interleaved, with verdicts",
        description="Checks out BASE in a temporary git worktree, runs its suite and the "
        "working tree's in alternating round blocks on this machine, re-measures suspected "
        "regressions, prints the verdict table (Markdown) and writes ab.md, ab.json, ab.png. "
        "Exit 1 on a confirmed regression or a cost change. Arguments after -- go to pytest.",
    )
    ab.add_argument("--base", required=True, help="git revision to compare against, e.g. main")
    ab.add_argument("--device", default="auto", help="auto (default), cpu, cuda")
    ab.add_argument("--quick", action="store_true", help="the quick tier")
    ab.add_argument(
        "--blocks",
        type=positive_int,
        default=DEFAULT_BLOCKS,
        help=f"round blocks per case and side, base and head alternating ({DEFAULT_BLOCKS})",
    )
    ab.add_argument(
        "--min-effect", type=min_effect, default=MIN_EFFECT, help="default 0.03 (3 %%), >= 0"
    )
    ab.add_argument("--out", type=Path, help="output folder (default .benchmarks/ab/<time>)")
    ab.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    ab.set_defaults(func=cmd_ab)


def _add_save_baseline(sub: argparse._SubParsersAction) -> None:
    save = sub.add_parser(
        "save-baseline",
        help="copy the latest local run into benchmarks/baselines/<key>/ for committing",
    )
    save.add_argument("--device", default="auto", help="whose run: auto (default), cpu, cuda")
    save.add_argument("--run", type=Path, default=None, help="a run file (default: the latest)")
    add_storage(save)
    save.set_defaults(func=cmd_save_baseline)


def _add_explain(sub: argparse._SubParsersAction) -> None:
    explain = sub.add_parser(
        "explain",
        help="attribute one case's time to operators (torch.profiler); with --base, what "
        "changed against a revision, both sides profiled in turns",
    )
    explain.add_argument(
        "case", help="a case as the suite names it: 'test_model[conv=...-bs=1]' or its id alone"
    )
    explain.add_argument("--base", help="git revision to compare the working tree against")
    explain.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    explain.add_argument(
        "--turns", type=positive_int, default=2, help="profiling processes per side (default 2)"
    )
    explain.add_argument(
        "--out", type=Path, help="output folder (default .benchmarks/explain/<time>)"
    )
    explain.set_defaults(func=cmd_explain)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch  # after parsing: --help needs no torch

    from unet import torchcompat

    if problem := torchcompat.version_problem(torch.__version__):
        print(f"unet-bench {args.command}: {problem}", file=sys.stderr)
        return 4
    try:
        return int(args.func(args))
    except UsageFailure as err:  # pytest's code for usage errors, and no traceback
        print(f"unet-bench {args.command}: {err}", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
