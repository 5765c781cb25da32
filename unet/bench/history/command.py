"""``unet-bench history``: the saved runs of one hardware key as a page, PNGs and a summary.

``add_parser`` declares the arguments; ``run`` does the work and can be called from code."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path

from unet.bench.history.findings import all_findings
from unet.bench.history.page import render_page
from unet.bench.history.plots import markdown_summary, plot_group, slug
from unet.bench.history.series import HistoryError, load_history, run_files
from unet.bench.options import min_effect
from unet.bench.storage import DEFAULT_STORAGE, committed_baselines, keyed_storage, unreadable
from unet.bench.verdict import MIN_EFFECT


def add_parser(sub: argparse._SubParsersAction) -> None:
    history = sub.add_parser(
        "history",
        help="the saved runs of one hardware key in commit order: steps, creeps and exact "
        "cost changes, as an HTML page, PNGs and Markdown",
        description="Reads pytest-benchmark run files (default: this machine's local runs and "
        "committed baselines; or files and folders, e.g. CI artifacts, searched recursively), "
        "keeps those of one hardware key, pools runs of the same commit and detects where each "
        "case's median stepped or crept. Writes index.html (works from the file), one PNG per "
        "group, history.md and history.json.",
    )
    history.add_argument("sources", type=Path, nargs="*", help="run files or folders")
    history.add_argument(
        "--key",
        help="hardware key (default: the sources' one key, else "
        "this machine's); 'all': a page per key found, and an index",
    )
    history.add_argument("--device", default="auto", help="whose key by default (auto)")
    history.add_argument("--storage", default=DEFAULT_STORAGE, help="local run folder")
    history.add_argument("--out", type=Path, help="output folder (.benchmarks/history/<key>)")
    history.add_argument(
        "--min-effect", type=min_effect, default=MIN_EFFECT, help="smallest step (0.03)"
    )
    history.set_defaults(func=cmd_history)


ALL = "all"


def by_key(files: Sequence[Path]) -> dict[str, list[Path]]:
    """The run files of each hardware key ("?" for run files without one)."""
    keys: dict[str, list[Path]] = {}
    for path in files:
        if unreadable(path) is None:
            data = json.loads(path.read_text())
            key = data.get("machine_info", {}).get("unet_bench", {}).get("key", "?")
            keys.setdefault(key, []).append(path)
    return keys


def cmd_history(args: argparse.Namespace) -> int:
    from unet.bench.commands import UsageFailure, device_key

    try:
        if args.sources:
            files = run_files(args.sources)
            keys = by_key(files)
            key = args.key or (next(iter(keys)) if len(keys) == 1 else device_key(args.device))
        else:
            key = args.key or device_key(args.device)
            local = keyed_storage(Path(args.storage), key)
            files = sorted(local.glob("*.json")) if local.is_dir() else []
            files += committed_baselines(key)
        out = args.out or Path(args.storage) / "history" / key
        if key == ALL:
            written = run_all(files, out, args.min_effect)
        else:
            written = run(files, key, out, args.min_effect)
    except HistoryError as err:
        raise UsageFailure(str(err)) from None
    for path in written:
        print(f"unet-bench history: wrote {path}", file=sys.stderr)
    return 0


def run(files: Sequence[Path], key: str, out: Path, min_effect: float = MIN_EFFECT) -> list[Path]:
    """Build the history of ``key`` from ``files`` into ``out``; the paths written."""
    history = load_history(files, key)
    for path, why in history.skipped:
        print(f"unet-bench history: skipped {path}: {why}", file=sys.stderr)
    found = all_findings(history, min_effect)
    out.mkdir(parents=True, exist_ok=True)
    summary = markdown_summary(history, found, min_effect)
    print(summary)
    written = [out / "index.html", out / "history.md", out / "history.json"]
    written[0].write_text(render_page(history, found, min_effect))
    written[1].write_text(summary)
    data = {
        "key": key,
        "commits": [c.__dict__ for c in history.commits],
        "findings": [f.to_dict() for f in found],
    }
    written[2].write_text(json.dumps(data, indent=2))
    for group, cases in history.groups().items():
        mine = [f for f in found if f.group == group]
        written.append(plot_group(history, group, cases, mine, out / f"{slug(group)}.png"))
    return written


def run_all(files: Sequence[Path], out: Path, min_effect: float = MIN_EFFECT) -> list[Path]:
    """A history per hardware key found in ``files`` (``out/<key>/``), an index.html linking
    them and one history.md of all their summaries (the fleet's job summary)."""
    keys = {k: paths for k, paths in sorted(by_key(files).items()) if k != "?"}
    if not keys:
        raise HistoryError(f"no unet-bench run among {len(files)} file(s)")
    written, items, summaries = [], [], []
    for key, paths in keys.items():
        written += run(paths, key, out / key, min_effect)
        summaries.append((out / key / "history.md").read_text())
        found = json.loads((out / key / "history.json").read_text())["findings"]
        items.append(
            f'<li><a href="{escape(key)}/index.html">{escape(key)}</a>: '
            f"{len(found)} change(s) detected</li>"
        )
    index = out / "index.html"
    index.write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>unet-bench history"
        "</title></head><body style='font: 14px system-ui, sans-serif; margin: 24px'>"
        f"<h1>unet-bench history</h1><ul>{''.join(items)}</ul></body></html>\n"
    )
    (out / "history.md").write_text("\n".join(summaries))
    return [index, out / "history.md", *written]
