import json
import time
from pathlib import Path

import pytest
import torch

from unet.bench.measure.hardware import (
    differing_fields,
    hardware_info,
    hardware_key,
    resolve_device,
)
from unet.bench.measure.timing import synchronized, warmup
from unet.bench.output.render import cost_change_table
from unet.bench.results.manifest import (
    ManifestError,
    cost_changes,
    load_manifest,
    write_manifest,
)
from unet.bench.results.storage import committed_baselines, save_baseline, unreadable
from unet.cli import main

H200 = {
    "device": "cuda",
    "device_name": "NVIDIA H200",
    "capability": "9.0",
    "driver": "570.86.15",
    "cuda": "12.8",
    "cudnn": "91002",
    "torch": "2.11.0",
}


def test_cpu_hardware_info_has_the_key_fields():
    info = hardware_info("cpu")
    assert info["threads"] == str(torch.get_num_threads())
    assert info["torch"] == torch.__version__
    key = hardware_key(info)
    assert key.startswith("cpu-")
    assert f"threads{torch.get_num_threads()}" in key


def test_cuda_key_is_readable_and_filesystem_safe():
    key = hardware_key(H200)
    assert key == "cuda-NVIDIA_H200-sm9.0-drv570.86.15-cu12.8-cudnn91002-torch2.11.0"


def test_differing_fields_names_each_changed_field():
    other = {**H200, "driver": "575.0", "device_name": "NVIDIA H100"}
    assert differing_fields(H200, other) == {
        "device_name": ("NVIDIA H100", "NVIDIA H200"),
        "driver": ("575.0", "570.86.15"),
    }
    assert differing_fields(H200, dict(H200)) == {}
    cross = differing_fields(hardware_info("cpu"), H200)
    assert cross["device"] == ("cuda", "cpu")


def test_resolve_device_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"Unsupported --device 'cdua'; did you mean 'cuda'"):
        resolve_device("cdua")
    assert resolve_device("cpu").type == "cpu"


def test_manifest_round_trip_and_changes(tmp_path):
    path = tmp_path / "m.json"
    with pytest.raises(ManifestError, match=r"m.json: no such file. Create it with: pytest "):
        load_manifest(path)  # a gate must not pass for want of its reference
    assert load_manifest(path, missing_ok=True) == {}  # when this run is about to write it
    entry = {"params": 3, "flops": 10, "mult_adds": 12, "unsupported_ops": ["b", "a"], "x": 1}
    write_manifest(path, {"case": entry})
    loaded = load_manifest(path)
    assert loaded == {
        "case": {"params": 3, "flops": 10, "mult_adds": 12, "unsupported_ops": ["a", "b"]}
    }
    assert cost_changes(loaded["case"], entry, None) == []
    assert cost_changes(loaded["case"], {**entry, "flops": 11, "unsupported_ops": []}, None) == [
        ("flops", 10, 11),
        ("unsupported_ops", ["a", "b"], []),
    ]
    table = cost_change_table([("case", "flops", 10_000, 11_000), ("case", "ops", ["a"], [])])
    assert "10,000" in table
    assert "11,000" in table
    assert "(none)" in table


def test_broken_manifest_is_an_error_not_an_empty_one(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="cannot read the cost manifest"):
        load_manifest(path)


def test_save_baseline_never_overwrites(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"benchmarks": []}))
    root = tmp_path / "baselines"
    first = save_baseline(run, "key", root)
    first.write_text("kept")
    second = save_baseline(run, "key", root)
    assert (first.name, second.name) == ("0001_baseline.json", "0002_baseline.json")
    assert first.read_text() == "kept"
    assert committed_baselines("key", root) == [first, second]


def test_unreadable_explains_why(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert "not valid JSON" in unreadable(bad)
    bad.write_text("[]")
    assert "no 'benchmarks' list" in unreadable(bad)
    bad.write_text('{"benchmarks": []}')
    assert unreadable(bad) is None
    assert "cannot read" in unreadable(tmp_path / "missing.json")


def test_warmup_honours_both_time_and_count():
    calls = []
    assert len(warmup(lambda: calls.append(1), min_time_s=0.0, min_iters=4)) == 4
    start = time.perf_counter()
    times = warmup(lambda: time.sleep(0.01), min_time_s=0.05, min_iters=1)
    assert time.perf_counter() - start >= 0.05
    assert len(times) >= 4
    assert min(times) >= 0.01  # each call's own seconds


def test_synchronized_is_transparent_on_cpu():
    fn = lambda: 7  # noqa: E731
    assert synchronized(fn, torch.device("cpu")) is fn


@pytest.mark.cuda
def test_device_time_and_peak_memory_on_cuda():
    from unet.bench.measure.timing import device_time, peak_memory_bytes

    x = torch.randn(64, 64, device="cuda")
    seconds, method = device_time(lambda: x @ x, torch.device("cuda"))
    assert seconds > 0
    assert method == "cuda_graph" or method.startswith("cuda_events")
    assert peak_memory_bytes(lambda: x @ x, torch.device("cuda")) > 0


def test_save_baseline_command_refuses_without_a_run(tmp_path, capsys):
    assert main(["save-baseline", "--storage", str(tmp_path / "empty")]) == 4
    assert "no local run for cpu-" in capsys.readouterr().err


def test_save_baseline_command_refuses_other_hardware(tmp_path, capsys):
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"benchmarks": [], "machine_info": {"unet_bench": {"key": "x"}}}))
    assert main(["save-baseline", "--run", str(run)]) == 4
    assert "was recorded on 'x', not on this machine's" in capsys.readouterr().err


def test_run_command_with_cuda_but_no_gpu(capsys):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    assert main(["run", "--device", "cuda"]) == 4
    assert "no CUDA device is available" in capsys.readouterr().err


def test_pytest_benchmark_version_range():
    from unet.bench.pbcompat import installed_version, version_problem

    assert version_problem(installed_version()) is None  # what the project installs
    for fine in ("5.1.0", "5.3.0", "5.99"):
        assert version_problem(fine, pytest_version="8.1.0") is None
    for fine in ("5.3.1", "5.99"):
        assert version_problem(fine, pytest_version="9.2.0") is None
    for old_or_new in ("5.0.1", "4.0.0", "6.0.0", "not installed"):
        assert f"found {old_or_new}" in version_problem(old_or_new, pytest_version="8.4.2")
    # pytest 9.2 removed an attribute that pytest-benchmark read before 5.3.1
    problem = version_problem("5.3.0", pytest_version="9.2.0")
    assert "needs pytest-benchmark >=5.3.1,<6 with pytest 9.2.0" in problem
    assert "pip install 'pytest-benchmark[histogram]>=5.3.1,<6'" in problem


def test_pyproject_requires_the_pytest_benchmark_range_the_code_checks():
    """pbcompat kept an unused REQUIREMENT string beside the range (issue 19); the range the
    version check enforces is what pyproject.toml installs."""
    from unet.bench.pbcompat import SUPPORTED

    low, high = SUPPORTED
    wanted = f'"pytest-benchmark[histogram]>={low},<{high}"'
    assert wanted in (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
