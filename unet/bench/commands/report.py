"""``unet-bench report``: the study's tables and plots from a run, Markdown on stdout, files in
``--out``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from unet.bench.commands.common import add_device, add_storage
from unet.bench.errors import UsageError

if TYPE_CHECKING:
    from unet.bench.results.runs import Run


def add_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report",
        help="the study's three tables from a run, beside the article's figures (Markdown), "
        "and a latency plot",
    )
    report.add_argument("run", type=Path, nargs="?", help="a run file (default: the latest)")
    report.add_argument(
        "--out", type=Path, help="also write report.md, latency.png and pareto.png here"
    )
    add_device(report, "whose latest run")
    report.add_argument(
        "--vs",
        type=Path,
        action="append",
        metavar="RUN",
        help="another run of the same hardware with other axes (e.g. --compile, --mode train): "
        "its cases side by side with this run's (repeatable)",
    )
    add_storage(report)
    report.set_defaults(handler=run)


def _load(path: Path) -> Run:
    from unet.bench.results.runs import RunError, load_run

    try:
        return load_run(path)
    except RunError as err:
        raise UsageError(str(err)) from None


def _side_by_side(run_: Run, path: Path) -> str:
    from unet.bench.measure.hardware import differing_fields, other_hardware_message
    from unet.bench.output.sidebyside import side_by_side

    other = _load(path)
    diff = differing_fields(run_.hardware, other.hardware)
    if diff:  # other axes are the point here; other hardware is not
        raise UsageError(other_hardware_message(f"--vs {path}: other hardware", diff))
    return side_by_side(run_, other)


def run(args: argparse.Namespace) -> int:
    from unet.bench.commands.save_baseline import latest_local_run
    from unet.bench.output.pareto import plot_pareto, variant_table
    from unet.bench.output.report import capacity_table, latency_table, plot_latency, study_tables

    path = args.run or latest_local_run(args.device, args.storage)
    if path is None:
        raise UsageError("no run of this hardware yet; run `unet-bench run` or name a run file")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: is a file; name a folder")
    run_ = _load(path)
    choices = (
        "## Layer choices: cost against speed\n\nPer model variant: fvcore FLOPs, exact ATen "
        "operators per call and peak activation memory, median latency and the FLOP rate it "
        "achieves; ★ marks the Pareto front (no other variant is both cheaper and faster); "
        "pareto.png plots it.\n\n" + variant_table(run_)
    )
    markdown = (
        f"# unet-bench report\n\nRun: `{path.name}`\n\n{study_tables(run_)}\n"
        f"{capacity_table(run_)}\n{choices}\n{latency_table(run_)}"
    )
    for other in args.vs or []:  # the same cases measured under other axes
        markdown += f"\n## Against `{other.name}`\n\n{_side_by_side(run_, other)}"
    print(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(markdown + "\n")
        files = [args.out / "report.md"]
        for plot, name in ((plot_latency, "latency.png"), (plot_pareto, "pareto.png")):
            try:
                files.append(plot(run_, args.out / name))
            except ValueError as err:
                print(f"unet-bench report: no {name}: {err}", file=sys.stderr)
        print(f"unet-bench report: wrote {', '.join(map(str, files))}", file=sys.stderr)
    return 0
