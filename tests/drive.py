"""Run the benchmark suite as a user would, in a subprocess, with code injected from outside.

Slowdowns, width changes, extra operators and NaNs are injected through a pytest plugin written
to a temporary folder, so the product code carries no test hooks.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def saved_files(store: Path) -> list[Path]:
    return sorted(store.rglob("*.json"))


def default_sigint() -> None:
    """For ``preexec_fn``: SIGINT back to its default in the child. A job started in the
    background by a non-interactive shell (as a CI runner may start this suite) inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler: a Ctrl-C test would see its
    command run to the end instead of stopping."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
