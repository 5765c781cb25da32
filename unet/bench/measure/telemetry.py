"""GPU telemetry per case from NVML, and when a case's rounds count as throttled.

When ``pynvml`` (the ``nvidia-ml-py`` package) imports and the case runs on a CUDA device, the
SM and memory clocks, temperature, power and the clock-event ("throttle") reasons are sampled
before and after the case's timed rounds, and NVML's cumulative thermal and power violation
times are compared across them, so a slowdown that came and went during the rounds shows too.
A case whose rounds ran throttled is marked ``throttled`` in its ``extra_info["telemetry"]``;
any verdict on it that would say ``regression`` or ``improvement`` says ``unsure`` instead, with
the reason (``verdict.demote``). Throttled means one of (``throttle_reasons``):

* the SM clock at either end of the rounds below ``CLOCK_THRESHOLD`` (75 %) of the GPU's maximum
  SM clock (of the clock at the start where the maximum is unknown): nvbench's default
  ``--throttle-threshold``;
* a thermal or hardware slowdown reason at either end (``SLOWDOWNS``);
* thermal violation time during the rounds above ``VIOLATION_SHARE`` (10 %) of their wall time.

A software power cap alone is not throttling: power-limited boards (L4, many A10s) run every
case at their cap, and their clock stays above the threshold; it is recorded (``power_capped``)
with the power violation share, never gated. Without NVML, or on the CPU, nothing is recorded
and nothing changes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

# NVML clock-event reason bits (nvmlClocksEventReason*): the power cap, recorded, and the
# thermal and hardware slowdowns, each of which makes a case throttled
POWER_CAP = "sw_power_cap"
REASONS = {
    0x4: POWER_CAP,
    0x8: "hw_slowdown",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
}
SLOWDOWNS = set(REASONS.values()) - {POWER_CAP}
VIOLATIONS = {"power": 0, "thermal": 1}  # NVML_PERF_POLICY_POWER, NVML_PERF_POLICY_THERMAL
CLOCK_THRESHOLD = 0.75  # of the maximum SM clock: nvbench's --throttle-threshold default
VIOLATION_SHARE = 0.10  # of the rounds' wall time spent in thermal violation


@dataclass
class Telemetry:
    nvml: Any  # the pynvml module, or a stand-in with its functions
    handle: Any  # the NVML handle of the device the cases run on

    note: str | None = None  # what the readings are of, where it is not plain (MIG)

    @classmethod
    def open(cls, device: torch.device) -> Telemetry | None:
        """NVML for ``device``; None on the CPU or where pynvml is missing or fails to start."""
        if device.type != "cuda":
            return None
        try:
            import pynvml
        except Exception:  # no package: no telemetry
            return None
        from unet.bench.measure.hardware import device_uuid

        index = device.index if device.index is not None else torch.cuda.current_device()
        # CUDA_VISIBLE_DEVICES may renumber devices; the UUID does not
        return cls.for_uuid(pynvml, device_uuid(index), index)

    @classmethod
    def for_uuid(cls, nvml: Any, uuid: str | None, index: int) -> Telemetry | None:
        """NVML's handle of the device torch calls ``uuid``; a MIG instance's readings (clocks,
        power, temperature) come from its parent GPU, which NVML reports for the whole board,
        and the note says so. None where NVML fails to start or knows no such device."""
        from unet.bench.measure.hardware import nvml_handle

        try:
            nvml.nvmlInit()
            handle, name = nvml_handle(nvml, uuid, index)
            if name is None or not name.startswith("MIG-"):
                return cls(nvml, handle)
            parent = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle)
        except Exception:  # no driver library, no permission, unknown device: no telemetry
            return None
        note = f"MIG instance {name}: NVML readings are of its whole GPU, shared with others"
        return cls(nvml, parent, note)

    def _read(self, name: str, *args: Any) -> Any:
        """One NVML reading; None where this GPU or driver does not support it."""
        try:
            return getattr(self.nvml, name)(self.handle, *args)
        except Exception:  # NVMLError_NotSupported and the like: leave the field out
            return None

    def sample(self) -> dict[str, object]:
        n = self.nvml
        reasons = self._read("nvmlDeviceGetCurrentClocksEventReasons")
        if reasons is None:  # the name before driver 535
            reasons = self._read("nvmlDeviceGetCurrentClocksThrottleReasons")
        power = self._read("nvmlDeviceGetPowerUsage")
        violations = {
            k: self._read("nvmlDeviceGetViolationStatus", v) for k, v in VIOLATIONS.items()
        }
        return {
            "sm_clock_mhz": self._read("nvmlDeviceGetClockInfo", n.NVML_CLOCK_SM),
            "mem_clock_mhz": self._read("nvmlDeviceGetClockInfo", n.NVML_CLOCK_MEM),
            "temperature_c": self._read("nvmlDeviceGetTemperature", n.NVML_TEMPERATURE_GPU),
            "power_w": power / 1000 if power is not None else None,
            "max_sm_clock_mhz": self._read("nvmlDeviceGetMaxClockInfo", n.NVML_CLOCK_SM),
            "slowdowns": [name for bit, name in REASONS.items() if (reasons or 0) & bit],
            "violation_ns": {k: getattr(v, "violationTime", None) for k, v in violations.items()},
        }

    @contextlib.contextmanager
    def watch(self, extra: dict[str, object]) -> Iterator[None]:
        """Sample around the timed rounds; the readings and verdict go in ``extra``."""
        before, start = self.sample(), time.perf_counter()
        yield
        seconds, after = time.perf_counter() - start, self.sample()
        extra["telemetry"] = {
            "before": before,
            "after": after,
            "rounds_s": seconds,
            "throttled": throttle_reasons(before, after, seconds),
            "power_capped": power_capped(before, after, seconds),
            **({"note": self.note} if self.note else {}),
        }


def watching(telemetry: Telemetry | None, extra: dict[str, object]):
    return telemetry.watch(extra) if telemetry is not None else contextlib.nullcontext()


def _violation_s(before: Mapping[str, Any], after: Mapping[str, Any], kind: str) -> float | None:
    t0 = (before.get("violation_ns") or {}).get(kind)
    t1 = (after.get("violation_ns") or {}).get(kind)
    return (t1 - t0) / 1e9 if t0 is not None and t1 is not None else None


def throttle_reasons(
    before: Mapping[str, Any], after: Mapping[str, Any], rounds_s: float
) -> list[str]:
    """Why the rounds between the samples ``before`` and ``after`` (``rounds_s`` seconds) ran
    throttled, by the rule in the module's docstring; none when they did not."""
    reasons = {r for r in (*before.get("slowdowns", []), *after.get("slowdowns", []))}
    reasons &= SLOWDOWNS
    reference = after.get("max_sm_clock_mhz") or before.get("sm_clock_mhz")
    for end in (before, after):
        clock = end.get("sm_clock_mhz")
        if clock is not None and reference and clock < CLOCK_THRESHOLD * reference:
            reasons.add(f"SM clock {clock} MHz < {CLOCK_THRESHOLD:.0%} of {reference} MHz")
    thermal = _violation_s(before, after, "thermal")
    if thermal is not None and rounds_s > 0 and thermal > VIOLATION_SHARE * rounds_s:
        reasons.add(f"thermal violation {thermal * 1e3:.0f} ms of {rounds_s * 1e3:.0f} ms")
    return sorted(reasons)


def power_capped(
    before: Mapping[str, Any], after: Mapping[str, Any], rounds_s: float
) -> dict[str, object] | None:
    """Whether the rounds ran at the board's power cap, and their share in power violation:
    recorded, not throttling (see the module's docstring). None when neither shows."""
    capped = POWER_CAP in (*before.get("slowdowns", []), *after.get("slowdowns", []))
    power = _violation_s(before, after, "power")
    share = power / rounds_s if power is not None and rounds_s > 0 else None
    if not capped and not share:
        return None
    return {"reason_seen": capped, "violation_share": share}
