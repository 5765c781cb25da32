"""The suite's pytest entry: the plugin (options, state, gates, summaries) and the cases.

Run: pytest benchmarks [--device auto|cpu|cuda] [--dtype float32|float16|bfloat16]
     [--channels-last] [--batch-sizes 1,32] [--quick] [--benchmark-compare] ...
"""

from __future__ import annotations

import functools

import pytest

from benchmarks.cases import capacity_cases, model_cases, norm_cases, upsample_cases
from unet.bench.results.axes import id_suffix
from unet.bench.suite.state import suite_state

pytest_plugins = ["unet.bench.suite.plugin"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    state = suite_state(metafunc.config)
    quick, sizes = state.options.quick, state.options.batch_sizes
    axes = id_suffix(state.axes)  # e.g. "-mode=train": one manifest entry and table per axes
    for fixture, cases in (
        ("model_case", lambda: model_cases(sizes, quick)),
        ("capacity_case", lambda: capacity_cases(sizes, quick)),
        ("norm_case", lambda: norm_cases(sizes, quick)),
        ("upsample_case", lambda: upsample_cases(quick)),
    ):
        if fixture in metafunc.fixturenames:
            params = [
                pytest.param(c, id=c.id + axes, marks=pytest.mark.benchmark(group=c.group + axes))
                for c in cases()
            ]
            if not params:  # the plugin deselects it
                state.without_cases.add(metafunc.function.__name__)
            metafunc.parametrize(fixture, params)


@pytest.fixture
def run_case(request: pytest.FixtureRequest, benchmark):
    """``run_case(module, x, info, repeat=1)``: time one case, then apply the cost gate."""
    return functools.partial(suite_state(request.config).measure, benchmark, request.node)
