"""Runs one benchmark case through named stages, each taking the suite's options as they are:

1. ``workload.place`` — the model and input on the device, in the dtype and memory format;
2. ``describe.describe`` — the case's identity and, unless another process counts them, costs;
3. ``workload.check_output`` — the first call: its output must be finite; the exact counters;
4. ``compiled.compile_case`` — with --compile, the compiled work, compile time apart;
5. ``CaseRunner.measure`` — warmup, the timed rounds (or turns, in a paired A/B worker),
   telemetry around them, on CUDA the device figures; the timed call kept for --verdict;
6. the record: every stage's fields written to ``extra_info`` once, through ``CaseRecord``;
7. ``CaseRunner.finish`` — once every case is timed, profiles (``profile.profile_case``) and
   kernel figures (``kept.AfterTiming``).

``CaseRunner`` holds what lives across cases (kept calls, throttles, the work after timing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from unet.bench import pbcompat
from unet.bench.measure.cache import Evictor
from unet.bench.measure.compiled import CompiledCase, check_recompiles, compile_case, graph_use
from unet.bench.measure.counters import counted_on
from unet.bench.measure.describe import describe
from unet.bench.measure.energy import CountedCalls, EnergyMeter, metering
from unet.bench.measure.kept import AfterTiming, KeptCase, Placement
from unet.bench.measure.profile import profile_case
from unet.bench.measure.settings import SuiteOptions
from unet.bench.measure.telemetry import Telemetry, watching
from unet.bench.measure.timing import device_figures, synchronized, warmup
from unet.bench.measure.turns import Channel, RoundPlan, time_in_turns
from unet.bench.measure.workload import check_output, place, workload
from unet.bench.results.record import CaseRecord
from unet.bench.stats.percentiles import percentiles


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
    evictor: Evictor | None = None  # --cache cold: written before every timed call
    energy: EnergyMeter | None = None  # NVML's or RAPL's energy counter, where readable

    def __post_init__(self) -> None:
        if self.options.cache == "cold" and self.evictor is None:
            self.evictor = Evictor.for_device(self.options.device)  # allocated once per run

    @property
    def round_setup(self) -> Callable[[], None] | None:
        """What runs, untimed, before every timed call: the eviction of a cold run."""
        return self.evictor.evict if self.evictor is not None else None

    def round_plan(self) -> RoundPlan:
        seconds = self.evictor.seconds if self.evictor is not None else 0.0
        return RoundPlan(*self.budget, setup=self.round_setup, setup_s=seconds)

    @property
    def device(self) -> torch.device:
        return self.options.device

    @property
    def counts_costs(self) -> bool:  # not where another process counts them (A/B's workers)
        return not self.options.skip_costs

    @property
    def keeps(self) -> bool:  # each case's timed call and samples, for --verdict's re-measure
        return self.options.verdict

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
        o = self.options
        module, x = place(o, module, x)
        extra = describe(o, module, x, info, repeat)
        forward = workload(o, module, x, repeat)
        timed = synchronized(forward, self.device)  # what is timed: the device's work included
        with o.grad_mode():
            # the exact counters are counted on the first (eager) call, whose output is checked
            existing = [*module.parameters(), *module.buffers(), x] if self.counts_costs else None
            spent, counts = check_output(o, name, timed, existing)
            if counts is not None:
                extra.update(
                    counts.as_extra(counted_on(o.device, o.dtype, o.channels_last, o.autocast))
                )
            compiled: CompiledCase | None = None
            if o.compile is not None:  # from here on the compiled module is measured
                forward, compiled = compile_case(o, name, module, x, repeat)
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
                after = AfterTiming(
                    name, timed, per_call, benchmark.extra_info, placement, o.grad_mode()
                )
                self.after.append(after)
            placement.park()
            check_recompiles(name, record.compile.recompiles)
        return benchmark.extra_info

    @property
    def profiles_wanted(self) -> bool:
        return self.record_profiles or self.options.profile_dir is not None

    def profile(self, name: str, timed: Callable[[], object], per_call: float) -> dict:
        return profile_case(self.options, name, timed, per_call)

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
        counted = CountedCalls(timed)  # the calls the energy between the readings paid for
        rounds = counted if self.energy is not None else timed  # no wrapper without a meter
        with watching(self.telemetry, extra), metering(self.energy, extra, lambda: counted.calls):
            extra.update(self.time(benchmark, name, rounds, per_call))
        throttled = CaseRecord.from_extra(name, "", extra).throttled
        if throttled:
            self.throttles[name] = throttled
        per_call = pbcompat.median(benchmark)
        extra.update(percentiles(pbcompat.samples(benchmark)))  # those the rounds are enough for
        if self.keeps:
            self.kept[name] = KeptCase(
                timed,
                pbcompat.iterations(benchmark),
                pbcompat.samples(benchmark),
                throttled,
                training=self.options.training,
                setup=self.round_setup,
            )
        if repeat > 1:
            extra["per_application_s"] = per_call / repeat
        if self.device.type == "cuda":
            graphs = graph_use(self.options.training, self.options.compile)
            extra.update(device_figures(forward, self.device, graphs, self.options.do_bench))
        return per_call

    def warm(self, timed: Callable[[], object], spent: float) -> float:
        """Warm up (the output check was the first call); seconds per call: the fastest plain
        call, since the first calls (counted, compiled, or still warming) can be many times slower
        and the estimate sizes the rounds."""
        return min(warmup(timed, self.warmup_s - spent, max(1, self.warmup_iters - 1)))

    def time(
        self, benchmark: Any, name: str, timed: Callable[[], object], per_call: float
    ) -> dict[str, object]:
        """pytest-benchmark's rounds, or round blocks taking turns when this process is a
        paired A/B worker; a cold run's rounds are one call each, the eviction before each in
        pytest-benchmark's untimed setup."""
        plan = self.round_plan()
        if self.channel is not None:
            return time_in_turns(self.channel, benchmark, name, timed, per_call, plan)
        if plan.setup is None:
            benchmark(timed)
            return {}
        benchmark.pedantic(timed, setup=plan.setup, rounds=plan.rounds(per_call), iterations=1)
        return {}


def _nothing() -> None:
    """What a disabled benchmark runs: the case's forward already ran (checked, counted)."""
