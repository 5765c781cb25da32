"""Per-operator profiles of one case (``torch.profiler``) and the attribution of a change.

A profile keeps, per operator, its calls and self time per case call, plus the wall time of a
case call; what the operators' self times do not cover is "outside operators" (Python and
framework time between ops on a CPU; on CUDA, where self time is the device's kernel time, the
device idling between kernels, which is where a launch-bound case spends it). Attributing a
change lists the operators whose self time changed most, so a slowdown is named, and a slowdown
in no operator lands in the outside row.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

OUTSIDE = "outside operators"
PROFILE_SECONDS = 0.1  # profiled calls per case: at least this long in all (a saved run's) ...
MAX_CALLS = 100  # ... but no more calls than this


@dataclass(frozen=True)
class OpTime:
    calls: float  # calls of the operator per case call
    self_s: float  # its self time per case call


@dataclass(frozen=True)
class CaseProfile:
    calls: int  # case calls profiled
    wall_s: float  # wall time per case call, under the profiler
    ops: dict[str, OpTime]
    clock: str = "cpu"  # whose self time: "cpu" (host) or "cuda" (kernels on the device)

    @property
    def outside_s(self) -> float:
        return self.wall_s - sum(o.self_s for o in self.ops.values())

    def to_dict(self) -> dict[str, object]:
        """Compact JSON for a run's extra_info: ``ops`` maps operator -> [calls, self_s]."""
        ops = {name: [round(o.calls, 4), o.self_s] for name, o in self.ops.items()}
        return {"calls": self.calls, "wall_s": self.wall_s, "clock": self.clock, "ops": ops}

    @classmethod
    def from_dict(cls, data: dict) -> CaseProfile:
        ops = {name: OpTime(float(c), float(s)) for name, (c, s) in data["ops"].items()}
        return cls(int(data["calls"]), float(data["wall_s"]), ops, str(data.get("clock", "cpu")))


def calls_for(per_call_s: float, seconds: float = PROFILE_SECONDS) -> int:
    """How many case calls fill ``seconds`` of profiling (at least one)."""
    if per_call_s <= 0:
        return MAX_CALLS
    return max(1, min(MAX_CALLS, math.ceil(seconds / per_call_s)))


def profile_call(
    fn: Callable[[], object],
    device: torch.device,
    per_call_s: float,
    trace: Path | None = None,
    seconds: float = PROFILE_SECONDS,
) -> CaseProfile:
    """Profile warm, synchronised calls of ``fn``; ``trace``: also write a Chrome trace there
    (open it in Perfetto or chrome://tracing)."""
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    n = calls_for(per_call_s, seconds)
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        wall = (time.perf_counter() - start) / n
    ops = {}
    for event in prof.key_averages():
        if event.device_type != torch.autograd.DeviceType.CPU:
            continue  # kernels themselves: their time is already on the operator that ran them
        self_us = event.self_device_time_total if cuda else event.self_cpu_time_total
        ops[event.key] = OpTime(event.count / n, self_us / 1e6 / n)
    if trace is not None:
        trace.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace))
    return CaseProfile(n, wall, dict(sorted(ops.items())), "cuda" if cuda else "cpu")


def kernel_launches(fn: Callable[[], object], device: torch.device) -> int:
    """CUDA kernels one call of ``fn`` launches (memory copies and sets not counted). Recorded,
    never gated: cuDNN's algorithm choice, and with it the kernels, may vary between runs."""
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize(device)
    return sum(
        1
        for event in prof.events()
        if event.device_type == torch.autograd.DeviceType.CUDA
        and not event.name.startswith(("Memcpy", "Memset"))
    )


@dataclass(frozen=True)
class Row:
    op: str
    calls: tuple[float | None, float | None]  # base, head (None: the outside row)
    self_s: tuple[float, float]  # base, head, per case call
    share: float  # of the case's whole change

    @property
    def delta_s(self) -> float:
        return self.self_s[1] - self.self_s[0]


@dataclass(frozen=True)
class Attribution:
    case: str
    wall_s: tuple[float, float]  # base, head per case call, as profiled
    rows: list[Row]  # the operators that changed most, then the outside row
    clock: str = "cpu"
    single: bool = False  # one profile's breakdown: no base, shares of the head's call

    @property
    def delta_s(self) -> float:
        return self.wall_s[1] - self.wall_s[0]

    def to_dict(self) -> dict[str, object]:
        return {
            "case": self.case,
            "clock": self.clock,
            "single": self.single,
            "wall_s": list(self.wall_s),
            "rows": [
                {"op": r.op, "calls": list(r.calls), "self_s": list(r.self_s), "share": r.share}
                for r in self.rows
            ],
        }


def attribute(case: str, base: CaseProfile, head: CaseProfile, top: int = 10) -> Attribution:
    """The ``top`` operators by the size of their self-time change, plus the outside row; each
    with its share of the change of the case's wall time."""
    total = head.wall_s - base.wall_s
    none = OpTime(0.0, 0.0)

    def share(delta: float) -> float:
        return delta / total if total else 0.0

    rows = []
    for op in set(base.ops) | set(head.ops):
        b, h = base.ops.get(op, none), head.ops.get(op, none)
        rows.append(Row(op, (b.calls, h.calls), (b.self_s, h.self_s), share(h.self_s - b.self_s)))
    rows.sort(key=lambda r: (-abs(r.delta_s), r.op))
    outside = (base.outside_s, head.outside_s)
    rows = [*rows[:top], Row(OUTSIDE, (None, None), outside, share(outside[1] - outside[0]))]
    return Attribution(case, (base.wall_s, head.wall_s), rows, head.clock)


def breakdown(case: str, profile_: CaseProfile, top: int = 10) -> Attribution:
    """One profile alone: the operators with the most self time and their share of a call."""
    ops = sorted(profile_.ops.items(), key=lambda kv: (-kv[1].self_s, kv[0]))[:top]
    wall = profile_.wall_s or 1.0
    rows = [Row(op, (None, o.calls), (0.0, o.self_s), o.self_s / wall) for op, o in ops]
    rows.append(Row(OUTSIDE, (None, None), (0.0, profile_.outside_s), profile_.outside_s / wall))
    return Attribution(case, (0.0, profile_.wall_s), rows, profile_.clock, single=True)
