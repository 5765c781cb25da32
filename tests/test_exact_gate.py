"""The exact counters in the cost gate: operators fvcore ignores and activations kept alive fail
the case by name, and the counts repeat exactly across processes and thread counts."""

from __future__ import annotations

import json

import pytest
from drive import FAST, suite

from unet.bench.results.manifest import DEFAULT_PATH

# every test here starts suites, workers, worktrees or compiles in child processes
pytestmark = pytest.mark.e2e

MODELS = [*FAST, "-k", "test_model", "--benchmark-disable"]
BATCH_STANDARD = "test_model[conv=standard-norm=batch-up=interpolate-bs=1]"

# One more ReLU after every down block: fvcore counts no FLOPs for relu and does not list it
# as unsupported, so params, FLOPs and mult-adds stay the same.
EXTRA_RELU = """
import torch
import unet.model

_forward = unet.model.DownBlock.forward

def forward(self, x):
    return torch.relu(_forward(self, x))

unet.model.DownBlock.forward = forward
"""

# Every down block's full-resolution activation (before its pool) kept alive until the
# forward ends, as a debugging cache would: no operator added, more memory held.
KEEP_ALIVE = """
import unet.model

KEPT = []
_pool = unet.model.nn.AvgPool2d.forward
_forward = unet.model.Hourglass.forward

def pool(self, x):
    KEPT.append(x)
    return _pool(self, x)

def forward(self, x):
    try:
        return _forward(self, x)
    finally:
        KEPT.clear()

unet.model.nn.AvgPool2d.forward = pool
unet.model.Hourglass.forward = forward
"""


def test_an_operator_fvcore_ignores_fails_the_gate_naming_it(tmp_path):
    proc = suite(tmp_path, *MODELS, plugin=EXTRA_RELU)
    assert proc.returncode == 1, proc.stdout
    assert (
        f"{BATCH_STANDARD}: cost changed: ops aten.relu: 10 -> 15 (vs cost manifest); "
        "total_ops: 45 -> 50 (vs cost manifest)"
    ) in proc.stdout
    assert "params:" not in proc.stdout
    assert "flops:" not in proc.stdout
    assert "4 failed" in proc.stdout


def test_an_activation_kept_alive_fails_the_gate_naming_the_peak(tmp_path):
    proc = suite(tmp_path, *MODELS, plugin=KEEP_ALIVE)
    assert proc.returncode == 1, proc.stdout
    assert f"{BATCH_STANDARD}: cost changed: peak_activation_bytes: 3.0 MiB -> " in proc.stdout
    assert "ops aten." not in proc.stdout  # the same operators ran
    assert "4 failed" in proc.stdout


def test_unchanged_code_passes_twice_in_a_row(tmp_path):
    for _ in range(2):
        proc = suite(tmp_path, *MODELS)
        assert proc.returncode == 0, proc.stdout
        assert "4 passed" in proc.stdout


def test_counts_repeat_across_processes_and_thread_counts(tmp_path):
    counters = []
    for threads in ("1", "2"):
        path = tmp_path / f"threads{threads}.json"
        proc = suite(
            tmp_path,
            *FAST,
            "--benchmark-disable",
            "--update-cost-manifest",
            f"--cost-manifest={path}",
            env={"OMP_NUM_THREADS": threads},
        )
        assert proc.returncode == 0, proc.stdout
        cases = json.loads(path.read_text())["cases"]
        counters.append({name: entry["counters"] for name, entry in cases.items()})
    assert counters[0] == counters[1]
    committed = json.loads(DEFAULT_PATH.read_text())["cases"]
    assert counters[0] == {name: committed[name]["counters"] for name in counters[0]}
