"""The ``unet-bench`` command line."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unet.bench.runs import Run
    from unet.bench.verdict import Verdict

from unet.config import list_variants


def format_table(rows: list[dict[str, object]], columns: Sequence[str]) -> str:
    """Plain fixed-width table; numbers right-aligned with thousands separators."""

    def cell(v: object) -> str:
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, (list, tuple)):
            return ", ".join(map(str, v)) or "-"
        return str(v)

    cells = [[cell(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[c], int) for r in rows) for c in columns]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def cmd_costs(args: argparse.Namespace) -> int:
    from unet.costs import cost_table  # imports fvcore/torchinfo only when needed

    try:
        configs = list_variants(input_size=args.input_size)
    except (TypeError, ValueError) as err:
        print(f"unet-bench costs: {err}", file=sys.stderr)
        return 2
    rows = cost_table(configs, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Cost of every variant, batch {args.batch_size}, 3x{args.input_size}x{args.input_size} "
        "input. flops: fvcore, 1 multiply-add = 1 flop; mult_adds: the study's (torchinfo) "
        "convention; unsupported_ops: left out of flops."
    )
    print(format_table(rows, ["variant", "params", "flops", "mult_adds", "unsupported_ops"]))
    return 0


def _hardware_key(device_name: str) -> str:
    from unet.bench.hardware import hardware_info, hardware_key, resolve_device

    return hardware_key(hardware_info(resolve_device(device_name)))


def cmd_run(args: argparse.Namespace) -> int:
    """The main job: run the suite, save under the hardware key, compare with the last run."""
    from unet.bench.storage import (
        BENCHMARKS_DIR,
        REPO_ROOT,
        committed_baselines,
        keyed_storage,
        saved_runs,
        storage_root,
    )

    try:
        key = _hardware_key(args.device)
    except ValueError as err:
        print(f"unet-bench run: {err}", file=sys.stderr)
        return 4
    root = storage_root(args.storage)
    if root is None:
        print("unet-bench run: --storage must be a folder", file=sys.stderr)
        return 4
    root = (Path.cwd() / root).resolve()
    folder = keyed_storage(root, key)
    before = saved_runs(folder)
    previous = before[-1:] or committed_baselines(key)[-1:]
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(BENCHMARKS_DIR),
        "-p",
        "no:cacheprovider",
        f"--device={args.device}",
        f"--benchmark-storage=file://{root}",
        "--benchmark-autosave",
        "--benchmark-save-data",  # raw samples, for noise-aware comparison
        *(["--quick"] if args.quick else []),
        *(["--benchmark-compare"] if previous else []),
        *args.pytest_args,
    ]
    print(f"unet-bench: hardware key {key}")
    if previous:
        print(f"unet-bench: comparing against {previous[0]}")
    else:
        print("unet-bench: no earlier run for this hardware; this run becomes its baseline")
    sys.stdout.flush()
    rc = subprocess.call(argv, cwd=REPO_ROOT)
    after = [p for p in saved_runs(folder) if p not in before]
    if after:
        label = "recorded the first run (baseline)" if not previous else "saved this run"
        print(f"unet-bench: {label} for {key}: {after[-1]}")
    return rc


def cmd_save_baseline(args: argparse.Namespace) -> int:
    """Copy a local run into benchmarks/baselines/<key>/ to be committed."""
    from unet.bench.storage import (
        keyed_storage,
        save_baseline,
        saved_runs,
        storage_root,
        unreadable,
    )

    try:
        key = _hardware_key(args.device)
    except ValueError as err:
        print(f"unet-bench save-baseline: {err}", file=sys.stderr)
        return 4
    if args.run is not None:
        run = args.run
    else:
        runs = saved_runs(keyed_storage(storage_root(args.storage) or Path(".benchmarks"), key))
        if not runs:
            print(
                f"unet-bench save-baseline: no local run for {key}; run `unet-bench run` first",
                file=sys.stderr,
            )
            return 4
        run = runs[-1]
    why = unreadable(run)
    if why:
        print(f"unet-bench save-baseline: cannot use {run}: {why}", file=sys.stderr)
        return 4
    saved_key = json.loads(run.read_text()).get("machine_info", {}).get("unet_bench", {}).get("key")
    if saved_key != key:
        print(
            f"unet-bench save-baseline: {run} was recorded on {saved_key!r}, not on this "
            f"machine's {key!r}; baselines are saved from the hardware they describe",
            file=sys.stderr,
        )
        return 4
    target = save_baseline(run, key)
    print(f"unet-bench: saved {run} as {target}; commit it to share the baseline")
    return 0


def compare_runs(
    base: Run, head: Run, min_effect: float
) -> tuple[list[Verdict], list[tuple[str, str, object, object]]]:
    """Verdicts and cost changes for every case present in both runs."""
    from unet.bench.manifest import COST_FIELDS, cost_changes
    from unet.bench.verdict import compare_samples

    verdicts, changes = [], []
    for name in sorted(set(base.cases) & set(head.cases)):
        verdicts.append(
            compare_samples(name, base.samples(name), head.samples(name), min_effect=min_effect)
        )
        old, new = base.cases[name]["extra_info"], head.cases[name]["extra_info"]
        if all(f in old and f in new for f in COST_FIELDS):
            changes += [(name, *c) for c in cost_changes(old, new)]
    return verdicts, changes


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two saved runs; exit 1 on a regression or a cost change."""
    from unet.bench.hardware import differing_fields
    from unet.bench.manifest import format_changes
    from unet.bench.runs import RunError, load_run, require_samples
    from unet.bench.verdict import failed, format_verdicts

    try:
        base, head = load_run(args.base), load_run(args.head)
        require_samples(base)
        require_samples(head)
    except RunError as err:
        print(f"unet-bench compare: {err}", file=sys.stderr)
        return 4
    diff = differing_fields(head.hardware, base.hardware)
    if diff and not args.allow_other_hardware:
        fields = "; ".join(f"{f}: base {b!r}, head {h!r}" for f, (b, h) in diff.items())
        print(
            f"unet-bench compare: the runs come from different hardware ({fields}); their "
            "latencies are not comparable. Pass --allow-other-hardware to compare anyway.",
            file=sys.stderr,
        )
        return 4
    verdicts, changes = compare_runs(base, head, args.min_effect)
    print(format_verdicts(verdicts, markdown=args.markdown))
    if changes:
        print("\nCost changes:\n" + format_changes(changes))
    regressions = failed(verdicts)
    for v in regressions:
        print(f"regression: {v.case} {v.change:+.1%} (p = {v.p_value:.2g})")
    return 1 if regressions or changes else 0


def _latest_local_run(device: str, storage: str) -> Path | None:
    from unet.bench.storage import keyed_storage, saved_runs, storage_root

    runs = saved_runs(
        keyed_storage(storage_root(storage) or Path(".benchmarks"), _hardware_key(device))
    )
    return runs[-1] if runs else None


def cmd_report(args: argparse.Namespace) -> int:
    """The study's tables and plots from a run: Markdown on stdout, files in --out."""
    from unet.bench.report import latency_table, plot_latency, study_tables
    from unet.bench.runs import RunError, load_run

    try:
        path = args.run or _latest_local_run(args.device, args.storage)
    except ValueError as err:
        print(f"unet-bench report: {err}", file=sys.stderr)
        return 4
    if path is None:
        print("unet-bench report: no run of this hardware yet; run `unet-bench run` first or "
              "name a run file", file=sys.stderr)  # fmt: skip
        return 4
    try:
        run = load_run(path)
    except RunError as err:
        print(f"unet-bench report: {err}", file=sys.stderr)
        return 4
    markdown = (
        f"# unet-bench report\n\nRun: `{path.name}`\n\n{study_tables(run)}\n{latency_table(run)}"
    )
    print(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(markdown + "\n")
        files = [args.out / "report.md"]
        try:
            files.append(plot_latency(run, args.out / "latency.png"))
        except ValueError as err:
            print(f"unet-bench report: no latency plot: {err}", file=sys.stderr)
        print(f"unet-bench report: wrote {', '.join(map(str, files))}", file=sys.stderr)
    return 0


def cmd_ab(args: argparse.Namespace) -> int:
    """Same-runner A/B of a base revision against the working tree."""
    import time

    from unet.bench.ab import ABError, ABRunner
    from unet.bench.manifest import format_changes
    from unet.bench.report import plot_ab
    from unet.bench.verdict import failed, format_verdicts

    out = args.out or Path(".benchmarks") / "ab" / time.strftime("%Y%m%d-%H%M%S")
    runner = ABRunner(
        repo=Path.cwd(),
        out=out.resolve(),
        device=args.device,
        quick=args.quick,
        blocks=args.blocks,
        min_effect=args.min_effect,
        pytest_args=args.pytest_args,
    )
    started = time.perf_counter()
    try:
        result = runner.run(args.base)
    except ABError as err:
        print(f"unet-bench ab: {err}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("unet-bench ab: interrupted; the base worktree was removed", file=sys.stderr)
        return 130
    table = format_verdicts(result.verdicts, markdown=True)
    lines = [f"## A/B: {args.base} (base) vs working tree (head)", "", table, ""]
    if result.reruns:
        lines += [f"Re-measured to confirm: {', '.join(result.reruns)}", ""]
    if result.unmatched:
        lines += [f"Timed on one side only (new, removed or failing): "
                  f"{', '.join(result.unmatched)}", ""]  # fmt: skip
    if result.cost_changes:
        lines += ["### Cost changes", "", "```", format_changes(result.cost_changes), "```", ""]
    regressions = failed(result.verdicts)
    lines.append(
        f"**{len(regressions)} confirmed regression(s)**, {len(result.cost_changes)} cost "
        f"change(s); {time.perf_counter() - started:.0f} s wall."
    )
    markdown = "\n".join(lines)
    print(markdown)
    (out / "ab.md").write_text(markdown + "\n")
    (out / "ab.json").write_text(json.dumps(
        {"base": args.base, "verdicts": [v.as_dict() for v in result.verdicts],
         "cost_changes": result.cost_changes}, indent=2, default=str))  # fmt: skip
    if result.verdicts:
        plot_ab(result.verdicts, out / "ab.png", f"A/B: {args.base} vs working tree")
    print(f"unet-bench ab: wrote {out}/ab.md, ab.json, ab.png", file=sys.stderr)
    return 1 if regressions or result.cost_changes else 0


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unet-bench", description="What each U-Net layer choice costs in latency and FLOPs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    costs = sub.add_parser("costs", help="print params, FLOPs and mult-adds of every variant")
    costs.add_argument("--batch-size", type=positive_int, default=1, help="batch (default 1)")
    costs.add_argument("--input-size", type=positive_int, default=64, help="H = W (default 64)")
    costs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    costs.set_defaults(func=cmd_costs)

    run = sub.add_parser(
        "run",
        help="run the benchmark suite, save it under this hardware's key, compare with the last",
        description="Runs pytest benchmarks on the chosen device, saves the run under the "
        "hardware key and compares it with the previous run of that key (or the committed "
        "baseline). Arguments after -- go to pytest, e.g. -- --benchmark-compare-fail=median:10%%",
    )
    run.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N")
    run.add_argument("--quick", action="store_true", help="the quick tier (CPU CI)")
    run.add_argument("--storage", default=".benchmarks", help="local run folder (.benchmarks)")
    run.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    run.set_defaults(func=cmd_run)

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
    compare.add_argument("--min-effect", type=float, default=0.03, help="default 0.03 (3 %%)")
    compare.add_argument("--markdown", action="store_true", help="print a Markdown table")
    compare.add_argument("--allow-other-hardware", action="store_true")
    compare.set_defaults(func=cmd_compare)

    report = sub.add_parser(
        "report",
        help="the study's three tables from a run, beside the article's figures (Markdown), "
        "and a latency plot",
    )
    report.add_argument("run", type=Path, nargs="?", help="a run file (default: the latest)")
    report.add_argument("--out", type=Path, help="also write report.md and latency.png here")
    report.add_argument("--device", default="auto", help="whose latest run (default auto)")
    report.add_argument("--storage", default=".benchmarks", help="local run folder (.benchmarks)")
    report.set_defaults(func=cmd_report)

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
    ab.add_argument("--blocks", type=positive_int, default=2, help="round blocks per side (2)")
    ab.add_argument("--min-effect", type=float, default=0.03, help="default 0.03 (3 %%)")
    ab.add_argument("--out", type=Path, help="output folder (default .benchmarks/ab/<time>)")
    ab.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    ab.set_defaults(func=cmd_ab)

    save = sub.add_parser(
        "save-baseline",
        help="copy the latest local run into benchmarks/baselines/<key>/ for committing",
    )
    save.add_argument("--device", default="auto", help="whose run: auto (default), cpu, cuda")
    save.add_argument("--run", type=Path, default=None, help="a run file (default: the latest)")
    save.add_argument("--storage", default=".benchmarks", help="local run folder (.benchmarks)")
    save.set_defaults(func=cmd_save_baseline)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
