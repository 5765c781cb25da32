"""The ``unet-bench`` command line."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

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
