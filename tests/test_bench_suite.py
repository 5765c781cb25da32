"""Drive the benchmark suite as a user would: pytest in a subprocess, tiny settings.

Slowdowns, width changes and NaNs are injected from outside through a pytest plugin written to
a temporary folder, so the product code carries no test hooks.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from drive import CPU, FAST, in_process, saved_files, suite

SLOW_INSTANCE = """
import time
import unet.model

_forward = unet.model.Hourglass.forward

def forward(self, x):
    if self.config.norm == "instance":
        time.sleep(0.3)  # >= 6x the case even in the VM's slow mode (20 vs 50 ms)
    return _forward(self, x)

unet.model.Hourglass.forward = forward
"""

WIDER_GROUP = """
import unet.model

_init = unet.model.Hourglass.__init__

def __init__(self, config=None):
    if config is not None and config.norm == "group":
        config = config.with_(block_expansion=40)
    _init(self, config)

unet.model.Hourglass.__init__ = __init__
"""

NAN_LAYER = """
import unet.model

_forward = unet.model.Hourglass.forward

def forward(self, x):
    out = _forward(self, x)
    return out * float("nan") if self.config.norm == "layer" else out

unet.model.Hourglass.forward = forward
"""

GROUP_CASE = "test_model[conv=depthwise_separable-norm=group-up=interpolate-bs=1]"
INSTANCE_CASE = "test_model[conv=standard-norm=instance-up=transposed-bs=1]"
# Timing comparisons between two processes use the standard-conv cases: on a shared 2-vCPU
# machine the depthwise-separable ones were seen to switch between speed modes (3.7 vs 8.6 ms)
# from one process to the next, which a fixed-threshold gate cannot tell from a regression.
STEADY = "test_model and standard"
# The native gate's threshold in these tests. On the same VM one process runs a standard-conv
# case at 20 ms and the next at 50 ms (seen 2026-11-29): a gate between two single processes
# must allow that, so these tests check the plumbing with a slowdown far beyond it.
COMPARE_FAIL = "--benchmark-compare-fail=median:300%"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one saved quick run of the model cases."""
    tmp = tmp_path_factory.mktemp("saved")
    proc = suite(tmp, *FAST, "-k", "test_model", "--benchmark-autosave")
    assert proc.returncode == 0, proc.stdout
    return tmp / "store"


@pytest.mark.e2e
def test_runs_are_stored_under_the_hardware_key_with_its_machine_info(saved):
    (run,) = saved_files(saved)
    key_folder = run.relative_to(saved).parts[0]
    data = json.loads(run.read_text())
    info = data["machine_info"]["unet_bench"]
    assert info["key"] == key_folder
    assert info["device"] == "cpu"
    assert info["threads"] == str(torch.get_num_threads())
    extra = data["benchmarks"][0]["extra_info"]
    for field in ("conv", "norm", "upsample", "batch_size", "device", "dtype", "params"):
        assert field in extra
    assert {"flops", "mult_adds", "unsupported_ops"} <= extra.keys()
    assert extra["counted_on"] == "cpu/float32"
    assert extra["total_ops"] == sum(extra["ops"].values()) > 0
    assert extra["peak_activation_bytes"] > 0
    # a saved run keeps a per-operator profile of each case, for later attribution
    profile = extra["profile"]
    assert profile["clock"] == "cpu"
    assert profile["calls"] >= 1
    assert profile["ops"]["aten::convolution"][0] == extra["ops"]["aten.convolution"]
    assert data["benchmarks"][0]["group"] == "model 1x3x64x64"


@pytest.mark.e2e
def test_save_then_compare_same_code_passes(saved, tmp_path):
    proc = suite(
        tmp_path,
        *FAST,
        "-k",
        STEADY,
        "--benchmark-compare",
        COMPARE_FAIL,
        store=saved,
    )
    assert proc.returncode == 0, proc.stdout
    assert "Comparing against benchmarks from" in proc.stdout
    assert len(saved_files(saved)) == 1  # comparing saved nothing new


@pytest.mark.e2e
def test_injected_slowdown_fails_naming_only_the_touched_case(saved, tmp_path):
    proc = suite(
        tmp_path,
        *FAST,
        "-k",
        STEADY,
        "--benchmark-compare",
        COMPARE_FAIL,
        plugin=SLOW_INSTANCE,
        store=saved,
    )
    assert proc.returncode == 1, proc.stdout
    flagged = re.findall(r"^\t(test_\S+)", proc.stdout.split("Performance has regressed")[1], re.M)
    assert {name.split(" (")[0] for name in flagged} == {INSTANCE_CASE}
    # attributed: the sleep is in no operator, so the outside row carries the change; the
    # user's threshold confirms nothing about noise, so the deltas come without shares
    attribution = proc.stdout.split("unet-bench: attribution of flagged cases")[1]
    assert attribution.lstrip("- \n").startswith(f"{INSTANCE_CASE} (--benchmark-compare-fail")
    deltas = dict(re.findall(r"^(\S.*?)\s{2,}.*\s([+-]\d+\.\d{4})$", attribution, re.M))
    assert max(deltas, key=lambda op: float(deltas[op])) == "outside operators", attribution
    assert "deltas without shares" in attribution
    assert f"repro: unet-bench explain '{INSTANCE_CASE}'" in attribution


@pytest.mark.e2e
def test_width_change_fails_the_cost_gate_against_the_manifest(tmp_path):
    proc = suite(tmp_path, *FAST, "-k", "test_model", "--benchmark-disable", plugin=WIDER_GROUP)
    assert proc.returncode == 1, proc.stdout
    assert f"{GROUP_CASE}: cost changed: params: 1616958 -> " in proc.stdout
    assert "flops: 124858368 -> " in proc.stdout
    assert "cost changes (COST REGRESSION)" in proc.stdout
    assert "1 failed, 3 passed" in proc.stdout


@pytest.mark.e2e
def test_width_change_fails_the_cost_gate_against_a_saved_run(saved, tmp_path):
    # a manifest that already has the wider model: only the saved run can catch the change
    wider = [*FAST, "-k", "test_model", f"--cost-manifest={tmp_path / 'wider.json'}"]
    made = suite(
        tmp_path, *wider, "--benchmark-disable", "--update-cost-manifest", plugin=WIDER_GROUP
    )
    assert made.returncode == 0, made.stdout
    proc = suite(tmp_path, *wider, "--benchmark-compare", plugin=WIDER_GROUP, store=saved)
    assert proc.returncode == 1, proc.stdout
    assert re.search(rf"{re.escape(GROUP_CASE)}: cost changed: params: .*vs 0001_", proc.stdout)
    assert "vs cost manifest" not in proc.stdout


def test_a_missing_cost_manifest_is_a_usage_error_not_a_pass(pytester, tmp_path):
    missing = tmp_path / "nonexistent.json"
    out = _usage_error(
        in_process(pytester, tmp_path, "--benchmark-disable", f"--cost-manifest={missing}")
    )
    assert f"--cost-manifest {missing}: no such file" in out
    assert "Create it with: pytest benchmarks --benchmark-disable --update-cost-manifest" in out


@pytest.mark.e2e
def test_cases_missing_from_the_manifest_fail_by_name(tmp_path):
    manifest = tmp_path / "manifest.json"
    args = [*FAST, "--benchmark-disable", f"--cost-manifest={manifest}"]
    made = suite(tmp_path, *args, "-k", "test_upsample", "--update-cost-manifest")
    assert made.returncode == 0, made.stdout
    proc = suite(tmp_path, *args, "-k", "test_upsample or test_norm")
    assert proc.returncode == 1, proc.stdout
    assert "4 failed, 2 passed" in proc.stdout
    assert "4 cases are not in the cost manifest" in proc.stdout
    assert "  test_norm[norm=group-bs=1]" in proc.stdout
    assert f"--update-cost-manifest --cost-manifest {manifest}" in proc.stdout


@pytest.mark.e2e
def test_histogram_flag_writes_its_svg(tmp_path):
    proc = suite(tmp_path, *FAST, "-k", "test_upsample", f"--benchmark-histogram={tmp_path}/h")
    assert proc.returncode == 0, proc.stdout
    (svg,) = tmp_path.glob("h*.svg")
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


OLD_PYTEST_BENCHMARK = """
import unet.bench.pbcompat

unet.bench.pbcompat.installed_version = lambda: "4.0.0"
"""


@pytest.mark.e2e
def test_an_unsupported_pytest_benchmark_stops_the_run(tmp_path):
    out = _usage_error(suite(tmp_path, "--benchmark-disable", plugin=OLD_PYTEST_BENCHMARK))
    assert "unet-bench needs pytest-benchmark >=" in out
    assert "found 4.0.0. Install it with: pip install 'pytest-benchmark[histogram]>=" in out


@pytest.mark.e2e
def test_update_cost_manifest_rewrites_only_the_given_manifest(tmp_path):
    manifest = tmp_path / "manifest.json"
    args = ["-k", "test_upsample", "--benchmark-disable", f"--cost-manifest={manifest}"]
    first = suite(tmp_path, *FAST, *args, "--update-cost-manifest")
    assert first.returncode == 0, first.stdout
    cases = json.loads(manifest.read_text())["cases"]
    assert cases["test_upsample[up=transposed-bs=1]"]["flops"] == 18_874_368
    assert suite(tmp_path, *FAST, *args).returncode == 0


@pytest.mark.e2e
def test_nan_output_fails_that_case_by_name(tmp_path):
    proc = suite(tmp_path, *FAST, "-k", "test_model", "--benchmark-disable", plugin=NAN_LAYER)
    assert proc.returncode == 1
    assert "conv=depthwise_separable-norm=layer-up=transposed-bs=1]: output contains NaN" in (
        proc.stdout
    )
    assert "1 failed, 3 passed" in proc.stdout


def _usage_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 4, proc.stdout
    assert "Traceback" not in proc.stdout
    return proc.stdout


def test_compare_without_a_baseline_is_a_usage_error(pytester, tmp_path):
    out = _usage_error(in_process(pytester, tmp_path, *FAST, "--benchmark-compare"))
    assert "no saved run for this hardware (key cpu-" in out
    assert "unet-bench run" in out


@pytest.mark.e2e
def test_corrupted_baseline_is_a_usage_error(saved, tmp_path):
    store = tmp_path / "store"
    (run,) = saved_files(saved)
    broken = store / run.relative_to(saved).with_name("0002_broken.json")
    broken.parent.mkdir(parents=True)
    broken.write_text('{"benchmarks": [')
    out = _usage_error(suite(tmp_path, *FAST, "--benchmark-compare", store=store))
    assert "0002_broken.json: it is not valid JSON" in out


@pytest.mark.e2e
def test_other_hardware_baseline_is_refused_unless_allowed(saved, tmp_path):
    (run,) = saved_files(saved)
    data = json.loads(run.read_text())
    data["machine_info"]["unet_bench"].update(cpu="Some Other CPU", threads="64")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    out = _usage_error(suite(tmp_path, *FAST, "-k", "test_model", f"--benchmark-compare={other}"))
    assert "from other hardware (cpu: saved 'Some Other CPU'" in out
    assert "threads: saved '64'" in out
    assert "--allow-other-hardware" in out
    allowed = suite(
        tmp_path,
        *FAST,
        "-k",
        "test_model",
        f"--benchmark-compare={other}",
        "--allow-other-hardware",
    )
    assert allowed.returncode == 0, allowed.stdout


@pytest.mark.e2e
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_usage_error(tmp_path):
    """The suite's one usage error in a process of its own: exit 4 and no traceback as a user
    sees them; the others run in-process (drive.in_process)."""
    out = _usage_error(suite(tmp_path, "--device", "cuda"))
    assert "--device cuda: no CUDA device is available" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_do_bench_without_a_gpu_is_a_usage_error(pytester, tmp_path):
    out = _usage_error(in_process(pytester, tmp_path, "--do-bench"))
    assert "--do-bench needs a CUDA device" in out


@pytest.mark.e2e
def test_verdict_against_a_saved_run_with_samples(tmp_path):
    store = tmp_path / "store"
    args = [
        *FAST,
        "--benchmark-min-rounds=6",
        "-k",
        "test_upsample",
        f"--benchmark-storage=file://{store}",
    ]
    saved = suite(tmp_path, *args, "--benchmark-autosave", "--benchmark-save-data")
    assert saved.returncode == 0, saved.stdout
    # a huge minimum effect: this checks the machinery, not the noise of a shared CPU
    proc = suite(tmp_path, *args, "--benchmark-compare", "--verdict", "--min-effect=5")
    assert proc.returncode == 0, proc.stdout
    assert "noise-aware verdicts" in proc.stdout
    assert re.search(r"test_upsample\[up=transposed-bs=1\] +no change", proc.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "gpu"], "Unsupported --device 'gpu'"),
        (["--dtype", "fp16"], "Unsupported --dtype 'fp16'"),
        (["--batch-sizes", "1,x"], "--batch-sizes '1,x': expected comma-separated"),
        (["--verdict"], "--verdict compares against a saved run: add --benchmark-compare"),
        (["--warmup-time", "-1"], "--warmup-time '-1': expected a number >= 0 (seconds)"),
        (["--min-effect", "-2"], "--min-effect '-2': expected a number >= 0"),
        (["--min-effect", "nan"], "valid range [0, inf)"),
        (["--profile-time", "0"], "--profile-time '0': expected seconds > 0"),
    ],
)
def test_bad_options_are_usage_errors(pytester, tmp_path, args, message):
    assert message in _usage_error(in_process(pytester, tmp_path, *args))


@pytest.mark.e2e
def test_default_suite_has_the_52_cases_and_quick_covers_every_choice(tmp_path):
    full = suite(tmp_path, "--collect-only", "-q")
    ids = [line for line in full.stdout.splitlines() if "::test_" in line]
    assert len(ids) == 52  # 42 of the study's tables, 10 of the capacity group
    assert sum("::test_capacity[" in line for line in ids) == 10
    collected = suite(tmp_path, "--collect-only", "-q", "--quick").stdout.splitlines()
    assert not any("test_capacity" in line for line in collected)  # deselected, not skipped
    quick = [line for line in collected if "::test_model" in line]
    for choice in (
        "conv=standard",
        "conv=depthwise_separable",
        "norm=batch",
        "norm=layer",
        "norm=instance",
        "norm=group",
        "up=interpolate",
        "up=transposed",
    ):
        assert any(choice in line for line in quick), choice


@pytest.mark.e2e
def test_main_job_records_a_baseline_then_compares(tmp_path):
    store = tmp_path / "runs"
    cmd = [
        sys.executable,
        "-m",
        "unet.cli",
        "run",
        "--quick",
        *CPU,
        f"--storage={store}",
        "--",
        "-k",
        "test_upsample",
        "--benchmark-max-time=0.05",
        "--warmup-time=0",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "this run becomes its baseline" in first.stdout
    assert "recorded the first run (baseline)" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "comparing against" in second.stdout
    assert "noise-aware verdicts" in second.stdout  # the main job judges by default
    assert re.search(r"^verdicts: ", second.stdout, re.M)
    assert len(list(store.rglob("*.json"))) == 2
