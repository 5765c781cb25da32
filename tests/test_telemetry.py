"""GPU telemetry with a fake NVML (on the CPU): readings, throttle detection, verdicts made
unsure, and the suite marking a throttled case end to end."""

from __future__ import annotations

import json
import re
import sys
from types import SimpleNamespace

import pytest
import torch
from drive import FAST, saved_files, suite

from unet.bench.measure.telemetry import Telemetry, throttle_reasons
from unet.bench.stats.verdict import NO_CHANGE, REGRESSION, UNSURE, Verdict, demote

FAKE_NVML = '''
class FakeNVML:
    """pynvml's functions as this test needs them: a GPU at 91 C in a hardware thermal
    slowdown (and idle, which is no slowdown), its thermal violation time growing per read."""

    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0

    def __init__(self, reasons=0x40 | 0x1):
        self.reasons, self.reads = reasons, 0

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle):
        return self.reasons

    def nvmlDeviceGetClockInfo(self, handle, which):
        return 1410 if which == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetMaxClockInfo(self, handle, which):
        return 1410 if which == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetTemperature(self, handle, sensor):
        return 91

    def nvmlDeviceGetPowerUsage(self, handle):
        return 612_500  # mW

    def nvmlDeviceGetViolationStatus(self, handle, policy):
        if policy == 0:  # power: not supported on this "GPU"
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        self.reads += 1

        class Violation:
            violationTime = self.reads * 400_000_000 if self.reasons & 0x40 else 0

        return Violation()
'''
INSTALL_FAKE = (
    FAKE_NVML
    + """
import pytest
from unet.bench.measure.telemetry import Telemetry


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    state = session.config.pluginmanager.get_plugin("unet-bench").state
    state.runner.telemetry = Telemetry(FakeNVML(), handle="gpu0")
"""
)
namespace: dict = {}
exec(FAKE_NVML, namespace)
FakeNVML = namespace["FakeNVML"]


def test_a_sample_reads_clocks_temperature_power_and_the_slowdowns():
    sample = Telemetry(FakeNVML(), "gpu0").sample()
    assert sample["sm_clock_mhz"] == 1410
    assert sample["mem_clock_mhz"] == 2619
    assert sample["temperature_c"] == 91
    assert sample["power_w"] == 612.5
    assert sample["slowdowns"] == ["hw_thermal_slowdown"]  # idle (0x1) is no slowdown
    assert sample["violation_ns"] == {"power": None, "thermal": 400_000_000}
    assert sample["max_sm_clock_mhz"] == 1410


def test_throttling_shows_at_either_end_or_as_violation_time_during_the_rounds():
    calm = {"slowdowns": [], "violation_ns": {"thermal": 5, "power": None}}
    assert throttle_reasons(calm, calm, 0.1) == []
    hot = {**calm, "slowdowns": ["sw_thermal_slowdown"]}
    assert throttle_reasons(calm, hot, 0.1) == ["sw_thermal_slowdown"]
    capped = {**calm, "slowdowns": ["sw_power_cap"]}  # a power cap alone: recorded, not throttled
    assert throttle_reasons(calm, capped, 0.1) == []
    came_and_went = {"slowdowns": [], "violation_ns": {"thermal": 5 + 30_000_000, "power": None}}
    assert throttle_reasons(calm, came_and_went, 0.1) == ["thermal violation 30 ms of 100 ms"]
    fine = Telemetry(FakeNVML(reasons=0x1), "gpu0")
    assert throttle_reasons(fine.sample(), fine.sample(), 10.0) == []


def test_no_nvml_or_no_gpu_means_no_telemetry(monkeypatch):
    assert Telemetry.open(torch.device("cpu")) is None
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed
    assert Telemetry.open(torch.device("cuda", 0)) is None


def verdict(outcome: str) -> Verdict:
    return Verdict(
        "c", outcome, 1e-3, 1.3e-3, 0.3, 1e-6, (1e-3, 1e-3), (1.3e-3, 1.3e-3), 0.0, 0.0, 30, 30
    )


def test_a_throttled_side_makes_a_regression_unsure_with_the_reason():
    hot = ["hw_thermal_slowdown"]
    demoted = demote(verdict(REGRESSION), [], hot)
    assert demoted.outcome == UNSURE
    assert demoted.note == "GPU throttled during the rounds (head: hw_thermal_slowdown)"
    assert demote(verdict(REGRESSION), [], []).outcome == REGRESSION
    assert demote(verdict(NO_CHANGE), hot, []).outcome == NO_CHANGE


def test_process_block_ab_demotes_a_verdict_on_a_throttled_process(monkeypatch, tmp_path):
    """The legacy process-block A/B judged throttled processes like any other (issue 19): a
    re-measuring process that ran throttled now makes its case's regression unsure."""
    from unet.bench.ab import legacy
    from unet.bench.ab.result import ABMode, ABResult
    from unet.bench.results.runs import Run

    def run(median: float, reasons: list[str]) -> Run:
        data = [median * (1 + 0.001 * i) for i in range(10)]
        extra = {"params": 1, "telemetry": {"throttled": reasons}}
        entry = {"fullname": "b.py::c", "stats": {"data": data}, "extra_info": extra}
        return Run(path=None, cases={"c": entry})

    calls = []

    def processes(settings, trees, count, first, node_ids=None):
        calls.append(first)
        hot = ["sm_clock 40% of max"] if first else []  # the re-measurement ran throttled
        return {
            "base": [run(1.0, []) for _ in range(count)],
            "head": [run(2.0 + 0.01 * i, hot) for i in range(count)],
        }

    monkeypatch.setattr(legacy, "_processes", processes)
    settings = SimpleNamespace(min_effect=0.03)
    result = legacy.measure_in_process_blocks(settings, {}, ABResult("b", ABMode.PROCESS_BLOCKS))
    assert calls == [0, legacy.PROCESSES_PER_SIDE]  # suspected, so measured again
    (v,) = result.verdicts
    assert v.outcome == UNSURE
    assert "head: sm_clock 40% of max" in v.note


@pytest.mark.e2e
def test_the_suite_marks_a_throttled_case_and_its_verdict_is_unsure(tmp_path):
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
    # the compared run is 3x slower than anything: without the telemetry a sure improvement
    run = saved_files(store)[0]
    data = json.loads(run.read_text())
    for case in data["benchmarks"]:
        case["stats"]["data"] = [x * 3 for x in case["stats"]["data"]]
    run.write_text(json.dumps(data))
    proc = suite(
        tmp_path,
        *args,
        "--benchmark-compare",
        "--verdict",
        "--benchmark-json=j.json",
        plugin=INSTALL_FAKE,
    )
    assert proc.returncode == 0, proc.stdout
    assert "GPU throttled during the rounds" in proc.stdout
    row = re.search(r"test_upsample\[up=interpolate-bs=1\] +unsure .*\[(\d)\]$", proc.stdout, re.M)
    assert row is not None, proc.stdout
    assert re.search(  # the row's note, once below the table
        rf"^\[{row.group(1)}\] GPU throttled during the rounds \(head: hw_thermal_slowdown, "
        r"thermal violation 400 ms of \d+ ms\)",
        proc.stdout,
        re.M,
    )
    cases = json.loads((tmp_path / "j.json").read_text())["benchmarks"]
    telemetry = cases[0]["extra_info"]["telemetry"]
    assert telemetry["throttled"][0] == "hw_thermal_slowdown"
    assert re.fullmatch(r"thermal violation 400 ms of \d+ ms", telemetry["throttled"][1])
    assert telemetry["before"]["temperature_c"] == 91


def _run(throttled_by_process: list[list[str]]):
    from unet.bench.results.runs import merge_runs, run_from_json

    runs = []
    for reasons in throttled_by_process:
        case = {
            "name": "test_upsample[up=interpolate-bs=1]",
            "group": "upsample",
            "stats": {"median": 1e-3, "iqr": 1e-5, "rounds": 3, "data": [1e-3] * 3},
            "extra_info": {"telemetry": {"throttled": reasons}},
        }
        runs.append(run_from_json({"machine_info": {}, "benchmarks": [case]}))
    return merge_runs(runs)


def test_a_side_throttled_when_any_of_its_processes_was_and_the_report_says_so():
    from unet.bench.output.report import latency_table

    merged = _run([[], ["sw_power_cap"], ["hw_thermal_slowdown"]])
    extra = merged.cases["test_upsample[up=interpolate-bs=1]"]["extra_info"]
    assert extra["telemetry"]["throttled"] == ["hw_thermal_slowdown", "sw_power_cap"]
    assert "| ⚠ hw_thermal_slowdown, sw_power_cap |" in latency_table(merged)
    assert "| no |" in latency_table(_run([[]]))
