"""The history of one hardware key (``run``) or of every key found (``run_all``): the page, PNGs
and summary that ``unet-bench history`` writes, callable from code."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path

from unet.bench.defaults import MIN_EFFECT
from unet.bench.history.findings import all_findings, with_declared
from unet.bench.history.page import render_page
from unet.bench.history.plots import markdown_summary, plot_group, slug
from unet.bench.history.series import HistoryError, load_history
from unet.bench.results.storage import unreadable


def by_key(files: Sequence[Path]) -> dict[str, list[Path]]:
    """The run files of each hardware key ("?" for run files without one)."""
    keys: dict[str, list[Path]] = {}
    for path in files:
        if unreadable(path) is None:
            data = json.loads(path.read_text())
            key = data.get("machine_info", {}).get("unet_bench", {}).get("key", "?")
            keys.setdefault(key, []).append(path)
    return keys


def run(files: Sequence[Path], key: str, out: Path, min_effect: float = MIN_EFFECT) -> list[Path]:
    """Build the history of ``key`` from ``files`` into ``out``; the paths written."""
    history = load_history(files, key)
    for path, why in history.skipped:
        print(f"unet-bench history: skipped {path}: {why}", file=sys.stderr)
    found = with_declared(all_findings(history, min_effect), Path.cwd())
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
