"""The one place that builds the command line running the suite in a child process, and that
asks a tree's suite which cases it has and how a case name maps to one (``resolve_case``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unet.bench.errors import ToolError, UsageError


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


# a bare case id's first setting -> the benchmark that takes it
FUNCTIONS = {
    "conv": "test_model",
    "capacity": "test_capacity",
    "norm": "test_norm",
    "up": "test_upsample",
}
EXAMPLE = "conv=standard-norm=batch-up=interpolate-bs=1"


class CaseError(UsageError):
    """A case name that names no benchmark of the suite (exit 4)."""


@dataclass(frozen=True)
class CaseRef:
    name: str  # test_model[conv=...-bs=1]
    node_id: str  # benchmarks/test_model.py::test_model[conv=...-bs=1]
    options: tuple[str, ...]  # suite options under which the case exists


def resolve_case(tree: Path, case: str) -> CaseRef:
    """CASE as a full name (``test_model[...]``) or a bare id (``conv=...-bs=1``), resolved
    against the benchmark files of ``tree`` (whether the id exists: ``collected``)."""
    if "[" in case:
        function, case_id = case.split("[", 1)
        case_id = case_id.removesuffix("]")
    else:
        function, case_id = FUNCTIONS.get(case.split("=")[0], ""), case
    files = [
        path
        for path in sorted((tree / "benchmarks").glob("test_*.py"))
        if function and re.search(rf"^def {re.escape(function)}\(", path.read_text(), re.M)
    ]
    if not files:
        raise CaseError(
            f"CASE {case!r}: no such benchmark; give a case name as the suite prints it, e.g. "
            f"'test_model[{EXAMPLE}]' or just '{EXAMPLE}'"
        )
    batch = re.search(r"bs=(\d+)", case_id)  # the case exists only under its batch size
    options = ("--batch-sizes", batch.group(1)) if batch else ()
    name = f"{function}[{case_id}]"
    return CaseRef(name, f"benchmarks/{files[0].name}::{name}", options)
