"""The run's axes (train or inference, dtype, memory format): ids, storage, identity, and the
training step that --mode train times."""

from __future__ import annotations

import json

import pytest
import torch
from drive import FAST, in_process, saved_files, suite
from torch import nn

from unet.bench.measure.settings import SuiteOptions
from unet.bench.measure.workload import place, workload
from unet.bench.results.axes import differing_axes, id_suffix, key_suffix

TRAIN = [*FAST, "--mode", "train"]


def test_ids_and_keys_carry_only_the_axes_off_their_defaults():
    defaults = {"mode": "inference", "dtype": "float32", "channels_last": False}
    assert id_suffix(defaults) == ""
    changed = {"mode": "train", "dtype": "bfloat16", "channels_last": True}
    assert id_suffix(changed) == "-mode=train-dtype=bfloat16-channels_last"
    assert key_suffix({"mode": "train"}) == "-mode_train"


def test_a_run_saved_before_axes_existed_compares_as_the_defaults():
    old = {"device": "cpu", "dtype": "float32"}  # no "mode", no "channels_last"
    assert (
        differing_axes({"mode": "inference", "dtype": "float32", "channels_last": False}, old) == {}
    )
    assert differing_axes({"mode": "train", "dtype": "float32"}, old) == {
        "mode": ("inference", "train")
    }


def test_a_training_step_updates_weights_and_batch_statistics():
    options = SuiteOptions.defaults(torch.device("cpu"), mode="train")
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    model, x = place(options, model, torch.randn(2, 3, 8, 8))
    assert model.training
    weight, mean = model[0].weight.detach().clone(), model[1].running_mean.clone()
    step = workload(options, model, x, repeat=2)
    with options.grad_mode():
        out = step()
    assert not out.requires_grad
    assert not torch.equal(model[0].weight, weight)  # SGD stepped
    assert not torch.equal(model[1].running_mean, mean)  # batch statistics were used
    assert int(model[1].num_batches_tracked) == 2
    assert model[0].weight.grad is None  # freed after each step


@pytest.mark.e2e
def test_train_mode_quick_tier_passes_and_records_train_flops(tmp_path):
    out = tmp_path / "train.json"
    proc = suite(tmp_path, *TRAIN, f"--benchmark-json={out}")
    assert proc.returncode == 0, proc.stdout
    cases = json.loads(out.read_text())["benchmarks"]
    assert len(cases) == 10
    assert all(c["name"].endswith("-mode=train]") for c in cases)
    models = [c["extra_info"] for c in cases if c["name"].startswith("test_model[")]
    assert len(models) == 4
    for extra in models:
        assert extra["mode"] == "train"
        assert 2.5 <= extra["train_flops"] / extra["flops"] <= 3.1
        assert extra["train_flops"] == extra["flops"] + extra["backward_flops"]
    info = json.loads(out.read_text())["machine_info"]["unet_bench"]
    assert info["mode"] == "train"
    assert info["key"].endswith("-mode_train")


@pytest.mark.e2e
def test_a_train_run_compared_with_an_inference_run_is_refused(tmp_path):
    saved = suite(tmp_path, *FAST, "-k", "test_upsample", "--benchmark-autosave")
    assert saved.returncode == 0, saved.stdout
    (inference_run,) = saved_files(tmp_path / "store")
    proc = suite(tmp_path, *TRAIN, "-k", "test_upsample", f"--benchmark-compare={inference_run}")
    assert proc.returncode == 4, proc.stdout
    assert "the saved run measured other settings (mode: saved 'inference', here 'train')" in (
        proc.stdout
    )


@pytest.mark.parametrize(("args", "message"), [(["--mode", "training"], "Unsupported --mode")])
def test_a_bad_mode_is_a_usage_error(pytester, tmp_path, args, message):
    proc = in_process(pytester, tmp_path, *args)
    assert proc.returncode == 4
    assert message in proc.stdout


@pytest.mark.e2e
def test_autocast_quick_tier_keeps_float32_weights_and_its_own_ids(tmp_path):
    out = tmp_path / "autocast.json"
    proc = suite(
        tmp_path, *FAST, "-k", "test_model", "--autocast", "bfloat16", f"--benchmark-json={out}"
    )
    assert proc.returncode == 0, proc.stdout
    cases = json.loads(out.read_text())["benchmarks"]
    assert len(cases) == 4
    for case in cases:
        assert case["name"].endswith("-autocast=bfloat16]")
        extra = case["extra_info"]
        assert (extra["dtype"], extra["autocast"]) == ("float32", "bfloat16")
        assert extra["counted_on"] == "cpu/float32/autocast=bfloat16"
        assert extra["ops"]["aten._to_copy"] > 0  # autocast's casts, counted like any op


def test_autocast_with_a_cast_dtype_is_a_usage_error(pytester, tmp_path):
    proc = in_process(pytester, tmp_path, "--autocast", "float16", "--dtype", "bfloat16")
    assert proc.returncode == 4
    assert "--autocast float16 runs float32 weights in lower precision" in proc.stdout


def test_help_lists_the_axis_options_and_hides_the_workers_own(pytester, tmp_path):
    proc = in_process(pytester, tmp_path, "--help")
    assert proc.returncode == 0, proc.stdout
    for option in ("--mode=MODE", "--autocast=AUTOCAST", "--allow-other-hardware"):
        assert option in proc.stdout
    # options only the processes that ab and explain start use (issue 19)
    for hidden in ("--skip-costs", "--profile-dir", "--profile-time"):
        assert hidden not in proc.stdout
    assert "both refusals are waived" in " ".join(proc.stdout.split())
