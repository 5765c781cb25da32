"""The benchmark subcommands of ``unet-bench``: run, save-baseline, compare, report, ab
(explain lives in ``explain.py``).

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

from unet.bench.invoke import suite_command
from unet.bench.storage import DEFAULT_STORAGE

if TYPE_CHECKING:
    from unet.bench.runs import Run
    from unet.bench.verdict import Verdict


class UsageFailure(Exception):
    """A usage error: ``unet-bench`` prints it after the command's name and exits 4."""


def device_key(device_name: str, workers: int = 1) -> str:
    """The hardware key of ``--device``; UsageFailure for a device that cannot be used, or that
    cannot take the ``workers`` suites a command runs on it at once (A/B's paired workers)."""
    from unet.bench import hardware

    try:
        if workers > 1 and (why := hardware.exclusive_process_refusal(device_name, workers)):
            raise ValueError(why)
        device = hardware.resolve_device(device_name, touch=False)  # its suites use the GPU
        return hardware.hardware_key(hardware.hardware_info(device))
    except ValueError as err:  # unknown device, CUDA asked for without a GPU, a locked GPU
        raise UsageFailure(str(err)) from None


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

    key = device_key(args.device)
    root = storage_root(args.storage)
    if root is None:
        raise UsageFailure("--storage must be a folder")
    root = (Path.cwd() / root).resolve()
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
            *args.pytest_args,
        ],
    )
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
        save_baseline,
        unreadable,
    )

    key = device_key(args.device)
    run = args.run or _latest_local_run(args.device, args.storage)
    if run is None:
        raise UsageFailure(f"no local run for {key}; run `unet-bench run` first")
    why = unreadable(run)
    if why:
        raise UsageFailure(f"cannot use {run}: {why}")
    saved_key = json.loads(run.read_text()).get("machine_info", {}).get("unet_bench", {}).get("key")
    if saved_key != key:
        raise UsageFailure(
            f"{run} was recorded on {saved_key!r}, not on this machine's {key!r}; baselines "
            "are saved from the hardware they describe"
        )
    target = save_baseline(run, key)
    print(f"unet-bench: saved {run} as {target}; commit it to share the baseline")
    return 0


def compare_runs(
    base: Run, head: Run, min_effect: float
) -> tuple[list[Verdict], list[tuple[str, str, object, object]]]:
    """Verdicts and cost changes for every case present in both runs."""
    from unet.bench.runs import cost_changes_between, demote_throttled
    from unet.bench.verdict import Thresholds, compare_samples

    judged = [
        compare_samples(
            name, base.samples(name), head.samples(name), thresholds=Thresholds(min_effect)
        )
        for name in sorted(set(base.cases) & set(head.cases))
    ]
    verdicts = demote_throttled(judged, base, head)
    return verdicts, cost_changes_between(base, head)


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare two saved runs; exit 1 on a regression or a cost change."""
    from unet.bench.attribution import between_runs
    from unet.bench.axes import differing_axes, other_axes_message
    from unet.bench.hardware import differing_fields, other_hardware_message
    from unet.bench.render import attribution_table, cost_change_table, verdict_table
    from unet.bench.runs import RunError, load_run, require_samples
    from unet.bench.verdict import failed

    try:
        base, head = load_run(args.base), load_run(args.head)
        require_samples(base)
        require_samples(head)
    except RunError as err:
        raise UsageFailure(str(err)) from None
    diff = differing_fields(head.hardware, base.hardware)
    if diff and not args.allow_other_hardware:
        subject = "the runs come from different hardware"
        raise UsageFailure(other_hardware_message(subject, diff, ("base", "head")))
    other = differing_axes(head.hardware, base.hardware)
    if other and not args.allow_other_hardware:
        subject = "the runs measured different settings"
        raise UsageFailure(other_axes_message(subject, other, ("base", "head")))
    verdicts, changes = compare_runs(base, head, args.min_effect)
    print(verdict_table(verdicts, markdown=args.markdown))
    if changes:
        print("\nCost changes:\n" + cost_change_table(changes))
    regressions = failed(verdicts)
    for v in regressions:
        print(f"regression: {v.case} {v.change:+.1%} (p = {v.p_value:.2g})")
    flagged = {v.case: "confirmed regression" for v in regressions}
    flagged.update((case, "cost change") for case, *_ in changes if case not in flagged)
    for item in between_runs(base, head, flagged):
        print(f"\n{item.case} ({item.reason})")
        att = item.attribution
        print(attribution_table(att, args.markdown) if att else f"  not attributed: {item.note}")
        print(f"  repro: {item.repro}")
    return 1 if regressions or changes else 0


def _latest_local_run(device: str, storage: str) -> Path | None:
    from unet.bench.storage import keyed_storage, saved_runs, storage_root

    runs = saved_runs(
        keyed_storage(storage_root(storage) or Path(DEFAULT_STORAGE), device_key(device))
    )
    return runs[-1] if runs else None


def cmd_report(args: argparse.Namespace) -> int:
    """The study's tables and plots from a run: Markdown on stdout, files in --out."""
    from unet.bench.pareto import plot_pareto, variant_table
    from unet.bench.report import latency_table, plot_latency, study_tables
    from unet.bench.runs import RunError, load_run

    path = args.run or _latest_local_run(args.device, args.storage)
    if path is None:
        raise UsageFailure("no run of this hardware yet; run `unet-bench run` or name a run file")
    try:
        run = load_run(path)
    except RunError as err:
        raise UsageFailure(str(err)) from None
    choices = (
        "## Layer choices: cost against speed\n\nPer model variant: fvcore FLOPs, exact ATen "
        "operators per call and peak activation memory, median latency and the FLOP rate it "
        "achieves; ★ marks the Pareto front (no other variant is both cheaper and faster); "
        "pareto.png plots it.\n\n" + variant_table(run)
    )
    markdown = (
        f"# unet-bench report\n\nRun: `{path.name}`\n\n{study_tables(run)}\n{choices}\n"
        f"{latency_table(run)}"
    )
    for other in args.vs or []:  # the same cases measured under other axes
        markdown += f"\n## Against `{other.name}`\n\n{_side_by_side(run, other)}"
    print(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.md").write_text(markdown + "\n")
        files = [args.out / "report.md"]
        for plot, name in ((plot_latency, "latency.png"), (plot_pareto, "pareto.png")):
            try:
                files.append(plot(run, args.out / name))
            except ValueError as err:
                print(f"unet-bench report: no {name}: {err}", file=sys.stderr)
        print(f"unet-bench report: wrote {', '.join(map(str, files))}", file=sys.stderr)
    return 0


def _side_by_side(run: Run, path: Path) -> str:
    from unet.bench.hardware import differing_fields, other_hardware_message
    from unet.bench.runs import RunError, load_run
    from unet.bench.sidebyside import side_by_side

    try:
        other = load_run(path)
    except RunError as err:
        raise UsageFailure(str(err)) from None
    diff = differing_fields(run.hardware, other.hardware)
    if diff:  # other axes are the point here; other hardware is not
        raise UsageFailure(other_hardware_message(f"--vs {path}: other hardware", diff))
    return side_by_side(run, other)


def cmd_ab(args: argparse.Namespace) -> int:
    """Same-runner A/B of a base revision against the working tree."""
    import time

    from unet.bench.ab.runner import run_ab
    from unet.bench.ab.settings import PAIRED_WORKERS, ABError, ABSettings
    from unet.bench.ab.summary import ab_markdown
    from unet.bench.report import plot_ab
    from unet.bench.verdict import failed

    device_key(args.device, workers=2 * PAIRED_WORKERS)  # a usage error before anything starts
    out = args.out or Path(DEFAULT_STORAGE) / "ab" / time.strftime("%Y%m%d-%H%M%S")
    settings = ABSettings(
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
        result = run_ab(settings, args.base)  # checks the revision before creating ``out``
    except ABError as err:  # an unknown revision, or a side's suite that crashed
        raise UsageFailure(str(err)) from None
    except KeyboardInterrupt:
        print("unet-bench ab: interrupted; the base worktree was removed", file=sys.stderr)
        return 130
    markdown = ab_markdown(result, time.perf_counter() - started)
    print(markdown)
    (out / "ab.md").write_text(markdown + "\n")
    result.write_json(out / "ab.json")
    if result.verdicts:
        plot_ab(result.verdicts, out / "ab.png", f"A/B: {args.base} vs working tree")
    print(f"unet-bench ab: wrote {out}/ab.md, ab.json, ab.png", file=sys.stderr)
    return 1 if failed(result.verdicts) or result.cost_changes else 0
