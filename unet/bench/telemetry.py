"""GPU telemetry per case from NVML, and what a throttled case means for its verdict.

When ``pynvml`` (the ``nvidia-ml-py`` package) imports and the case runs on a CUDA device, the
SM and memory clocks, temperature, power and the clock-event ("throttle") reasons are sampled
before and after the case's timed rounds, and NVML's cumulative thermal and power violation
times are compared across them, so a slowdown that came and went during the rounds shows too.
A case whose rounds ran throttled (a thermal or power slowdown, not idle or application clocks)
is marked ``throttled`` in its ``extra_info["telemetry"]``; any verdict on it that would say
``regression`` or ``improvement`` says ``unsure`` instead, with the reason. Without NVML, or on
the CPU, nothing is recorded and nothing changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from unet.bench.verdict import IMPROVEMENT, REGRESSION, UNSURE, Verdict

# NVML clock-event reason bits that slow the GPU down (nvmlClocksEventReason*)
SLOWDOWNS = {
    0x4: "sw_power_cap", 0x8: "hw_slowdown", 0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown", 0x80: "hw_power_brake_slowdown",
}  # fmt: skip
VIOLATIONS = {"power": 0, "thermal": 1}  # NVML_PERF_POLICY_POWER, NVML_PERF_POLICY_THERMAL


@dataclass
class Telemetry:
    nvml: Any  # the pynvml module, or a stand-in with its functions
    handle: Any  # the NVML handle of the device the cases run on

    @classmethod
    def open(cls, device: torch.device) -> Telemetry | None:
        """NVML for ``device``; None on the CPU or where pynvml is missing or fails to start."""
        if device.type != "cuda":
            return None
        try:
            import pynvml

            pynvml.nvmlInit()
            uuid = getattr(torch.cuda.get_device_properties(device), "uuid", None)
            if uuid is not None:  # CUDA_VISIBLE_DEVICES may renumber devices; the UUID does not
                handle = pynvml.nvmlDeviceGetHandleByUUID(f"GPU-{uuid}")
            else:
                handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
        except Exception:  # no package, no driver library, no permission: no telemetry
            return None
        return cls(pynvml, handle)

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
            "slowdowns": [name for bit, name in SLOWDOWNS.items() if (reasons or 0) & bit],
            "violation_ns": {k: getattr(v, "violationTime", None) for k, v in violations.items()},
        }

    @contextlib.contextmanager
    def watch(self, extra: dict[str, object]) -> Iterator[None]:
        """Sample around the timed rounds; the readings and verdict go in ``extra``."""
        before = self.sample()
        yield
        after = self.sample()
        extra["telemetry"] = {"before": before, "after": after,
                              "throttled": throttle_reasons(before, after)}  # fmt: skip


def watching(telemetry: Telemetry | None, extra: dict[str, object]):
    return telemetry.watch(extra) if telemetry is not None else contextlib.nullcontext()


def throttle_reasons(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Slowdowns active at either end of the rounds, and violation time accrued during them."""
    reasons = set(before.get("slowdowns", [])) | set(after.get("slowdowns", []))
    for kind in VIOLATIONS:
        t0 = (before.get("violation_ns") or {}).get(kind)
        t1 = (after.get("violation_ns") or {}).get(kind)
        if t0 is not None and t1 is not None and t1 > t0:
            reasons.add(f"{kind} violation {(t1 - t0) / 1e6:.0f} ms")
    return sorted(reasons)


def throttled(extra_info: Mapping[str, Any]) -> list[str]:
    """The throttle reasons a case's extra_info records (none without telemetry)."""
    return list((extra_info.get("telemetry") or {}).get("throttled") or [])


def demote(verdict: Verdict, base_extra: Mapping[str, Any], head_extra: Mapping[str, Any]):
    """``verdict``, made ``unsure`` with the reason when either side's rounds ran throttled."""
    sides = [(side, throttled(e)) for side, e in (("base", base_extra), ("head", head_extra))]
    why = "; ".join(f"{side}: {', '.join(r)}" for side, r in sides if r)
    if not why:
        return verdict
    outcome = UNSURE if verdict.outcome in (REGRESSION, IMPROVEMENT) else verdict.outcome
    return replace(verdict, outcome=outcome, note=f"GPU throttled during the rounds ({why})")
