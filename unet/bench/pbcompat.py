"""The one seam to pytest-benchmark: every use of its internals lives here and nowhere else.

pytest-benchmark's public surface is its options, its hooks, the ``benchmark`` fixture's call,
``pedantic`` and ``extra_info``, ``pytest.mark.benchmark`` and its JSON files. What this project
needs beyond that (the fixture's raw samples, its storage's file query, pointing its options at
this hardware's folder before it reads them) is wrapped here, so an upgrade that moves one of
them breaks one module, and the supported range below is checked when the suite starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

# 5.1.0 fixed its hooks for pytest >= 8.1; 6 may change what this module reaches into.
SUPPORTED = (Version("5.1.0"), Version("6"))
# pytest 9.2 dropped Node._nodeid, which pytest-benchmark read before 5.3.1
NEWER_PYTEST_NEEDS = (Version("9.2"), Version("5.3.1"))


def installed_version() -> str:
    try:
        return version("pytest-benchmark")
    except PackageNotFoundError:
        return "not installed"


def version_problem(installed: str, pytest_version: str = pytest.__version__) -> str | None:
    """Why ``installed`` is outside the range supported with ``pytest_version``, or None."""
    low, high = SUPPORTED
    newer_pytest, needs = NEWER_PYTEST_NEEDS
    if Version(pytest_version) >= newer_pytest:
        low = needs
    try:
        ok = low <= Version(installed) < high
    except InvalidVersion:  # "not installed"
        ok = False
    if ok:
        return None
    return (
        f"unet-bench needs pytest-benchmark >={low},<{high} with pytest {pytest_version} "
        f"(>={SUPPORTED[0]} with pytest < {newer_pytest}); found {installed}. "
        f"Install it with: pip install 'pytest-benchmark[histogram]>={low},<{high}'"
    )


def check_version() -> None:
    """Stop the run (exit 4) when the installed pytest-benchmark is outside the range."""
    problem = version_problem(installed_version())
    if problem:
        raise pytest.UsageError(problem)


# --- the fixture: timings of the case just run -------------------------------------------------


def timing_disabled(benchmark: Any) -> bool:
    """Whether this run only executes the cases (--benchmark-disable, xdist) without timing."""
    return bool(benchmark.disabled)


def samples(benchmark: Any) -> list[float]:
    """Seconds per call of each round timed so far."""
    stats = benchmark.stats
    return list(stats.stats.data) if stats is not None else []


def iterations(benchmark: Any) -> int:
    """Calls per round that pytest-benchmark chose after calibrating."""
    return int(benchmark.stats.iterations)


def median(benchmark: Any) -> float:
    return float(benchmark.stats.stats.median)


# --- options and storage -----------------------------------------------------------------------


def timing_budget(config: pytest.Config) -> tuple[float, int]:
    """(--benchmark-max-time seconds, --benchmark-min-rounds)."""
    return float(config.getoption("benchmark_max_time")), int(
        config.getoption("benchmark_min_rounds")
    )


def storage_option(config: pytest.Config) -> str:
    return str(config.getoption("benchmark_storage"))


def compare_option(config: pytest.Config) -> str | bool | None:
    """--benchmark-compare: None when absent, True without a value, else the value."""
    return config.getoption("benchmark_compare")


def saves_run(config: pytest.Config) -> bool:
    """Whether this run is saved to the storage (--benchmark-save or --benchmark-autosave)."""
    return bool(config.getoption("benchmark_save") or config.getoption("benchmark_autosave"))


def compare_failures(config: pytest.Config, names: Iterable[str]) -> dict[str, str]:
    """Case -> pytest-benchmark's message for each case that --benchmark-compare-fail failed.
    Filled by its session's ``finish`` (its sessionfinish wrapper, before ours runs)."""
    session = getattr(config, "_benchmarksession", None)
    failures = getattr(session, "performance_regressions", None) or []
    found = {}
    for shown, fail in failures:
        label = str(shown).split(" (")[0]  # the name, then the compared run in parentheses
        for name in names:
            if label in (name, name.removeprefix("test_")) or label.endswith("::" + name):
                found[name] = str(fail)
    return found


def point_storage_at(config: pytest.Config, folder: Path) -> None:
    """Make pytest-benchmark save and look up runs in ``folder``. Must run before its own
    (trylast) ``pytest_configure``, which reads the option."""
    config.option.benchmark_storage = f"file://{folder}"


def compare_with(config: pytest.Config, run: Path) -> None:
    """Make --benchmark-compare load exactly ``run`` (set before pytest-benchmark configures)."""
    config.option.benchmark_compare = str(run)


class _QuietLogger:
    def info(self, *args: object, **kwargs: object) -> None: ...

    def warning(self, *args: object, **kwargs: object) -> None: ...


def _file_storage(folder: Path) -> Any:
    from pytest_benchmark.storage.file import FileStorage
    from pytest_benchmark.utils import get_machine_id

    return FileStorage(folder, _QuietLogger(), default_machine_id=get_machine_id())


def query_runs(folder: Path, pattern: str | None = None) -> list[Path]:
    """The run files pytest-benchmark's storage finds in ``folder`` (all, or matching a
    --benchmark-compare value), in its order (by file name)."""
    if not folder.is_dir():
        return []
    storage = _file_storage(folder)
    return list(storage.query(pattern) if pattern else storage.query())


def runs_it_compares(folder: Path, compare: str | bool) -> list[Path]:
    """The files a --benchmark-compare of ``compare`` loads from ``folder``, in the order its
    ``pytest_benchmark_compare_machine_info`` hook sees them: without a value the newest
    numbered run, else every match."""
    if compare is True:
        return query_runs(folder, "[0-9][0-9][0-9][0-9]_")[-1:]
    return query_runs(folder, str(compare))
