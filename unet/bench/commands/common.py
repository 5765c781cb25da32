"""What the commands share: their arguments, declared once with a ``type=`` that checks them,
the output folder, and the hardware key of ``--device``.

Imports nothing heavy at module level: every parser is built for ``--help`` without torch."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from unet.bench.defaults import DEFAULT_BLOCKS, DEFAULT_STORAGE, GATE_STATISTICS, MIN_EFFECT
from unet.bench.errors import UsageError
from unet.bench.values import (
    DEVICE_NAMES,
    device_name,
    min_effect,
    one_of,
    positive_int,
    storage_folder,
)


def add_device(parser: argparse.ArgumentParser, role: str = "where the suite runs") -> None:
    parser.add_argument(
        "--device",
        type=device_name,
        default="auto",
        help=f"{role}: {', '.join(DEVICE_NAMES)} (default auto: CUDA when present, else CPU)",
    )


def add_storage(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--storage",
        type=storage_folder,
        default=Path(DEFAULT_STORAGE),
        help=f"the local run folder, or a file:// URL ({DEFAULT_STORAGE})",
    )


def add_out(parser: argparse.ArgumentParser, command: str, what: str = "output folder") -> None:
    parser.add_argument(
        "--out",
        type=Path,
        help=f"{what} (default {DEFAULT_STORAGE}/{command}/<time>); refused if it holds files",
    )


def add_floors(parser: argparse.ArgumentParser, how: str = "read") -> None:
    parser.add_argument(
        "--floors",
        type=Path,
        default=None,
        help=f"the noise floors file {how} (default benchmarks/noise_floors.json, written by "
        "unet-bench calibrate)",
    )


def add_quick(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="the quick tier (CPU CI)")


def add_min_effect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--min-effect",
        type=min_effect,
        default=MIN_EFFECT,
        help=f"smallest relative change of the median that counts (default {MIN_EFFECT:g}, >= 0)",
    )


def add_gate_on(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gate-on",
        type=one_of("--gate-on", list(GATE_STATISTICS)),
        default="median",
        help="what is judged: median (default), or p90 / p99 of the rounds (a tail percentile "
        "needs 64 / 662 rounds a side, else the case is unsure)",
    )


def add_blocks(parser: argparse.ArgumentParser, extra: str = "") -> None:
    parser.add_argument(
        "--blocks",
        type=positive_int,
        default=DEFAULT_BLOCKS,
        help=f"round blocks per case and side, base and head alternating ({DEFAULT_BLOCKS}){extra}",
    )


def add_pytest_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")


def output_folder(out: Path | None, command: str) -> Path:
    """``--out`` resolved, or a new ``.benchmarks/<command>/<time>``; UsageError for a path that
    is a file or a folder that holds files, so that no earlier result is overwritten. Nothing
    is created here."""
    if out is None:
        return (Path(DEFAULT_STORAGE) / command / time.strftime("%Y%m%d-%H%M%S")).resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file; name a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(
            f"--out {out}: holds files already (an earlier result?); name a new or empty folder"
        )
    return out.resolve()


def device_key(device: str, workers: int = 1) -> str:
    """The hardware key of ``--device``; UsageError for a device that cannot be used, or that
    cannot take the ``workers`` suites a command runs on it at once (A/B's paired workers)."""
    from unet.bench.measure import hardware

    try:
        if workers > 1 and (why := hardware.exclusive_process_refusal(device, workers)):
            raise ValueError(why)
        resolved = hardware.resolve_device(device, touch=False)  # its suites use the GPU
        return hardware.hardware_key(hardware.hardware_info(resolved))
    except ValueError as err:  # CUDA asked for without a GPU, a locked GPU
        raise UsageError(str(err)) from None


def split_node_ids(pytest_args: Sequence[str]) -> tuple[list[str], list[str]]:
    """The node ids (``path::test[...]``) among pytest's arguments, and the rest. An A/B's
    later generations select their unsettled cases by node id; passed on as arguments as well,
    the ids would make every process time them all (a paired confirmation's later generations
    timed all 47 suspects again for one unsettled case)."""
    ids = [a for a in pytest_args if a.partition("::")[0].endswith(".py") and "::" in a]
    return ids, [a for a in pytest_args if a not in ids]


def ab_settings(args: argparse.Namespace, command: str):
    """The A/B settings of ``ab``, ``bisect`` and ``calibrate`` from their shared arguments:
    the device checked for the most paired workers a generation starts, ``--out`` resolved
    (nothing created yet)."""
    from unet.bench.ab.settings import ABSettings
    from unet.bench.defaults import LATER_PAIRED_WORKERS, PAIRED_WORKERS

    most = 2 * max(PAIRED_WORKERS, LATER_PAIRED_WORKERS)  # both sides' workers run at once
    device_key(args.device, workers=most)  # a usage error before anything starts
    node_ids, pytest_args = split_node_ids(args.pytest_args)
    return ABSettings(
        repo=Path.cwd(),
        out=output_folder(args.out, command),
        device=args.device,
        quick=args.quick,
        blocks=args.blocks,
        min_effect=getattr(args, "min_effect", MIN_EFFECT),  # calibrate judges nothing
        gate_on=getattr(args, "gate_on", "median"),
        confirm=getattr(args, "confirm", False),
        **({"floors": args.floors} if getattr(args, "floors", None) else {}),
        pytest_args=pytest_args,
        cases=node_ids,
        command_name=command,
    )
