"""Runs one benchmark case, in named stages, under the suite's options as they are:

1. ``place`` — the model and input on the device, in the dtype and memory format;
2. ``describe`` — the case's identity and, unless another process counts them, its costs;
3. ``check_output`` — the first call: its output must be finite; the exact counters;
4. ``compile_case`` — with --compile, the compiled work, its compile time apart from the rounds;
5. ``measure`` — warmup, the timed rounds (or turns, in a paired A/B worker), telemetry around
   them, on CUDA the device figures; the timed call kept for --verdict;
6. the record: every stage's fields written to ``extra_info`` once, through ``CaseRecord``;
7. ``finish`` — once every case is timed, the profiles and kernel figures (``AfterTiming``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from unet.bench import pbcompat
from unet.bench.measure.compiled import (
    CompiledCase,
    break_sources,
    compile_module,
    first_call,
    graph_use,
)
from unet.bench.measure.counters import CallCounts, count_call, counted_on
from unet.bench.measure.kept import AfterTiming, KeptCase, Placement
from unet.bench.measure.profile import profile_call
from unet.bench.measure.settings import SuiteOptions
from unet.bench.measure.telemetry import Telemetry, watching
from unet.bench.measure.timing import device_figures, synchronized, warmup
from unet.bench.measure.turns import Channel, time_in_turns
from unet.bench.results.record import SCHEMA, CaseRecord
from unet.costs import measure_costs
from unet.trainflops import count_train_step


@dataclass
class CaseRunner:
    """Runs the cases of one suite run under ``options`` (as parsed; see ``settings``), with
    what the run's set-up decided besides them."""

    options: SuiteOptions
    warmup_s: float = 0.3  # per case: cuDNN autotuning of its shapes, clocks back up after idling
    warmup_iters: int = 3
    budget: tuple[float, int] = (1.0, 5)  # pytest-benchmark's max time and min rounds
    channel: Channel | None = None  # set in a paired A/B worker: take turns per round block
    record_profiles: bool = False  # keep a per-operator profile of each case in its extra_info
    telemetry: Telemetry | None = None  # NVML readings around each case's rounds (CUDA)
    throttles: dict[str, list[str]] = field(default_factory=dict)  # case -> why it throttled
    kept: dict[str, KeptCase] = field(default_factory=dict)  # until the verdict gate takes it
    profiles: dict[str, dict] = field(default_factory=dict)  # case -> its profile, as recorded
    after: list[AfterTiming] = field(default_factory=list)  # waiting for all timing to end

    @property
    def device(self) -> torch.device:
        return self.options.device

    @property
    def counts_costs(self) -> bool:  # not where another process counts them (A/B's workers)
        return not self.options.skip_costs

    @property
    def keeps(self) -> bool:  # each case's timed call and samples, for --verdict's re-measure
        return self.options.verdict

    def call_for(self, module: nn.Module, x: torch.Tensor, repeat: int) -> Callable[[], Any]:
        """The timed work: ``repeat`` forwards, or in train mode ``repeat`` training steps
        (forward, the output's mean as loss, backward, an SGD step; gradients freed first)."""
        if not self.options.training:

            def forward() -> torch.Tensor:
                with self.options.precision():
                    for _ in range(repeat):
                        out = module(x)
                return out

            return forward
        params = [p for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=1e-4) if params else None

        def train_step() -> torch.Tensor:
            for _ in range(repeat):
                # forward and loss under autocast; backward outside, as autocast advises
                with self.options.precision():
                    loss = (out := module(x)).float().mean()
                loss.backward()
                if optimizer is not None:
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
            return out.detach()

        return train_step

    def place(self, module: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
        o = self.options
        module = module.to(device=o.device, dtype=o.torch_dtype).train(o.training)
        x = x.to(device=o.device, dtype=o.torch_dtype)
        if self.options.channels_last:
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
        """Benchmark ``repeat`` applications of ``module`` to ``x`` as one timed call; the
        stages' fields are written to ``extra_info`` once, through the case's record."""
        module, x = self.place(module, x)
        extra = self.describe(module, x, info, repeat)
        forward = self.call_for(module, x, repeat)
        timed = synchronized(forward, self.device)  # what is timed: the device's work included
        with self.options.grad_mode():
            # the exact counters are counted on the first (eager) call, whose output is checked
            existing = [*module.parameters(), *module.buffers(), x] if self.counts_costs else None
            spent, counts = self.check_output(name, timed, existing)
            if counts is not None:
                o = self.options
                on = counted_on(o.device, o.dtype, o.channels_last, o.autocast)
                extra.update(counts.as_extra(on))
            compiled = None
            if self.options.compile is not None:  # from here on the compiled module is measured
                forward, compiled = self.compile_case(name, module, x, repeat)
                timed = synchronized(forward, self.device)
                extra.update(compiled.as_extra())
                spent = 0.0  # the compile was no warm call: the compiled case gets a full warmup
            placement = Placement(module, self.device, movable=compiled is None)
            per_call = self.measure(benchmark, name, (forward, timed), spent, repeat, extra)
            if name in self.kept:
                self.kept[name].placement = placement
            if compiled is not None:
                extra["recompiles"] = compiled.recompiles()
            record = CaseRecord.from_extra(name, "", extra, strict=True)
            benchmark.extra_info.update(record.to_extra())  # the one write
            if self.profiles_wanted or self.device.type == "cuda":  # completed after all timing
                grad = self.options.grad_mode()
                after = AfterTiming(name, timed, per_call, benchmark.extra_info, placement, grad)
                self.after.append(after)
            placement.park()
            if compiled is not None:
                self.check_recompiles(name, record)
        return benchmark.extra_info

    @property
    def profiles_wanted(self) -> bool:
        return self.record_profiles or self.options.profile_dir is not None

    def finish(self) -> None:
        """The work that waited for all timing (``AfterTiming``): each case's profile where one
        is kept, and on CUDA the kernels of one call."""
        while self.after:
            case = self.after.pop(0)
            profile = case.complete(self.profile if self.profiles_wanted else None, self.device)
            if profile is not None:
                self.profiles[case.name] = profile

    def measure(
        self,
        benchmark: Any,
        name: str,
        calls: tuple[Callable[[], object], Callable[[], object]],
        spent: float,
        repeat: int,
        extra: dict[str, object],
    ) -> float:
        """Warm up and time (or, with timing disabled, neither); seconds per call. ``calls``:
        the case's work as launched, and synchronised (the one timed)."""
        forward, timed = calls
        if pbcompat.timing_disabled(benchmark):
            # pytest-benchmark warns about an unused fixture; the checked first call was this
            # case's forward, so it is given nothing to run again
            benchmark(_nothing)
            return self.warm(timed, spent) if self.profiles_wanted else spent
        per_call = self.warm(timed, spent)
        with watching(self.telemetry, extra):
            extra.update(self.time(benchmark, name, timed, per_call))
        throttled = CaseRecord.from_extra(name, "", extra).throttled
        if throttled:
            self.throttles[name] = throttled
        per_call = pbcompat.median(benchmark)
        if self.keeps:
            self.kept[name] = KeptCase(
                timed,
                pbcompat.iterations(benchmark),
                pbcompat.samples(benchmark),
                throttled,
                training=self.options.training,
            )
        if repeat > 1:
            extra["per_application_s"] = per_call / repeat
        if self.device.type == "cuda":
            graphs = graph_use(self.options.training, self.options.compile)
            extra.update(device_figures(forward, self.device, graphs, self.options.do_bench))
        return per_call

    def compile_case(
        self, name: str, module: nn.Module, x: torch.Tensor, repeat: int
    ) -> tuple[Callable[[], object], CompiledCase]:
        """The compiled case's work, run once (compile time recorded apart from the rounds),
        and the breaks' source lines when there are any."""
        mode = str(self.options.compile)
        forward = self.call_for(compile_module(module, mode), x, repeat)
        compiled = first_call(name, mode, synchronized(forward, self.device))
        if compiled.graph_breaks:  # explain traces again: compile afresh after it
            reasons = break_sources(module, x) or compiled.reasons
            forward = self.call_for(compile_module(module, mode), x, repeat)
            compiled = first_call(name, mode, synchronized(forward, self.device))
            compiled.reasons = reasons
        return forward, compiled

    def check_recompiles(self, name: str, record: CaseRecord) -> None:
        """One compile per case (one shape); any later one fails the case."""
        if again := record.compile.recompiles:
            pytest.fail(
                f"{name}: recompiled {again} time(s) after the first compile "
                "(one shape per case should compile once)",
                False,
            )

    def profile(self, name: str, timed: Callable[[], object], per_call: float) -> dict:
        """A per-operator profile of warm calls, outside the timed rounds."""
        folder, seconds = self.options.profile_dir, self.options.profile_time
        if folder is None:
            return profile_call(timed, self.device, per_call, seconds=seconds).to_dict()
        stem = folder / file_name(name)
        trace = Path(f"{stem}.trace.json")
        data = profile_call(timed, self.device, per_call, trace, seconds).to_dict()
        Path(f"{stem}.profile.json").write_text(json.dumps({"case": name, **data}, indent=1))
        return data

    def describe(
        self, module: nn.Module, x: torch.Tensor, info: dict[str, object], repeat: int
    ) -> dict[str, object]:
        """The case's identity and, unless another process counts them, its costs."""
        extra = dict(info)
        o = self.options
        extra.update(
            batch_size=x.shape[0],
            device=o.device.type,
            dtype=o.dtype,
            channels_last=o.channels_last,
            mode=o.mode,
            autocast=o.autocast,
        )
        if self.counts_costs:
            costs = measure_costs(module, x)
            extra.update(
                params=costs.params,
                flops=costs.flops,
                mult_adds=costs.mult_adds,
                unsupported_ops=sorted(costs.unsupported_ops),
            )
            if self.options.training:  # per application, as flops: forward plus the convs' backward
                backward = count_train_step(module, x).backward
                extra.update(backward_flops=backward, train_flops=costs.flops + backward)
        if self.device.type == "cpu":
            extra["threads"] = torch.get_num_threads()
        extra["schema"] = SCHEMA  # the record's (results/record.py)
        if repeat > 1:
            extra["applications_per_call"] = repeat
        return extra

    def check_output(
        self,
        name: str,
        timed: Callable[[], torch.Tensor],
        existing: list[torch.Tensor] | None = None,
    ) -> tuple[float, CallCounts | None]:
        """One call whose output must be finite (it is also the first warmup call), counted
        unless ``existing`` is None (the tensors that are not the call's own); seconds."""
        start = time.perf_counter()
        outputs: list[torch.Tensor] = []
        counts = None
        if existing is None:
            outputs.append(timed())
        else:
            counts = count_call(lambda: outputs.append(timed()), existing)
        if not torch.isfinite(outputs[0]).all():
            pytest.fail(f"{name}: output contains NaN or inf ({self.options.dtype})", False)
        return time.perf_counter() - start, counts

    def warm(self, timed: Callable[[], object], spent: float) -> float:
        """Warm up (the output check was the first call); seconds per call: the fastest plain
        call, since the first calls (counted, compiled, or still warming) can be many times slower
        and the estimate sizes the rounds."""
        return min(warmup(timed, self.warmup_s - spent, max(1, self.warmup_iters - 1)))

    def time(
        self, benchmark: Any, name: str, timed: Callable[[], object], per_call: float
    ) -> dict[str, object]:
        """pytest-benchmark's rounds, or round blocks taking turns when this process is a
        paired A/B worker."""
        if self.channel is not None:
            return time_in_turns(self.channel, benchmark, name, timed, per_call, self.budget)
        benchmark(timed)
        return {}


def file_name(case: str) -> str:
    """A case name as a file name: ``test_model[conv=...-bs=1]`` -> ``test_model-conv=...-bs=1``."""
    return re.sub(r"[^\w=.-]+", "-", case).strip("-")


def _nothing() -> None:
    """What a disabled benchmark runs: the case's forward already ran (checked, counted)."""
