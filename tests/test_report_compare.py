"""report and compare subcommands on synthetic run files (no timing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from unet.bench.results.floors import Calibration, update_floors
from unet.bench.results.runs import RunError, load_run, merge_runs, require_samples
from unet.bench.stats.floors import NO_EVIDENCE, Floor
from unet.cli import main

HW = {
    "device": "cpu",
    "cpu": "Test CPU",
    "torch": "2.13.0",
    "threads": "2",
    "key": "cpu-Test",
    "tier": "full",
}


def case(name: str, median_s: float, extra: dict, seed: int = 0, n: int = 40) -> dict:
    data = list(median_s * (1 + 0.005 * np.random.default_rng(seed).standard_normal(n)))
    q1, med, q3 = np.percentile(data, [25, 50, 75])
    return {
        "name": name,
        "fullname": f"benchmarks/x.py::{name}",
        "group": "g",
        "extra_info": extra,
        "stats": {"data": data, "median": med, "q1": q1, "q3": q3, "iqr": q3 - q1, "rounds": n},
    }


def write_run(path: Path, scale: float = 1.0, params: int = 14_129_568, seed: int = 0) -> Path:
    costs = {"flops": 991_068_160, "mult_adds": 989_312_832, "unsupported_ops": []}
    benches = []
    for i, (conv, ms) in enumerate([("standard", 12.0), ("depthwise_separable", 5.0)]):
        for bs in (1, 32):
            name = f"test_model[conv={conv}-norm=batch-up=interpolate-bs={bs}]"
            extra = {
                "conv": conv,
                "norm": "batch",
                "upsample": "interpolate",
                "batch_size": bs,
                "params": params,
                **costs,
            }
            benches.append(case(name, ms * bs * scale * 1e-3, extra, seed + i + bs))
    for norm in ("batch", "layer", "instance", "group"):
        name = f"test_norm[norm={norm}-bs=1]"
        extra = {"norm": norm, "params": 2048, "per_application_s": 1e-5, **costs}
        benches.append(case(name, 0.01 * scale, extra, seed))
    name = "test_upsample[up=transposed-bs=1]"
    extra = {"upsample": "transposed", "params": 4_719_104, **costs, "flops": 18_874_368}
    benches.append(case(name, 0.005 * scale, extra, seed))
    path.write_text(json.dumps({"machine_info": {"unet_bench": HW}, "benchmarks": benches}))
    return path


def test_report_prints_the_three_tables_and_writes_a_plot(tmp_path, capsys):
    run = write_run(tmp_path / "run.json")
    assert main(["report", str(run), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "CPU Test CPU with 2 threads" in out
    assert "| standard | 14.13 | 14.13 | 989.31 | 989.31 | 991.07 | 12 | 13.0184 |" in out
    assert "| transposed | 4,719,104 | 4,719,104 | 989.31 | 75.51 | 18.87 |" in out
    assert "| batch | 2,048 | 2,048 | 0.01 | 0.0407 | – | 0.652 |" in out
    assert "4× its true work" in out
    png = tmp_path / "out" / "latency.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "out" / "report.md").read_text().startswith("# unet-bench report")


def test_report_of_a_broken_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main(["report", str(bad)]) == 4
    assert "not valid JSON" in capsys.readouterr().err


def test_compare_same_run_is_no_change(tmp_path, capsys):
    a = write_run(tmp_path / "a.json")
    b = write_run(tmp_path / "b.json", seed=7)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "regression" not in out
    assert "no change" in out


def calibrated(tmp_path: Path, floor: float = 0.1) -> Path:
    """A floors file calibrating every case of ``write_run`` for HW's key at ``floor``."""
    path = tmp_path / "noise_floors.json"
    names = [
        b["name"] for b in json.loads(write_run(tmp_path / "names.json").read_text())["benchmarks"]
    ]
    calibration = Calibration({n: Floor(floor, floor / 6, 8, 1e-3) for n in names}, "t", None)
    update_floors(path, HW["key"], calibration)
    return path


def test_compare_without_a_floor_calls_no_regression_only_the_cost_change(tmp_path, capsys):
    """Each run is one process: 20 % slower everywhere is what a slow process does here."""
    a = write_run(tmp_path / "a.json")
    b = write_run(tmp_path / "b.json", scale=1.2, params=14_000_000, seed=7)
    assert main(["compare", str(a), str(b), "--markdown", "--floors", str(tmp_path / "none")]) == 1
    out = capsys.readouterr().out
    assert "| test_model[conv=standard-norm=batch-up=interpolate-bs=1] | unsure |" in out
    assert "| regression |" not in out
    assert NO_EVIDENCE in out
    assert "Cost changes" in out
    assert "14,129,568" in out


def test_compare_flags_a_slowdown_beyond_the_calibrated_floor(tmp_path, capsys):
    a = write_run(tmp_path / "a.json")
    b = write_run(tmp_path / "b.json", scale=1.2, seed=7)
    inside = write_run(tmp_path / "c.json", scale=1.06, seed=7)
    floors = calibrated(tmp_path)
    assert main(["compare", str(a), str(inside), "--floors", str(floors)]) == 0
    assert "regression" not in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--markdown", "--floors", str(floors)]) == 1
    out = capsys.readouterr().out
    assert "| test_model[conv=standard-norm=batch-up=interpolate-bs=1] | regression |" in out
    line = next(x for x in out.splitlines() if "regression: test_model[conv=standard-" in x)
    assert line.endswith("(beyond a floor of 10.0%)")
    assert float(line.split()[-6].rstrip("%")) == pytest.approx(20, abs=0.5)


def test_floors_of_the_full_tier_judge_no_quick_or_untiered_run(tmp_path, capsys):
    """A floor holds between runs of the tier it was calibrated on; a quick run pair, or runs
    saved before runs recorded their tier, get no floor: unsure, and the output says why."""
    floors = calibrated(tmp_path)
    for tier in ("quick", None):
        a = write_run(tmp_path / "a.json")
        b = write_run(tmp_path / "b.json", scale=1.2, seed=7)
        for path in (a, b):
            data = json.loads(path.read_text())
            data["machine_info"]["unet_bench"]["tier"] = tier
            path.write_text(json.dumps(data))
        assert main(["compare", str(a), str(b), "--markdown", "--floors", str(floors)]) == 0
        out = capsys.readouterr().out
        assert "| regression |" not in out
        assert "No calibrated floors:" in out
        if tier == "quick":
            assert f"no quick-tier floors for {HW['key']} (it has the full tier)" in out
        else:
            assert "not of one recorded tier (base unrecorded, head unrecorded)" in out


def test_compare_refuses_other_hardware_and_runs_without_samples(tmp_path, capsys):
    a = write_run(tmp_path / "a.json")
    data = json.loads(a.read_text())
    data["machine_info"]["unet_bench"]["threads"] = "16"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    assert main(["compare", str(a), str(other)]) == 4
    assert "threads: base '2', head '16'" in capsys.readouterr().err
    assert main(["compare", str(a), str(other), "--allow-other-hardware"]) == 0
    for b in data["benchmarks"]:
        del b["stats"]["data"]
    other.write_text(json.dumps(data))
    assert main(["compare", str(a), str(other)]) == 4
    assert "no per-round samples" in capsys.readouterr().err


def test_merge_runs_concatenates_samples_and_keeps_costs(tmp_path):
    a = load_run(write_run(tmp_path / "a.json"))
    b = load_run(write_run(tmp_path / "b.json", seed=3))
    name = "test_upsample[up=transposed-bs=1]"
    del b.cases[name]["extra_info"]["flops"]
    merged = merge_runs([a, b])
    assert len(merged.samples(name)) == 80
    assert merged.cases[name]["extra_info"]["flops"] == 18_874_368
    require_samples(merged)
    a.cases[name]["stats"]["data"] = []
    with pytest.raises(RunError, match="no per-round samples"):
        require_samples(a)


def _with_profile(path: Path, case_name: str, ops: dict[str, list[float]], wall_s: float) -> None:
    data = json.loads(path.read_text())
    for bench in data["benchmarks"]:
        if bench["name"] == case_name:
            bench["extra_info"]["profile"] = {"calls": 10, "wall_s": wall_s, "ops": ops}
    data["commit_info"] = {"id": "abc123"}
    path.write_text(json.dumps(data))


def test_compare_attributes_a_regression_from_the_kept_profiles(tmp_path, capsys):
    name = "test_norm[norm=group-bs=1]"
    a = write_run(tmp_path / "a.json")
    b = write_run(tmp_path / "b.json", seed=7)
    data = json.loads(b.read_text())  # one case 50 % slower in b
    for bench in data["benchmarks"]:
        if bench["name"] == name:
            bench["stats"]["data"] = [x * 1.5 for x in bench["stats"]["data"]]
    b.write_text(json.dumps(data))
    _with_profile(a, name, {"aten::native_group_norm": [1, 0.008]}, 0.010)
    _with_profile(
        b, name, {"aten::native_group_norm": [1, 0.008], "aten::clone": [1, 0.005]}, 0.015
    )
    assert main(["compare", str(a), str(b), "--floors", str(calibrated(tmp_path))]) == 1
    out = capsys.readouterr().out
    section = out.split(f"\n{name} (confirmed regression)\n")[1]
    assert section.splitlines()[2].split()[:3] == ["aten::clone", "0", "1"]  # top row
    assert f"repro: unet-bench explain '{name}' --base abc123 --device cpu" in section


def test_an_unconfirmed_change_is_attributed_without_shares(tmp_path, capsys):
    """A cost change whose time change no verdict confirmed: per-operator deltas, no share of a
    net change that may be noise (shares of -2355 % were printed for one, issue 20)."""
    name = "test_model[conv=standard-norm=batch-up=interpolate-bs=1]"
    a = write_run(tmp_path / "a.json")
    b = write_run(tmp_path / "b.json", seed=7, params=1)
    _with_profile(a, name, {"aten::native_group_norm": [1, 0.008]}, 0.010)
    _with_profile(b, name, {"aten::native_group_norm": [1, 0.0081]}, 0.0100)
    assert main(["compare", str(a), str(b), "--floors", str(tmp_path / "none")]) == 1
    section = capsys.readouterr().out.split(f"\n{name} (cost change)\n")[1]
    assert "Δ ms" in section
    assert "share of Δ" not in section
    assert "not a confirmed one: deltas without shares" in section
