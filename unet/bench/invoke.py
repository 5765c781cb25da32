"""The one place that builds the command line running the suite in a child process, and that
asks a tree's suite which cases it has."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from unet.bench.errors import ToolError


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


def collected(
    tree: Path, *, device: str, quick: bool = False, options: Sequence[str] = ()
) -> list[str]:
    """The node ids (``benchmarks/test_x.py::test_x[...]``) that the suite of ``tree``, with
    its own code, collects under ``options``; ToolError when it cannot collect."""
    with tempfile.TemporaryDirectory() as scratch:  # nothing is created in the user's folders
        command = suite_command(
            ["benchmarks"],
            device=device,
            storage=Path(scratch),
            quick=quick,
            options=["--collect-only", "-q", *options],
        )
        path = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path}  # the tree's own unet package
        proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 5):  # 5: nothing collected, which is an answer too
        raise ToolError(f"the suite in {tree} failed to collect its cases:\n{proc.stdout[-2000:]}")
    return [line for line in proc.stdout.splitlines() if "::" in line]
