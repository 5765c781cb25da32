"""Energy per inference (issue 23): NVML's total-energy counter on CUDA (a fake NVML here), RAPL
on a CPU (a fake powercap tree), and nothing at all where neither can be read."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from drive import suite

from unet.bench.measure.energy import CountedCalls, EnergyMeter, nvml_meter, rapl_meter
from unet.bench.results.record import CaseRecord


class FakeNVML:
    """The counter in mJ, 1.5 J more at every read; or, ``supported=False``, a GPU without it."""

    def __init__(self, supported: bool = True) -> None:
        self.supported, self.mj = supported, 10_000

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.supported:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        self.mj += 1_500
        return self.mj


def telemetry(nvml: FakeNVML) -> SimpleNamespace:
    return SimpleNamespace(nvml=nvml, handle="gpu0")


def test_nvml_energy_per_call_is_the_counters_change_over_the_calls():
    meter = nvml_meter(telemetry(FakeNVML()))
    assert meter is not None
    assert meter.source == "nvml"
    extra: dict[str, object] = {}
    calls = CountedCalls(lambda: None)
    with meter.around(extra, lambda: calls.calls):
        for _ in range(30):
            calls()
    assert calls.calls == 30
    assert extra["energy_j_per_call"] == pytest.approx(1.5 / 30)
    assert extra["power_w"] > 0
    assert extra["energy_source"] == "nvml"


def test_a_gpu_without_the_counter_or_without_nvml_records_nothing():
    assert nvml_meter(telemetry(FakeNVML(supported=False))) is None
    assert EnergyMeter.open(torch.device("cuda"), None) is None  # no NVML: no telemetry


def test_a_counter_that_fails_or_stands_still_gives_no_fields():
    readings = iter([5.0, 5.0])
    extra: dict[str, object] = {}
    with EnergyMeter(lambda: next(readings), "still").around(extra, lambda: 10):
        pass
    assert extra == {}

    def broken() -> float:
        raise OSError("permission denied")

    with EnergyMeter(broken, "broken").around(extra, lambda: 10):
        pass
    assert extra == {}


def _package(root, name: str, zone: str, uj: int, wrap: int = 262_143_328_850) -> None:
    d = root / name
    d.mkdir(parents=True)
    (d / "name").write_text(zone + "\n")
    (d / "energy_uj").write_text(f"{uj}\n")
    (d / "max_energy_range_uj").write_text(f"{wrap}\n")


def test_rapl_sums_the_packages_and_not_their_subzones(tmp_path):
    _package(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    _package(tmp_path, "intel-rapl:1", "package-1", 2_000_000)
    _package(tmp_path, "intel-rapl:0:0", "core", 999_000_000)  # inside package-0: not again
    meter = rapl_meter(tmp_path)
    assert meter is not None
    assert meter.source == "rapl package-0+package-1"
    assert meter.read_j() == pytest.approx(3.0)


def test_rapl_survives_a_wrap_of_its_counter(tmp_path):
    _package(tmp_path, "intel-rapl:0", "package-0", 999_000_000, wrap=1_000_000_000)
    meter = rapl_meter(tmp_path)
    assert meter.delta_j(999.0, 1.0) == pytest.approx(2.0)  # 1 J to the wrap, 1 J after


def test_no_powercap_or_a_root_only_counter_is_no_meter(tmp_path):
    assert rapl_meter(tmp_path / "absent") is None
    _package(tmp_path, "intel-rapl:0", "package-0", 1)
    (tmp_path / "intel-rapl:0" / "energy_uj").chmod(0)
    (tmp_path / "intel-rapl:0" / "energy_uj").unlink()  # as unreadable as it gets, even as root
    assert rapl_meter(tmp_path) is None


def test_the_record_holds_the_energy_fields_or_none():
    record = CaseRecord.from_extra(
        "c", "", {"energy_j_per_call": 0.05, "power_w": 300.0, "energy_source": "nvml"}
    )
    assert record.energy.energy_j_per_call == 0.05
    assert record.energy.power_w == 300.0
    assert CaseRecord.from_extra("c", "", {}).energy.energy_j_per_call is None
    assert "energy_j_per_call" not in CaseRecord.from_extra("c", "", {}).to_extra()


# a fake counter injected into the suite's process: 2 J more at every read
FAKE_METER = """
import pytest
from unet.bench.measure.energy import EnergyMeter

counter = [0.0]

def read():
    counter[0] += 2.0
    return counter[0]

@pytest.hookimpl(trylast=True)  # after the suite's plugin is registered
def pytest_configure(config):
    plugin = config.pluginmanager.get_plugin("unet-bench")
    plugin.state.runner.energy = EnergyMeter(read, "fake")
"""


@pytest.mark.e2e
def test_a_run_records_energy_per_call_where_a_counter_reads_and_nothing_where_none(tmp_path):
    args = ["--quick", "-k", "test_upsample and interpolate", "--benchmark-max-time=0.05"]
    out = tmp_path / "metered.json"
    proc = suite(tmp_path, *args, f"--benchmark-json={out}", plugin=FAKE_METER)
    assert proc.returncode == 0, proc.stdout
    (bench,) = json.loads(out.read_text())["benchmarks"]
    extra, stats = bench["extra_info"], bench["stats"]
    assert extra["energy_source"] == "fake"
    # 2 J over the calls of the rounds, calibration included: at least the rounds' calls
    calls = 2.0 / extra["energy_j_per_call"]
    assert calls >= stats["rounds"] * stats["iterations"]
    assert calls == pytest.approx(round(calls))
    plain = tmp_path / "plain.json"
    assert suite(tmp_path, *args, f"--benchmark-json={plain}").returncode == 0
    (bench,) = json.loads(plain.read_text())["benchmarks"]
    if rapl_meter() is None:  # this project's VMs expose no RAPL: absent, not zero
        assert not {"energy_j_per_call", "power_w", "energy_source"} & set(bench["extra_info"])
    else:
        assert bench["extra_info"]["energy_source"].startswith("rapl")
