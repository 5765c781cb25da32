"""``unet-bench save-baseline``: copy a local run into ``benchmarks/baselines/<key>/`` to be
committed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from unet.bench.commands.common import add_device, add_storage
from unet.bench.errors import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    save = sub.add_parser(
        "save-baseline",
        help="copy the latest local run into benchmarks/baselines/<key>/ for committing",
    )
    add_device(save, "whose run")
    save.add_argument("--run", type=Path, default=None, help="a run file (default: the latest)")
    add_storage(save)
    save.set_defaults(handler=run)


def latest_local_run(device: str, storage: Path) -> Path | None:
    from unet.bench.commands.common import device_key
    from unet.bench.results.storage import keyed_storage, saved_runs

    runs = saved_runs(keyed_storage(storage, device_key(device)))
    return runs[-1] if runs else None


def run(args: argparse.Namespace) -> int:
    from unet.bench.commands.common import device_key
    from unet.bench.results.storage import save_baseline, unreadable

    key = device_key(args.device)
    path = args.run or latest_local_run(args.device, args.storage)
    if path is None:
        raise UsageError(f"no local run for {key}; run `unet-bench run` first")
    if why := unreadable(path):
        raise UsageError(f"cannot use {path}: {why}")
    saved_key = json.loads(path.read_text()).get("machine_info", {}).get("unet_bench", {})
    if saved_key.get("key") != key:
        raise UsageError(
            f"{path} was recorded on {saved_key.get('key')!r}, not on this machine's {key!r}; "
            "baselines are saved from the hardware they describe"
        )
    target = save_baseline(path, key)
    print(f"unet-bench: saved {path} as {target}; commit it to share the baseline")
    return 0
