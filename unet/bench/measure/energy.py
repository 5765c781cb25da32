"""Energy per inference: a cumulative energy counter read around a case's timed rounds.

On CUDA, NVML's total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, millijoules since
the driver loaded; Volta and newer); on a CPU, the RAPL package counters the kernel exposes in
``/sys/class/powercap/intel-rapl:N/energy_uj`` (microjoules, wrapping at
``max_energy_range_uj``; AMD's RAPL appears there too). Joules per call is the counter's change
over the calls made between the readings; watts is that change over their wall time. Recorded,
not gated. Where neither counter can be read (no NVML, a GPU without the counter, a VM without
powercap, a counter readable by root only) the fields are absent, never zero.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

POWERCAP = Path("/sys/class/powercap")


@dataclass
class EnergyMeter:
    read_j: Callable[[], float]  # a cumulative counter, joules
    source: str  # what is read, for the record: "nvml", "rapl package-0+package-1"
    wrap_j: float | None = None  # where the counter wraps to zero (RAPL), if it does

    @classmethod
    def open(cls, device: torch.device, telemetry: Any = None) -> EnergyMeter | None:
        """The counter for ``device``: NVML's through the run's ``telemetry`` on CUDA, RAPL on
        a CPU; None where it cannot be read."""
        if device.type == "cuda":
            return nvml_meter(telemetry) if telemetry is not None else None
        return rapl_meter()

    def delta_j(self, before: float, after: float) -> float:
        delta = after - before
        if delta < 0 and self.wrap_j:  # one wrap at most: the rounds take seconds
            delta += self.wrap_j
        return delta

    @contextlib.contextmanager
    def around(self, extra: dict[str, object], calls: Callable[[], int]) -> Iterator[None]:
        """Read the counter around the block; ``calls()`` says how many calls it made. The
        fields go in ``extra``, or nothing where a reading failed or showed no change."""
        try:
            before, start = self.read_j(), time.perf_counter()
        except Exception:  # the counter went away (driver reset, permissions): no fields
            yield
            return
        yield
        try:
            after, seconds = self.read_j(), time.perf_counter() - start
        except Exception:
            return
        joules, n = self.delta_j(before, after), calls()
        if joules <= 0 or n <= 0 or seconds <= 0:  # a counter that did not move says nothing
            return
        extra.update(energy_j_per_call=joules / n, power_w=joules / seconds)
        extra["energy_source"] = self.source


def metering(meter: EnergyMeter | None, extra: dict[str, object], calls: Callable[[], int]):
    return meter.around(extra, calls) if meter is not None else contextlib.nullcontext()


def nvml_meter(telemetry: Any) -> EnergyMeter | None:
    """NVML's total-energy counter of the telemetry's GPU; None where this GPU or driver does
    not support it."""
    nvml, handle = telemetry.nvml, telemetry.handle

    def read() -> float:
        return nvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3  # mJ

    try:
        read()
    except Exception:  # NVML_ERROR_NOT_SUPPORTED before Volta, or no permission
        return None
    return EnergyMeter(read, "nvml")


def rapl_meter(root: Path = POWERCAP) -> EnergyMeter | None:
    """The sum of the RAPL package domains (``intel-rapl:N``, not their sub-zones); None where
    there are none or they cannot be read."""
    packages = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)
    counters = []
    for package in packages:
        try:
            name = (package / "name").read_text().strip()
            wrap = int((package / "max_energy_range_uj").read_text()) / 1e6
            int((package / "energy_uj").read_text())  # root-only on many kernels
        except (OSError, ValueError):
            continue
        counters.append((package / "energy_uj", name, wrap))
    if not counters:
        return None

    def read() -> float:
        return sum(int(path.read_text()) for path, _, _ in counters) / 1e6

    wraps = {wrap for _, _, wrap in counters}
    source = "rapl " + "+".join(name for _, name, _ in counters)
    # one wrap value when there is one package; with several, a wrap is attributed as theirs
    return EnergyMeter(read, source, wraps.pop() if len(wraps) == 1 else None)


class CountedCalls:
    """``fn`` with a count of its calls: how many calls the energy between readings paid for
    (pytest-benchmark's calibration calls included, as they ran between them)."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self) -> object:
        self.calls += 1
        return self.fn()
