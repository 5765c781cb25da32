"""Runs one benchmark case: place it on the device, count its costs, check its output, warm it
up, time it with pytest-benchmark, and record what the suite promises in ``extra_info``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

from unet.bench.abworker import Channel
from unet.bench.timing import device_time, peak_memory_bytes, synchronized, warmup
from unet.costs import measure_costs

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass
class CaseRunner:
    device: torch.device
    dtype_name: str = "float32"
    channels_last: bool = False
    warmup_s: float = 0.3  # per case: cuDNN autotuning of its shapes, clocks back up after idling
    warmup_iters: int = 3
    costs: bool = True  # False where another process counts the costs (A/B's extra workers)
    keep: bool = False  # keep each case's timed callable and samples, for confirm-by-rerun
    do_bench: bool = False  # also time with triton.testing.do_bench (the accuracy check)
    max_time: float = 1.0  # pytest-benchmark's --benchmark-max-time, for paired A/B blocks
    min_rounds: int = 5  # pytest-benchmark's --benchmark-min-rounds, likewise
    channel: Channel | None = None  # set in a paired A/B worker: take turns per round block
    kept: dict[str, tuple[Callable[[], object], int, list[float]]] = field(default_factory=dict)

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.dtype_name]

    def place(self, module: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
        module = module.to(device=self.device, dtype=self.dtype).eval()
        x = x.to(device=self.device, dtype=self.dtype)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        return module, x

    def run(
        self,
        benchmark: Any,
        name: str,
        module: nn.Module,
        x: torch.Tensor,
        info: dict[str, object],
        repeat: int = 1,
    ) -> dict[str, object]:
        """Benchmark ``repeat`` applications of ``module`` to ``x`` as one timed call."""
        module, x = self.place(module, x)
        extra = benchmark.extra_info
        extra.update(info)
        extra.update(
            batch_size=x.shape[0],
            device=self.device.type,
            dtype=self.dtype_name,
            channels_last=self.channels_last,
        )
        if self.costs:
            costs = measure_costs(module, x)
            extra.update(
                params=costs.params,
                flops=costs.flops,
                mult_adds=costs.mult_adds,
                unsupported_ops=sorted(costs.unsupported_ops),
            )
        if self.device.type == "cpu":
            extra["threads"] = torch.get_num_threads()
        if repeat > 1:
            extra["applications_per_call"] = repeat

        def forward() -> torch.Tensor:
            for _ in range(repeat):
                out = module(x)
            return out

        timed = synchronized(forward, self.device)
        with torch.no_grad():
            start = time.perf_counter()
            out = timed()
            if not torch.isfinite(out).all():
                pytest.fail(f"{name}: output contains NaN or inf ({self.dtype_name})", False)
            spent = time.perf_counter() - start
            if not benchmark.disabled:
                # the check call was the first warmup call
                start = time.perf_counter()
                calls = warmup(timed, self.warmup_s - spent, self.warmup_iters - 1)
                per_call = (time.perf_counter() - start) / calls if calls else spent
            if self.channel is not None and not benchmark.disabled:
                extra.update(self._paired(self.channel, benchmark, name, timed, per_call))
            else:
                benchmark(timed)
            if benchmark.disabled:
                return extra
            if self.keep:
                run_stats = benchmark.stats
                self.kept[name] = (timed, run_stats.iterations, list(run_stats.stats.data))
            if repeat > 1:
                extra["per_application_s"] = benchmark.stats.stats.median / repeat
            if self.device.type == "cuda":
                extra["device_time_s"], extra["device_time_method"] = device_time(
                    forward, self.device
                )
                extra["peak_memory_bytes"] = peak_memory_bytes(forward, self.device)
                if self.do_bench:
                    from triton.testing import do_bench

                    # same process, same case: the reference our median must agree with
                    extra["do_bench_median_s"] = do_bench(forward, return_mode="median") / 1e3
        return extra

    def _paired(
        self,
        channel: Channel,
        benchmark: Any,
        name: str,
        timed: Callable[[], object],
        per_call: float,
    ) -> dict[str, object]:
        """Paired A/B: the rounds pytest-benchmark would run for this side, split into blocks
        that take turns with the other workers; this worker runs ``channel.blocks`` of them."""
        rounds = max(self.min_rounds, math.ceil(self.max_time / max(per_call, 1e-9)))
        per_block = max(1, round(rounds / channel.side_blocks))
        started = 0  # rounds started so far

        def setup() -> None:
            """Untimed, before each round: at a block's start, wait for the turn."""
            nonlocal started
            block, first = divmod(started, per_block)
            if first == 0:
                last = benchmark.stats.stats.data[-per_block:] if block else []
                if not channel.turn(name, block, last):
                    raise RuntimeError(f"unet-bench ab: block {block} of {name} was refused")
            started += 1

        benchmark.pedantic(timed, setup=setup, rounds=channel.blocks * per_block, iterations=1)
        # report the last block; the coordinator's answer only says that the case is done
        channel.turn(name, channel.blocks, benchmark.stats.stats.data[-per_block:])
        return {"ab_rounds_per_block": per_block}
