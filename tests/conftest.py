import subprocess
import sys
from pathlib import Path

import pytest

from unet import UNetConfig

pytest_plugins = ["pytester"]  # drive.in_process: the suite's usage errors inside this process


@pytest.fixture
def tiny() -> UNetConfig:
    """A narrow hourglass with the study's wiring: fast enough to run every variant on CPU."""
    return UNetConfig(block_expansion=4, max_features=32, input_size=32)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``cuda`` need a GPU: skipped, with the reason, where there is none."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is available")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


class _GuardedPopen(subprocess.Popen):
    """``subprocess.Popen`` while a test outside the ``e2e`` lane runs (its fixtures included):
    it refuses to start a Python process (a suite, a command, a worker: each imports torch,
    seconds apiece), so a test that starts one is marked and leaves the fast lane; git, bash
    and zizmor still run."""

    in_unit_test = False

    def __init__(self, args, *rest, **kwargs) -> None:
        argv = [args] if isinstance(args, (str, bytes, Path)) else list(args)
        program = str(argv[0]) if argv else ""
        python = program == sys.executable or "python" in Path(program).name
        if self.in_unit_test and python:
            raise RuntimeError(
                f"a test outside the e2e lane started {program} {argv[1:3]}: mark it "
                "@pytest.mark.e2e (see README, Tests)"
            )
        super().__init__(args, *rest, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    subprocess.Popen = _GuardedPopen  # type: ignore[misc]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # before the item's fixtures are set up, module-scoped ones included
    _GuardedPopen.in_unit_test = item.get_closest_marker("e2e") is None
