"""Verdicts between runs (issue 20): calibrated floors and their false-alarm rate, `unsure` without
evidence about the noise between processes, unstable cases not gated, and the floors file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from unet.bench.output.render import floor_table, verdict_summary, verdict_table
from unet.bench.results.floors import (
    FULL,
    QUICK,
    UNRECORDED,
    Calibration,
    FloorsError,
    calibrated_tiers,
    calibration_for,
    load_floors,
    update_floors,
)
from unet.bench.stats.floors import (
    NO_EVIDENCE,
    UNSTABLE_LIMIT,
    Floor,
    calibrated_floor,
    detection_limit,
    judge_between_runs,
)
from unet.bench.stats.verdict import NO_CHANGE, NOT_GATED, REGRESSION, UNSURE


def one_process(median: float, rng: np.random.Generator, n: int = 30) -> list[float]:
    """The rounds of one process: tight around its own median (0.5 % jitter)."""
    return list(median * (1 + 0.005 * rng.standard_normal(n)))


def test_a_floor_keeps_its_false_alarm_rate_over_many_simulated_calibrations():
    """Calibrate on 8 processes, then compare two fresh processes of the same code: the share of
    comparisons beyond the floor is the stated rate (here 5 %, to count it in 4000 tries)."""
    rng = np.random.default_rng(1)
    alpha, tries, spread = 0.05, 4000, 0.04
    beyond = 0
    for _ in range(tries):
        floor = calibrated_floor(list(np.exp(spread * rng.standard_normal(8))), alpha=alpha)
        a, b = np.exp(spread * rng.standard_normal(2))
        beyond += abs(b / a - 1) >= floor.floor
    assert 0.035 * tries < beyond < 0.065 * tries  # binomial: 200 +- 14 expected


def test_a_floor_grows_with_the_spread_and_shrinks_with_processes():
    rng = np.random.default_rng(2)
    logs = rng.standard_normal(16)
    quiet, loud = (calibrated_floor(list(np.exp(s * logs))) for s in (0.01, 0.05))
    assert 0 < quiet.floor < loud.floor
    assert loud.log_spread == pytest.approx(5 * quiet.log_spread)
    few = calibrated_floor(list(np.exp(0.03 * logs[:4])))
    many = calibrated_floor(list(np.exp(0.03 * logs[:4].repeat(4))))  # same spread, more
    assert many.floor < few.floor  # a spread known from more processes allows less
    with pytest.raises(ValueError, match="at least 4"):
        calibrated_floor([1.0, 1.1, 0.9])


def test_a_process_level_shift_without_calibration_is_unsure_never_a_regression():
    """Two runs of unchanged code, the second process 30 % slower, as this machine does: the
    rounds' rank test says p ~ 1e-11, and still no regression can be called."""
    rng = np.random.default_rng(3)
    base, head = one_process(1e-3, rng), one_process(1.3e-3, rng)
    verdict = judge_between_runs("case", base, head, 0.03, None)
    assert verdict.p_value < 1e-6
    assert verdict.outcome == UNSURE
    assert verdict.note == NO_EVIDENCE
    quiet = judge_between_runs("case", base, one_process(1.001e-3, rng), 0.03, None)
    assert (quiet.outcome, quiet.note) == (NO_CHANGE, "")


def test_a_calibrated_floor_turns_a_shift_inside_it_into_no_change_and_beyond_into_regression():
    rng = np.random.default_rng(4)
    floor = Floor(floor=0.12, log_spread=0.02, processes=8, median_s=1e-3)
    base = one_process(1e-3, rng)
    inside = judge_between_runs("case", base, one_process(1.08e-3, rng), 0.03, floor)
    assert inside.outcome == NO_CHANGE
    beyond = judge_between_runs("case", base, one_process(1.25e-3, rng), 0.03, floor)
    assert beyond.outcome == REGRESSION
    assert beyond.noise_floor == 0.12
    assert detection_limit(0.03, floor) == 0.12
    assert detection_limit(0.2, floor) == 0.2
    assert detection_limit(0.03, None) is None


def test_an_unstable_case_is_not_gated_and_is_listed():
    rng = np.random.default_rng(5)
    floor = Floor(floor=0.4, log_spread=0.1, processes=8, median_s=1e-3)
    assert floor.unstable
    assert UNSTABLE_LIMIT < 0.4
    verdict = judge_between_runs(
        "wild", one_process(1e-3, rng), one_process(2e-3, rng), 0.03, floor
    )
    assert verdict.outcome == NOT_GATED
    assert "unstable here: floor 40.0% > 25%" in verdict.note
    assert detection_limit(0.03, floor) is None
    summary = verdict_summary([verdict])
    assert "not gated: wild: unstable here" in summary
    assert "1 not gated" in summary


def test_the_summary_says_why_cases_are_unsure_once_and_the_table_footnotes_it():
    rng = np.random.default_rng(6)
    base = one_process(1e-3, rng)
    verdicts = [
        judge_between_runs(f"c{i}", base, one_process(1.3e-3, rng), 0.03, None) for i in range(3)
    ]
    summary = verdict_summary(verdicts, [("c0", "params", 1, 2)])
    assert summary.splitlines()[0] == "verdicts: 3 unsure; 1 case(s) with cost changes"
    assert summary.count(NO_EVIDENCE) == 1
    table = verdict_table(verdicts)
    assert table.count(NO_EVIDENCE) == 1  # once, as footnote [1]
    assert table.count("[1]") == 4


def test_the_floors_file_keeps_other_keys_tiers_and_cases_and_says_what_it_replaced(tmp_path):
    path = tmp_path / "noise_floors.json"
    assert load_floors(path) == {}
    a = Floor(0.05, 0.01, 8, 1e-3)
    b = Floor(0.30, 0.08, 8, 2e-3)
    assert update_floors(path, "cpu-X", Calibration({"a": a, "b": b}, "t1", "abc")) == []
    assert update_floors(path, "cpu-X", Calibration({"a": b}, "t2", None, tier=QUICK)) == []
    assert update_floors(path, "cpu-Y", Calibration({"a": b}, "t2", None)) == []
    replaced = update_floors(path, "cpu-X", Calibration({"b": a}, "t3", "def"))
    assert replaced == ["b"]
    x = calibration_for("cpu-X", FULL, path)
    assert x is not None
    assert (x.cases, x.commit, x.tier) == ({"a": a, "b": a}, "def", FULL)
    assert calibration_for("cpu-X", QUICK, path).cases == {"a": b}  # untouched by the full one
    assert calibrated_tiers("cpu-X", path) == [FULL, QUICK]
    assert calibration_for("cpu-Y", FULL, path).cases == {"a": b}
    assert calibration_for("cpu-Y", QUICK, path) is None
    assert calibration_for("cpu-Z", FULL, path) is None
    assert json.loads(path.read_text())["schema"] == 2
    assert "unstable here: not gated" in floor_table({"b": b})
    path.write_text("{")
    with pytest.raises(FloorsError, match="cannot read the noise floors"):
        load_floors(path)


def test_a_schema_1_file_is_kept_but_its_untiered_floors_apply_to_no_run(tmp_path):
    path = tmp_path / "noise_floors.json"
    old = {
        "calibrated_at": "t0",
        "commit": None,
        "alpha": 0.002,
        "cases": {"a": {"floor": 0.1, "log_spread": 0.01, "processes": 8, "median_s": 1e-3}},
    }
    path.write_text(json.dumps({"schema": 1, "keys": {"cpu-X": old}}))
    assert calibration_for("cpu-X", FULL, path) is None
    assert calibration_for("cpu-X", QUICK, path) is None
    update_floors(path, "cpu-X", Calibration({"b": Floor(0.05, 0.01, 8, 1e-3)}, "t1", None))
    assert calibration_for("cpu-X", UNRECORDED, path).cases["a"].floor == 0.1  # not lost
    assert set(calibration_for("cpu-X", FULL, path).cases) == {"b"}


def test_the_floor_is_the_prediction_bound_of_two_new_processes():
    """exp(t(n-1) * sqrt(2) * s) - 1 for the log medians' standard deviation s."""
    from scipy import stats

    medians = [1.0, 1.02, 0.98, 1.05, 0.97, 1.01]
    s = float(np.std(np.log(medians), ddof=1))
    expected = math.expm1(stats.t.isf(0.001, 5) * math.sqrt(2) * s)
    assert calibrated_floor(medians).floor == pytest.approx(expected)


def test_the_spread_within_generations_leaves_the_drift_between_them_out():
    """Two generations of four processes, the second 30 % slower throughout: the whole
    calibration's spread holds that drift, the paired one (what an A/B's processes of one
    generation differ by) does not; both survive the floors file."""
    rng = np.random.default_rng(21)
    first = list(np.exp(0.01 * rng.standard_normal(4)))
    second = list(1.3 * np.exp(0.01 * rng.standard_normal(4)))
    floor = calibrated_floor(first + second, generations=[first, second])
    assert floor.log_spread > 0.1
    assert floor.paired_spread < 0.03
    assert floor.paired() == (floor.paired_spread, 6)
    assert Floor.from_dict(floor.as_dict()) == floor
    # calibrations written before the paired spread was recorded: the whole spread stands in
    older = Floor.from_dict({k: v for k, v in floor.as_dict().items() if "paired" not in k})
    assert older.paired() == (older.log_spread, 7)
