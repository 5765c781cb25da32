"""Run the benchmark suite as a user would, in a subprocess, with code injected from outside.

Slowdowns, width changes, extra operators and NaNs are injected through a pytest plugin written
to a temporary folder, so the product code carries no test hooks.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAST = ["--quick", "--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "--warmup-time=0"]
# Every suite a test starts runs on the CPU unless the test is about CUDA: on a GPU machine
# `auto` would pick CUDA, key the counters `cuda/float32` and fail the exact-gate tests for
# the wrong reason.
CPU = ("--device=cpu",)


def suite(
    tmp: Path,
    *args: str,
    plugin: str | None = None,
    store: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """pytest on the benchmarks in ``tmp``, runs stored in ``store`` (default ``tmp/store``),
    with ``plugin`` (source text) loaded and ``env`` added to the environment; on the CPU
    unless ``args`` name a device."""
    device = [] if any(a.startswith("--device") for a in args) else list(CPU)
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(REPO / "benchmarks"),
        "-p",
        "no:cacheprovider",
        f"--benchmark-storage=file://{store or tmp / 'store'}",
        *device,
        *args,
    ]
    env = {**os.environ, **(env or {})}
    if plugin:
        (tmp / "injected_plugin.py").write_text(plugin)
        cmd += ["-p", "injected_plugin"]
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp), env.get("PYTHONPATH")]))
    proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env, timeout=600)
    proc.stdout += proc.stderr  # one stream to search
    return proc


def in_process(
    pytester: pytest.Pytester, tmp: Path, *args: str, plugin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """:func:`suite` run inside this process (pytest's ``pytester``): for the suite's usage
    errors and its ``--help``, which stop before any case runs, in a tenth of a second instead of
    the seconds a new process spends importing torch. The subprocess wiring of "exit 4, no
    traceback" keeps one end-to-end test (``test_cuda_without_a_gpu_is_a_usage_error``)."""
    device = [] if any(a.startswith("--device") for a in args) else list(CPU)
    extra = []
    if plugin:
        (tmp / "injected_plugin.py").write_text(plugin)
        pytester.syspathinsert(tmp)
        extra = ["-p", "injected_plugin"]
    result = pytester.runpytest_inprocess(
        str(REPO / "benchmarks"),
        "-p",
        "no:cacheprovider",
        f"--benchmark-storage=file://{tmp / 'store'}",
        *device,
        *extra,
        *args,
    )
    said = result.stdout.str() + "\n" + result.stderr.str()
    return subprocess.CompletedProcess(args, int(result.ret), said, "")


def command(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``unet-bench ARGS`` from ``cwd`` inside this process, through ``unet.cli.main``: for
    usage errors, which stop before anything is started. Each command keeps one end-to-end test
    of the same wiring in a process of its own."""
    from unet.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's own errors
            code = int(exit_.code or 0)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def saved_files(store: Path) -> list[Path]:
    return sorted(store.rglob("*.json"))


def default_sigint() -> None:
    """For ``preexec_fn``: SIGINT back to its default in the child. A job started in the
    background by a non-interactive shell (as a CI runner may start this suite) inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler: a Ctrl-C test would see its
    command run to the end instead of stopping."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
