"""The benchmark subcommands of ``unet-bench``: run, save-baseline, compare, report, ab.

Each takes the parsed arguments and returns the exit code: 0 pass, 1 regression or cost change,
4 usage error (pytest's codes), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unet.bench.runs import Run
    from unet.bench.verdict import Verdict


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
