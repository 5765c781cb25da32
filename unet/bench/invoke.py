"""The one place that builds the command line running the suite in a child process."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def suite_command(
    targets: Sequence[str],
    *,
    device: str,
    storage: Path,
    quick: bool = False,
    options: Sequence[str] = (),
) -> list[str]:
    """``pytest`` on ``targets`` (the benchmarks folder or node ids), with this interpreter,
    no cache folder, runs stored under ``storage`` (one folder per hardware key below it), then
    ``options`` (later ones win)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        *targets,
        "-p",
        "no:cacheprovider",
        f"--device={device}",
        f"--benchmark-storage=file://{storage}",
        *(["--quick"] if quick else []),
        *options,
    ]
