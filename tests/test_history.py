"""unet-bench history: synthetic runs with known steps, flat runs, a creep, exact cost steps."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from unet.bench.history.findings import LATENCY, all_findings
from unet.bench.history.series import load_history
from unet.bench.history.steps import CREEP, STEP, detect_changes
from unet.cli import main

KEY = "cpu-Test_CPU-torch2.13.0_cpu-threads2"
CASE, OTHER = "test_model[conv=standard-bs=1]", "test_model[conv=depthwise_separable-bs=1]"


def write_run(
    folder: Path,
    n: int,
    medians: dict[str, float],
    *,
    key: str = KEY,
    flops: dict[str, int] | None = None,
    seed: int = 0,
    commit: str | None = None,
    ran: str | None = None,
) -> Path:
    """A pytest-benchmark run file of commit ``n`` (time n minutes past 10:00) with 30 rounds
    per case around ``medians`` (1 % noise)."""
    rng = np.random.default_rng(seed * 1000 + n)
    benchmarks = []
    for name, median in medians.items():
        data = (median * (1 + rng.normal(0, 0.01, 30))).tolist()
        extra = {"params": 100, "flops": (flops or {}).get(name, 1000), "total_ops": 45}
        benchmarks.append(
            {
                "name": name,
                "group": "model 1x3x64x64",
                "extra_info": extra,
                "stats": {"median": float(np.median(data)), "data": data},
            }
        )
    sha = commit or f"{n:02d}" + "a" * 38
    data = {
        "machine_info": {"unet_bench": {"key": key}},
        "commit_info": {"id": sha, "time": f"2026-11-01T10:{n:02d}:00+00:00", "dirty": False},
        "datetime": ran or f"2026-11-01T11:{n:02d}:00",
        "benchmarks": benchmarks,
    }
    path = folder / f"{n:04d}_{sha[:7]}_{seed}.json"
    path.write_text(json.dumps(data))
    return path


def history_of(folder: Path):
    found = all_findings(load_history(sorted(folder.glob("*.json")), KEY))
    return {(f.case, f.field): f for f in found}, found


def test_a_15_percent_step_at_run_4_of_8_is_found_at_its_commit_range(tmp_path):
    for n in range(1, 9):
        write_run(tmp_path, n, {CASE: 0.010 * (1.15 if n >= 4 else 1.0), OTHER: 0.005})
    by, found = history_of(tmp_path)
    step = by[(CASE, LATENCY)]
    assert step.change.kind == STEP
    assert (step.start.id[:2], step.end.id[:2]) == ("03", "04")  # the cause is in 03..04
    assert step.change.change == pytest.approx(0.15, abs=0.02)
    assert [f for f in found if f.case == OTHER] == []


def test_flat_runs_have_no_step():
    rng = np.random.default_rng(7)
    for _ in range(50):
        assert detect_changes(0.010 * (1 + rng.normal(0, 0.01, 8))) == []


def test_a_creep_of_2_percent_per_run_over_5_runs_is_reported_from_its_start(tmp_path):
    for n in range(1, 9):
        write_run(tmp_path, n, {CASE: 0.010 * 1.02 ** max(0, n - 3)})
    by, _ = history_of(tmp_path)
    creep = by[(CASE, LATENCY)]
    assert creep.change.kind == CREEP
    assert creep.start.id[:2] in ("02", "03")
    assert creep.end.id[:2] == "08"
    assert creep.change.change == pytest.approx(1.02**5 - 1, abs=0.03)


def test_an_exact_field_steps_exactly_and_runs_of_one_commit_are_pooled(tmp_path):
    for n in range(1, 7):
        write_run(tmp_path, n, {CASE: 0.010}, flops={CASE: 1000 if n < 5 else 1200})
    write_run(
        tmp_path, 6, {CASE: 0.010}, flops={CASE: 1200}, seed=1, ran="2026-11-01T12:00:00"
    )  # a second run of 06
    copy = tmp_path / "copy_of_run_1.json"  # e.g. a committed baseline copied from a local run
    copy.write_text((tmp_path / "0001_01aaaaa_0.json").read_text())
    history = load_history(sorted(tmp_path.glob("*.json")), KEY)
    assert [p.runs for p in history.cases[CASE].points] == [1, 1, 1, 1, 1, 2]
    assert [why for _, why in history.skipped] == [
        f"the same run as {tmp_path}/0001_01aaaaa_0.json"
    ]
    by, _ = history_of(tmp_path)
    flops = by[(CASE, "flops")]
    assert (flops.start.id[:2], flops.end.id[:2], flops.change.after) == ("04", "05", 1200)
    assert (CASE, LATENCY) not in by


def test_command_writes_the_page_pngs_and_summary_and_skips_other_keys(tmp_path, capsys):
    runs = tmp_path / "artifacts"
    for n in range(1, 9):
        (runs / f"job{n}").mkdir(parents=True)
        write_run(runs / f"job{n}", n, {CASE: 0.010 * (1.2 if n >= 5 else 1.0)})
    write_run(runs, 9, {CASE: 0.5}, key="cuda-Other_GPU")
    (runs / "notes.json").write_text("[]")
    out = tmp_path / "out"
    assert main(["history", str(runs), "--key", KEY, "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "skipped" in said.err
    assert "cuda-Other_GPU" in said.err
    assert "notes.json" in said.err
    page = (out / "index.html").read_text()
    assert page.count("<svg") >= 2  # the latency chart and the exact costs
    # each point's hover text: case, commit, time, median and CI
    hover = r"commit 05aaaaa \(2026-11-01T10:05:00\+00:00\)\nmedian 1[12]\.\d+ ms, 95 % CI 1"
    assert re.search(hover, page)
    assert re.search(r">conv=standard-bs=1 [+]\d\d\.\d%</text>", page)  # the step's marker
    assert (out / "model_1x3x64x64.png").stat().st_size > 10_000
    summary = (out / "history.md").read_text()
    assert "| test_model[conv=standard-bs=1] | latency | step | `04aaaaa..05aaaaa` |" in summary
    assert json.loads((out / "history.json").read_text())["findings"][0]["kind"] == "step"


def test_no_run_of_the_key_is_a_usage_error_naming_the_keys_found(tmp_path, capsys):
    write_run(tmp_path, 1, {CASE: 0.01}, key="cuda-Other_GPU")
    assert main(["history", str(tmp_path), "--key", KEY, "--out", str(tmp_path / "o")]) == 4
    err = capsys.readouterr().err
    assert f"no run of hardware key {KEY}" in err
    assert "cuda-Other_GPU (1 runs)" in err
    assert not (tmp_path / "o").exists()
