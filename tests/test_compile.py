"""--compile: compile time apart, graph breaks gated with their source, recompiles caught, and
compiled runs kept apart from eager ones."""

from __future__ import annotations

import json

import pytest
from drive import FAST, in_process, saved_files, suite

COMPILED = [*FAST, "--compile"]
UPSAMPLE = "test_upsample[up=interpolate-bs=1-compile=default]"

# A graph break in every down block: dynamo cannot trace print
BREAK_DOWN_BLOCKS = """
import unet.model

_forward = unet.model.DownBlock.forward

def forward(self, x):
    print("", end="")  # a graph break
    return _forward(self, x)

unet.model.DownBlock.forward = forward
"""

# A Python int that changes on every call, read by the traced code: dynamo recompiles
RECOMPILE_UPSAMPLE = """
import unet.layers

_forward = unet.layers.InterpolateConv.forward
CALLS = [0]

def forward(self, x):
    CALLS[0] += 1
    return _forward(self, x) * (1 + 0 * CALLS[0])

unet.layers.InterpolateConv.forward = forward
"""


@pytest.mark.e2e
def test_quick_tier_compiles_every_case_once_with_no_graph_break(tmp_path):
    out = tmp_path / "compiled.json"
    proc = suite(tmp_path, *COMPILED, f"--benchmark-json={out}")
    assert proc.returncode == 0, proc.stdout
    cases = json.loads(out.read_text())["benchmarks"]
    assert len(cases) == 10
    for case in cases:
        extra = case["extra_info"]
        assert case["name"].endswith("-compile=default]")
        assert extra["compile"] == "default"
        assert extra["compile_s"] > 0
        assert extra["graph_breaks"] == 0
        assert extra["recompiles"] == 0
        # the rounds time the compiled module: compile time is not in them
        assert case["stats"]["max"] < extra["compile_s"] or extra["compile_cached"]


@pytest.mark.e2e
def test_a_graph_break_fails_the_gate_naming_it_and_its_line(tmp_path):
    proc = suite(
        tmp_path,
        *COMPILED,
        "-k",
        "test_model and standard and batch",
        "--benchmark-disable",
        plugin=BREAK_DOWN_BLOCKS,
    )
    assert proc.returncode == 1, proc.stdout
    assert "cost changed: graph_breaks: 0 -> " in proc.stdout
    assert "graph break: " in proc.stdout
    assert "injected_plugin.py:" in proc.stdout  # the source line of the break
    assert 'print("", end="")' in proc.stdout


@pytest.mark.e2e
def test_a_recompile_after_the_first_compile_fails_the_case(tmp_path):
    proc = suite(tmp_path, *COMPILED, "-k", "test_upsample", plugin=RECOMPILE_UPSAMPLE)
    assert proc.returncode == 1, proc.stdout
    assert f"{UPSAMPLE}: recompiled " in proc.stdout
    assert "1 failed, 1 passed" in proc.stdout


@pytest.mark.e2e
def test_a_compiled_run_compared_with_an_eager_run_is_refused(tmp_path):
    saved = suite(tmp_path, *FAST, "-k", "test_upsample", "--benchmark-autosave")
    assert saved.returncode == 0, saved.stdout
    (eager_run,) = saved_files(tmp_path / "store")
    proc = suite(tmp_path, *COMPILED, "-k", "test_upsample", f"--benchmark-compare={eager_run}")
    assert proc.returncode == 4, proc.stdout
    assert "(compile: saved None, here 'default')" in proc.stdout


def test_an_unknown_compile_mode_is_a_usage_error(pytester, tmp_path):
    proc = in_process(pytester, tmp_path, "--compile=fastest")
    assert proc.returncode == 4
    assert "Unsupported --compile 'fastest'" in proc.stdout
    assert "max-autotune" in proc.stdout


# The compiled upsample's first call fails the way a compiler error does; the rest compile
FAILING_COMPILE = """
import torch

_compile = torch.compile

def compile(model, **kwargs):
    compiled = _compile(model, **kwargs)
    if type(model).__name__ != "InterpolateConv":
        return compiled

    def fail(*args, **kw):
        raise RuntimeError("injected: C++ compile failed for this graph")

    return fail

torch.compile = compile
"""


@pytest.mark.e2e
def test_a_failing_compile_fails_its_case_alone_with_the_error(tmp_path):
    proc = suite(tmp_path, *COMPILED, "-k", "test_upsample", plugin=FAILING_COMPILE)
    assert proc.returncode == 1, proc.stdout
    assert (
        f"{UPSAMPLE}: torch.compile (mode default) failed: RuntimeError: "
        "injected: C++ compile failed for this graph"
    ) in proc.stdout
    assert "1 failed, 1 passed" in proc.stdout
