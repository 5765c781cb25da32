"""The ``type=`` callables of every option, the suite's and the commands': each checks a value
when it is parsed and names the option, the value and what is valid. Standard library only, so
that ``--help`` and usage errors import no torch."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from unet.choices import unsupported

DEVICE_NAMES = ["auto", "cpu", "cuda", "cuda:N"]


def check_device_name(text: str) -> str:
    """``text`` when it names a device this tool knows (whether it is present is checked
    where it is used); ValueError naming the valid ones otherwise."""
    if text not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", text):
        raise ValueError(unsupported("--device", text, DEVICE_NAMES))
    return text


def device_name(text: str) -> str:
    try:
        return check_device_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def one_of(option: str, choices: list[str]) -> Callable[[str], str]:
    """A ``type=`` callable accepting only ``choices``; the error names the valid ones."""

    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(unsupported(option, text, choices))
        return text

    return parse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"--batch-sizes {text!r}: expected comma-separated positive integers, e.g. 1,32"
        )
    return sizes


def at_least_zero(option: str, unit: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value >= 0:  # also refuses nan
            raise argparse.ArgumentTypeError(
                f"{option} {text!r}: expected a number >= 0 ({unit}); valid range [0, inf)"
            )
        return value

    return parse


warmup_seconds = at_least_zero("--warmup-time", "seconds")
min_effect = at_least_zero("--min-effect", "a fraction of the median: 0.03 = 3 %")


def profile_seconds(text: str) -> float:
    value = at_least_zero("--profile-time", "seconds")(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"--profile-time {text!r}: expected seconds > 0")
    return value


def storage_folder(text: str) -> Path:
    """``--storage``: a folder, also as a ``file://`` URL as pytest-benchmark writes it."""
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    if "://" in text:
        raise argparse.ArgumentTypeError(
            f"--storage {text!r}: expected a folder or a file:// URL; the commands read and "
            "write run files"
        )
    return Path(text)
