"""``unet-bench history``: the saved runs of one hardware key in commit order, as a page, PNGs
and a summary (``history.build`` does the work)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from unet.bench.commands.common import add_device, add_min_effect, add_storage
from unet.bench.errors import UsageError

ALL = "all"


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
        f"this machine's); '{ALL}': a page per key found, and an index",
    )
    add_device(history, "whose key by default")
    add_storage(history)
    history.add_argument(
        "--out",
        type=Path,
        help="output folder, rewritten on each run (default .benchmarks/history/<key>)",
    )
    add_min_effect(history)
    history.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from unet.bench.commands.common import device_key
    from unet.bench.history import build
    from unet.bench.history.series import run_files
    from unet.bench.results.storage import committed_baselines, keyed_storage

    if args.sources:
        files = run_files(args.sources)
        keys = build.by_key(files)
        key = args.key or (next(iter(keys)) if len(keys) == 1 else device_key(args.device))
    else:
        key = args.key or device_key(args.device)
        local = keyed_storage(args.storage, key)
        files = sorted(local.glob("*.json")) if local.is_dir() else []
        files += committed_baselines(key)
    out = args.out or args.storage / "history" / key
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file; name a folder")
    if key == ALL:
        written = build.run_all(files, out, args.min_effect)
    else:
        written = build.run(files, key, out, args.min_effect)
    for path in written:
        print(f"unet-bench history: wrote {path}", file=sys.stderr)
    return 0
