"""CUDA-correct timing: synchronised calls, time-based warmup, GPU-only time, peak memory.

A CUDA call returns once its kernels are queued; timing it without synchronising measures the
launch, not the work. Every timed callable here therefore ends with a synchronize, and the
first calls (cuDNN autotuning, clock ramp-up, allocator growth) are spent in a warmup.
"""

from __future__ import annotations

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


def device_time(
    fn: Callable[[], object], device: torch.device, target_s: float = 0.05, graph_ok: bool = True
) -> tuple[float, str]:
    """GPU-only seconds per call of ``fn`` (unsynchronised), and the method used.

    Replays a CUDA graph of ``fn`` between CUDA events, which removes the CPU launch overhead
    that dominates small batches; falls back to events around eager calls when ``fn`` cannot be
    captured, or when ``graph_ok`` is False (a training step: autograd and the optimizer's
    state are not captured safely this way).
    """
    try:
        if not graph_ok:
            raise RuntimeError("not captured")
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):  # capture needs warmed-up kernels and allocations
                fn()
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        run, method = graph.replay, "cuda_graph"
    except RuntimeError:
        torch.cuda.synchronize(device)
        run, method = fn, "cuda_events"
    once = _events_time(run, 3)
    iters = max(10, min(10_000, int(target_s / max(once, 1e-7))))
    return _events_time(run, iters), method


def peak_memory_bytes(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes the caching allocator held during one call of ``fn``."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))


def rerun_samples(
    timed: Callable[[], object], rounds: int, iterations: int, warmup_s: float
) -> list[float]:
    """Measure ``timed`` (synchronised) again the way pytest-benchmark does: ``rounds`` rounds of
    ``iterations`` calls each, seconds per call per round, after a fresh warmup."""
    warmup(timed, warmup_s, 1)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(iterations):
            timed()
        samples.append((time.perf_counter() - start) / iterations)
    return samples


def device_figures(
    forward: Callable[[], object], device: torch.device, training: bool, with_do_bench: bool
) -> dict[str, object]:
    """CUDA: GPU-only time, peak allocator memory, kernels per call, and triton's do_bench
    when asked."""
    from unet.bench.profile import kernel_launches

    seconds, method = device_time(forward, device, graph_ok=not training)
    extra: dict[str, object] = {
        "device_time_s": seconds,
        "device_time_method": method,
        "peak_memory_bytes": peak_memory_bytes(forward, device),
        "kernel_launches": kernel_launches(forward, device),
    }
    if with_do_bench:
        from triton.testing import do_bench

        # same process, same case: the reference our median must agree with
        extra["do_bench_median_s"] = do_bench(forward, return_mode="median") / 1e3
    return extra
