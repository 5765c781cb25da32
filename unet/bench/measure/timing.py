"""CUDA-correct timing: synchronised calls, time-based warmup, GPU-only time, peak memory.

A CUDA call returns once its kernels are queued; timing it without synchronising measures the
launch, not the work. Every timed callable here therefore ends with a synchronize, and the
first calls (cuDNN autotuning, clock ramp-up, allocator growth) are spent in a warmup.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def synchronized(fn: Callable[[], object], device: torch.device) -> Callable[[], object]:
    """``fn`` followed by a device synchronize, so one call contains all the work it launched."""
    if device.type != "cuda":
        return fn

    def call() -> object:
        out = fn()
        torch.cuda.synchronize(device)
        return out

    return call


def warmup(fn: Callable[[], object], min_time_s: float, min_iters: int) -> list[float]:
    """Call ``fn`` (already synchronised) until both ``min_time_s`` and ``min_iters`` are reached.

    Time-based, because what needs warming (GPU clocks, autotuning of every shape) takes time,
    not a fixed number of calls. Returns each call's seconds.
    """
    start, times = time.perf_counter(), []
    while len(times) < min_iters or time.perf_counter() - start < min_time_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _events_time(fn: Callable[[], object], iters: int) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3 / iters


def use_device(device: torch.device) -> None:
    """Make ``device`` the current CUDA device for the whole run: CUDA events, graph capture,
    streams and triton's do_bench all work on the current device, not the one a tensor is on,
    so with ``--device cuda:1`` they would otherwise time device 0 (idle: near-zero times)."""
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)


# why a call is timed between events instead of replayed as a graph
UNCAPTURED = {
    "train": "cuda_events (training step)",
    "compiled": "cuda_events (compiled with CUDA graphs)",
}


def capture_graph(fn: Callable[[], object], device: torch.device) -> Callable[[], None]:
    """A CUDA graph of one call of ``fn``, warmed on a side stream; its ``replay``. Raises if
    ``fn`` cannot be captured, with the current stream restored whatever failed: torch's own
    ``torch.cuda.graph`` leaves the capture stream current when ``capture_end`` raises."""
    previous = torch.cuda.current_stream(device)
    side = torch.cuda.Stream(device)
    side.wait_stream(previous)
    graph = torch.cuda.CUDAGraph()
    torch.cuda.set_stream(side)
    try:
        for _ in range(3):  # capture needs warmed-up kernels and allocations
            fn()
        graph.capture_begin()
        try:
            fn()
        finally:
            graph.capture_end()
    finally:
        torch.cuda.set_stream(previous)
        previous.wait_stream(side)
    return graph.replay


def device_time(
    fn: Callable[[], object], device: torch.device, target_s: float = 0.05, graph: str = "try"
) -> tuple[float, str]:
    """GPU-only seconds per call of ``fn`` (unsynchronised), and the method used.

    Replays a CUDA graph of ``fn`` between CUDA events, which removes the CPU launch overhead
    that dominates small batches. ``graph`` says when not to: "train" (autograd and the
    optimizer's state are not captured safely this way) and "compiled" (a cudagraph compile mode
    replays graphs of its own, and a capture around them would nest captures) time eager calls
    between events; so does a capture that fails, with the reason in the method.
    """
    method = UNCAPTURED.get(graph)
    run = fn
    if method is None:
        try:
            run, method = capture_graph(fn, device), "cuda_graph"
        except Exception as err:  # any capture failure: time the eager calls instead
            run, method = fn, f"cuda_events (capture failed: {type(err).__name__})"
            with contextlib.suppress(Exception):
                torch.cuda.synchronize(device)
    once = _events_time(run, 3)
    iters = max(10, min(10_000, int(target_s / max(once, 1e-7))))
    return _events_time(run, iters), method


def peak_memory_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes the caching allocator held during one call of ``fn`` beyond what was
    allocated before it (weights, the input, other cases' models): the call's own."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device)) - int(before)


def rerun_samples(
    timed: Callable[[], object],
    rounds: int,
    iterations: int,
    warmup_s: float,
    setup: Callable[[], None] | None = None,
) -> list[float]:
    """Measure ``timed`` (synchronised) again the way pytest-benchmark does: ``rounds`` rounds of
    ``iterations`` calls each, seconds per call per round, after a fresh warmup; ``setup``
    untimed before each round, as pytest-benchmark's pedantic setup."""
    warmup(timed, warmup_s, 1)
    samples = []
    for _ in range(rounds):
        if setup is not None:
            setup()
        start = time.perf_counter()
        for _ in range(iterations):
            timed()
        samples.append((time.perf_counter() - start) / iterations)
    return samples


def device_figures(
    forward: Callable[[], object], device: torch.device, graph: str, with_do_bench: bool
) -> dict[str, object]:
    """CUDA: GPU-only time, peak allocator memory, and triton's do_bench when asked. ``graph``
    as for ``device_time``. No profiler runs here: that waits until every case is timed."""
    seconds, method = device_time(forward, device, graph=graph)
    extra: dict[str, object] = {
        "device_time_s": seconds,
        "device_time_method": method,
        "peak_memory_bytes": peak_memory_bytes(forward, device),
    }
    if with_do_bench:
        from triton.testing import do_bench

        # same process, same case: the reference our median must agree with. do_bench flushes
        # the L2 before each call (slower than our warm calls where the weights fit in L2) and
        # does not time the host's synchronize (faster where a call is launch-bound)
        extra["do_bench_median_s"] = do_bench(forward, return_mode="median") / 1e3
    return extra
