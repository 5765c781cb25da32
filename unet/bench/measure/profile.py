"""Per-operator profiles of one case (``torch.profiler``) and the attribution of a change.

A profile keeps, per operator, its calls and self time per case call, plus the wall time of a
case call; what the operators' self times do not cover is "outside operators" (Python and
framework time between ops on a CPU; on CUDA, where self time is the device's kernel time, the
device idling between kernels, which is where a launch-bound case spends it). Attributing a
change lists the operators whose self time changed most, so a slowdown is named, and a slowdown
in no operator lands in the outside row.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.profiler import ProfilerActivity, profile

from unet.bench.stats.attribution import CaseProfile, OpTime
from unet.torchcompat import CPU_EVENT, is_hidden_event, is_user_annotation, kineto_events

if TYPE_CHECKING:  # settings imports PROFILE_SECONDS from here
    from unet.bench.measure.settings import SuiteOptions

PROFILE_SECONDS = 0.1  # profiled calls per case: at least this long in all (a saved run's) ...
MAX_CALLS = 100  # ... but no more calls than this


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
    calls, self_ns = self_times(kineto_events(prof), cuda)
    ops = {name: OpTime(calls[name] / n, self_ns[name] / 1e9 / n) for name in calls}
    if trace is not None:
        trace.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace))
    return CaseProfile(n, wall, dict(sorted(ops.items())), "cuda" if cuda else "cpu")


def profile_case(
    options: SuiteOptions, name: str, timed: Callable[[], object], per_call: float
) -> dict:
    """The profiling stage, after all timing: a per-operator profile of warm calls of a case,
    also written with its Chrome trace under --profile-dir."""
    folder, seconds = options.profile_dir, options.profile_time
    if folder is None:
        return profile_call(timed, options.device, per_call, seconds=seconds).to_dict()
    stem = folder / file_name(name)
    trace = Path(f"{stem}.trace.json")
    data = profile_call(timed, options.device, per_call, trace, seconds).to_dict()
    Path(f"{stem}.profile.json").write_text(json.dumps({"case": name, **data}, indent=1))
    return data


def file_name(case: str) -> str:
    """A case name as a file name: ``test_model[conv=...-bs=1]`` -> ``test_model-conv=...-bs=1``."""
    return re.sub(r"[^\w=.-]+", "-", case).strip("-")


class _Op:
    __slots__ = ("children", "duration_ns", "kernel_ns", "name")

    def __init__(self, name: str, duration_ns: int, kernel_ns: float = 0.0) -> None:
        self.name, self.duration_ns = name, duration_ns
        self.kernel_ns = kernel_ns  # device time of the kernels it launched itself
        self.children: list[_Op] = []


# profiler bookkeeping that is no operator of the case (as torch's own table filters them)
BOOKKEEPING = {
    "[memory]",
    "[OutOfMemory]",
    "profiler::_record_function_enter",
    "profiler::_record_function_enter_new",
    "profiler::_record_function_exit",
    "aten::is_leaf",
    "aten::output_nr",
    "aten::_version",
}


def _skipped(event: object) -> bool:
    """Hidden profiler events and bookkeeping; on the device, user annotations too: a
    ``record_function`` span, "Torch-Compiled Region" or an optimizer step is mirrored on the
    GPU's timeline as a span around kernels, not a kernel, and its time is theirs."""
    if is_hidden_event(event) or event.name() in BOOKKEEPING:
        return True
    return event.device_type() != CPU_EVENT and is_user_annotation(event)


def _is_launch(event: object) -> bool:
    """A host event of the CUDA runtime or driver (``cudaLaunchKernel``, ``cuLaunchKernel`` of
    Triton and cuDNN 9, ``cudaMemcpyAsync``…): linked to the operator that made it, whatever
    the API, where an operator's own link is 0."""
    return event.linked_correlation_id() > 0


def _host_tree(host: list, kernel_ns: dict[int, float], cuda: bool) -> list[_Op]:
    """One thread's operators nested by time; runtime and driver calls are left out (on CUDA
    their kernels are the operator's through the correlation link)."""
    roots: list[_Op] = []
    stack: list[tuple[_Op, int]] = []  # enclosing operators and their ends
    for e in sorted(host, key=lambda e: (e.start_ns(), -e.duration_ns())):
        if _is_launch(e):
            continue
        while stack and stack[-1][1] <= e.start_ns():
            stack.pop()
        own = kernel_ns.get(e.correlation_id(), 0.0) if cuda else 0.0
        op = _Op(e.name(), e.duration_ns(), own)
        (stack[-1][0].children if stack else roots).append(op)
        stack.append((op, e.end_ns()))
    return roots


def self_times(events: Sequence, cuda: bool) -> tuple[Counter[str], dict[str, float]]:
    """Calls and self time (ns) per host operator, from the profiler's raw events.

    torch's own ``key_averages`` does the same through Python objects per event and takes
    seconds for a case of 75,000 events (the instance-norm case's 1000 applications); this walks
    the events once. Self time is the host time not spent in nested operators, or on CUDA the
    device time of the kernels an operator launched itself: a kernel's
    ``linked_correlation_id`` is the correlation id of the operator that was innermost when it
    was launched, as torch's own profiler tables link them. As in ``key_averages``, an operator
    whose only nested operator has its own name (an overload calling its twin) counts once.
    """
    kernel_ns: dict[int, float] = defaultdict(float)  # operator's correlation id -> device time
    threads: dict[int, list] = defaultdict(list)
    for e in events:
        if _skipped(e):
            continue
        if e.device_type() == CPU_EVENT:
            threads[e.start_thread_id()].append(e)
        elif cuda:
            kernel_ns[e.linked_correlation_id()] += e.duration_ns()
    calls: Counter[str] = Counter()
    self_ns: dict[str, float] = defaultdict(float)
    todo = [op for host in threads.values() for op in _host_tree(host, kernel_ns, cuda)]
    while todo:
        op = todo.pop()
        while len(op.children) == 1 and op.children[0].name == op.name:
            twin = op.children[0]
            op.children, op.kernel_ns = twin.children, op.kernel_ns + twin.kernel_ns
        calls[op.name] += 1
        nested = sum(child.duration_ns for child in op.children)
        self_ns[op.name] += op.kernel_ns if cuda else op.duration_ns - nested
        todo.extend(op.children)
    return calls, dict(self_ns)


def device_kernels(events: Sequence) -> list[str]:
    """The names of the kernels in ``events``, in launch order (copies, sets and annotations
    left out)."""
    kernels = [
        e
        for e in events
        if e.device_type() != CPU_EVENT
        and not _skipped(e)
        and not e.name().startswith(("Memcpy", "Memset"))
    ]
    return [e.name() for e in sorted(kernels, key=lambda e: e.start_ns())]


def kernel_signature(names: Sequence[str]) -> str:
    """``count:hash`` of kernel names in order: two processes whose cuDNN picked other
    algorithms for the same code show different signatures."""
    digest = hashlib.sha1("\n".join(names).encode()).hexdigest()[:12]
    return f"{len(names)}:{digest}"


def kernel_figures(fn: Callable[[], object], device: torch.device) -> dict[str, object]:
    """The CUDA kernels one call of ``fn`` launches: their count and signature. Recorded,
    never gated: cuDNN's algorithm choice, and with it the kernels, may vary between runs.
    Profiles attach CUPTI, which can slow later work, so the runner calls this only once every
    case has been timed."""
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize(device)
    names = device_kernels(kineto_events(prof))
    return {"kernel_launches": len(names), "kernel_signature": kernel_signature(names)}
