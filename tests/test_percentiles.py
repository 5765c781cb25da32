"""Tail percentiles (issue 23): each only with enough rounds, in the record, compare, the report
and the A/B output; --gate-on judges one with the same confirm-by-rerun."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_report_compare import HW, calibrated, case, write_run

from unet.bench.results.record import CaseRecord
from unet.bench.results.runs import load_run, run_from_json
from unet.bench.stats.percentiles import MIN_SAMPLES, percentile, percentiles, shown_ms
from unet.bench.stats.verdict import (
    NO_CHANGE,
    REGRESSION,
    UNSURE,
    Thresholds,
    compare_samples,
)
from unet.cli import main


def test_a_percentile_needs_its_floor_of_samples():
    assert MIN_SAMPLES == {50: 5, 90: 64, 99: 662}  # MLPerf's for p90 and p99
    x = list(np.linspace(1.0, 2.0, 1000))
    assert percentile(x[:63], 90) is None
    assert percentile(x[:64], 90) == pytest.approx(np.percentile(x[:64], 90))
    assert percentile(x[:661], 99) is None
    assert percentile(x[:662], 99) == pytest.approx(np.percentile(x[:662], 99))
    assert set(percentiles(x[:100])) == {"p50_s", "p90_s"}
    assert shown_ms(None, 40, 99) == "too few (40 < 662)"
    assert shown_ms(0.0123, 700, 99) == "12.3"


def test_a_run_before_the_fields_gets_them_from_its_raw_samples():
    samples = list(np.linspace(0.01, 0.02, 100))
    old = CaseRecord.from_entry({"name": "c", "stats": {"data": samples}, "extra_info": {}})
    assert old.timing.p90_s is None
    assert old.percentile(90) == pytest.approx(np.percentile(samples, 90))
    assert old.percentile(99) is None
    new = CaseRecord.from_extra("c", "", {"p90_s": 0.5})
    assert new.percentile(90) == 0.5
    assert new.to_extra()["p90_s"] == 0.5


def _tail(rng: np.random.Generator, n: int, slow_tail: float) -> list[float]:
    """n rounds around 10 ms; the slowest 20 % made ``slow_tail`` slower."""
    x = np.sort(0.010 * (1 + 0.01 * rng.standard_normal(n)))
    x[int(0.8 * n) :] *= 1 + slow_tail
    return list(rng.permutation(x))


def test_gating_on_p90_sees_a_slower_tail_that_the_median_does_not():
    rng = np.random.default_rng(0)
    base, head = _tail(rng, 300, 0.0), _tail(rng, 300, 0.3)
    median = compare_samples("c", base, head, thresholds=Thresholds(0.03))
    assert median.outcome == NO_CHANGE  # the median did not move
    p90 = compare_samples("c", base, head, thresholds=Thresholds(0.03, statistic="p90"))
    assert p90.outcome == REGRESSION
    assert p90.statistic == "p90"
    assert p90.change == pytest.approx(0.3, abs=0.05)
    assert p90.base_p90 < p90.head_p90


def test_gating_on_p90_with_too_few_rounds_is_unsure_and_says_why():
    rng = np.random.default_rng(1)
    v = compare_samples(
        "c", _tail(rng, 40, 0), _tail(rng, 40, 1.0), thresholds=Thresholds(statistic="p90")
    )
    assert v.outcome == UNSURE
    assert v.note == "too few rounds for p90 (40 < 64)"


def test_gating_on_p90_keeps_its_false_alarm_rate_on_unchanged_code():
    """400 A/A comparisons of 200 rounds: at alpha 0.01 about 4 would be significant; the
    min-effect keeps most of those below it too."""
    rng = np.random.default_rng(2)
    alarms = sum(
        compare_samples(
            "c",
            list(0.01 * rng.lognormal(0, 0.05, 200)),
            list(0.01 * rng.lognormal(0, 0.05, 200)),
            thresholds=Thresholds(0.0, statistic="p90"),
        ).outcome
        == REGRESSION
        for _ in range(400)
    )
    assert alarms <= 8  # p < 0.01 two-sided: about 2 of 400 false regressions expected


def _tail_run(path, slow_tail: float, n: int, seed: int):
    rng = np.random.default_rng(seed)
    benches = []
    for name, rounds in (
        ("test_upsample[up=interpolate-bs=1]", n),
        ("test_norm[norm=batch-bs=1]", 20),
    ):
        data = _tail(rng, rounds, slow_tail)
        bench = case(name, 0.01, {"params": 1, "flops": 1, "mult_adds": 1, "unsupported_ops": []})
        q1, med, q3 = np.percentile(data, [25, 50, 75])
        bench["stats"].update(data=data, median=med, q1=q1, q3=q3, rounds=len(data))
        benches.append(bench)
    path.write_text(json.dumps({"machine_info": {"unet_bench": HW}, "benchmarks": benches}))
    return path


def test_compare_shows_p90_where_there_are_enough_rounds_and_gates_on_it(tmp_path, capsys):
    a = _tail_run(tmp_path / "a.json", 0.0, 300, 0)
    b = _tail_run(tmp_path / "b.json", 0.3, 300, 1)
    floors = calibrated(tmp_path, floor=0.05)
    from unet.bench.results.floors import Calibration, update_floors
    from unet.bench.stats.floors import Floor

    names = ["test_upsample[up=interpolate-bs=1]", "test_norm[norm=batch-bs=1]"]
    update_floors(
        floors, HW["key"], Calibration({n: Floor(0.05, 0.01, 8, 1e-3) for n in names}, "t", None)
    )
    assert main(["compare", str(a), str(b), "--markdown", "--floors", str(floors)]) == 0
    out = capsys.readouterr().out
    assert "p90 base → head" in out
    assert "p99 base → head" not in out  # no case has 662 rounds
    norm_row = next(line for line in out.splitlines() if "test_norm[" in line)
    assert "too few (20 < 64)" in norm_row
    gated = ["compare", str(a), str(b), "--markdown", "--floors", str(floors), "--gate-on=p90"]
    assert main(gated) == 1
    out = capsys.readouterr().out
    assert "| test_upsample[up=interpolate-bs=1] | regression |" in out
    assert "p90 change" in out
    assert "too few rounds for p90 (20 < 64)" in out
    with pytest.raises(SystemExit) as bad:
        main([*gated[:-1], "--gate-on=p95"])
    assert bad.value.code == 4


def test_the_report_marks_percentiles_with_too_few_rounds(tmp_path, capsys):
    assert main(["report", str(write_run(tmp_path / "run.json"))]) == 0
    out = capsys.readouterr().out
    assert "| p90 ms | p99 ms |" in out
    assert "too few (40 < 662)" in out  # 40 rounds: p90 none either
    assert "too few (40 < 64)" in out


def test_the_ab_summary_shows_energy_where_both_sides_read_it(tmp_path):
    from unet.bench.ab.result import ABResult
    from unet.bench.ab.summary import ab_markdown

    def side(joules: float):
        data = json.loads(write_run(tmp_path / "r.json").read_text())
        for bench in data["benchmarks"]:
            bench["extra_info"].update(
                energy_j_per_call=joules, power_w=250.0, energy_source="nvml"
            )
        return run_from_json(data)

    result = ABResult("main", base=side(0.02), head=side(0.03))
    text = ab_markdown(result, 1.0)
    assert "### Energy per call (recorded, not gated)" in text
    assert "| test_upsample[up=transposed-bs=1] | 0.02 | 0.03 | +50.0% | 250 / 250 |" in text
    plain = ABResult("main", base=load_run(write_run(tmp_path / "p.json")), head=None)
    assert "Energy" not in ab_markdown(plain, 1.0)


def test_the_suites_gate_on_option_is_checked_when_parsed(pytester, tmp_path):
    from drive import in_process

    proc = in_process(pytester, tmp_path, "--gate-on", "p95")
    assert proc.returncode == 4
    assert "Unsupported --gate-on 'p95'; did you mean 'p99'? Valid: median, p90, p99" in proc.stdout


def test_the_verdict_gate_judges_the_statistic_it_is_given():
    from unet.bench.suite.gates import VerdictGate

    rng = np.random.default_rng(3)
    base, head = _tail(rng, 300, 0.0), _tail(rng, 300, 0.3)
    from unet.bench.stats.floors import Floor, judge_between_runs

    floor = Floor(0.05, 0.01, 8, 1e-3)
    assert judge_between_runs("c", base, head, 0.03, floor).outcome == NO_CHANGE
    assert judge_between_runs("c", base, head, 0.03, floor, "p90").outcome == REGRESSION
    assert VerdictGate(0.03, None, 0.0).statistic == "median"
