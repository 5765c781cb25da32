"""torch.compile of one case: compile time apart from the timed rounds, graph breaks with their
reasons and source lines, and recompiles after the first compile."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

from unet.bench.measure.settings import SuiteOptions
from unet.bench.measure.timing import synchronized
from unet.bench.measure.workload import workload
from unet.torchcompat import dynamo_counters, dynamo_reset

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
# the modes whose compiled model replays CUDA graphs of its own (cudagraph trees)
CUDAGRAPH_MODES = ("reduce-overhead", "max-autotune")


def graph_use(training: bool, mode: str | None) -> str:
    """How ``timing.device_time`` may use CUDA graphs for a case: not around a training step,
    nor around a model that replays graphs itself."""
    if training:
        return "train"
    return "compiled" if mode in CUDAGRAPH_MODES else "try"


def _counters() -> dict:
    return dynamo_counters()  # dynamo's and inductor's own tallies, per process


@dataclass
class CompiledCase:
    """What compiling one case found; ``graphs`` is dynamo's graph count after the first call."""

    mode: str
    compile_s: float = 0.0  # the first call, compile included
    graph_breaks: int = 0
    reasons: list[str] = field(default_factory=list)  # each break: reason and source line
    graphs: int = 0
    cached: bool = False  # inductor reused a compiled graph from its on-disk cache
    cudagraph_skips: int = 0  # graphs a cudagraph mode ran without CUDA graphs (inductor's count)

    def as_extra(self) -> dict[str, object]:
        return {
            "compile": self.mode,
            "compile_s": self.compile_s,
            "graph_breaks": self.graph_breaks,
            "graph_break_reasons": self.reasons,
            "compile_cached": self.cached,
            "cudagraph_skips": self.cudagraph_skips,
        }

    def recompiles(self) -> int:
        """Graphs compiled since the first call: each one a recompile."""
        return int(_counters()["stats"]["unique_graphs"]) - self.graphs


def compile_module(module: nn.Module, mode: str) -> nn.Module:
    """A fresh ``torch.compile`` of ``module`` (dynamo's caches and tallies reset first, so each
    case compiles alone and its counts are its own)."""
    dynamo_reset()
    _counters().clear()
    return torch.compile(module, mode=None if mode == "default" else mode)


def first_call(name: str, mode: str, call: Callable[[], object]) -> CompiledCase:
    """Run the compiled case once (the compile happens here), timed; a compile that fails fails
    this case alone, with the compiler's error."""
    start = time.perf_counter()
    try:
        call()
    except Exception as err:  # the compiler's own error, whatever its type
        summary = str(err).strip().splitlines()[0] if str(err).strip() else ""
        pytest.fail(
            f"{name}: torch.compile (mode {mode}) failed: {type(err).__name__}: {summary}", False
        )
    seconds = time.perf_counter() - start
    counters = _counters()
    breaks = dict(counters["graph_break"])
    reasons = [text.strip().splitlines()[0] for text in breaks]
    graphs = int(counters["stats"]["unique_graphs"])
    cached = counters["inductor"]["fxgraph_cache_hit"] > 0
    skips = int(counters["inductor"]["cudagraph_skips"])
    return CompiledCase(mode, seconds, sum(breaks.values()), reasons, graphs, cached, skips)


def break_sources(module: nn.Module, x: torch.Tensor) -> list[str]:
    """The first graph break of ``module(x)`` with the user source line that caused it: compiled
    with ``fullgraph=True``, dynamo raises at the break and names the user frames (called only
    when there are breaks; it compiles again)."""
    dynamo_reset()
    try:
        torch.compile(module, fullgraph=True)(x)
    except Exception as err:  # dynamo's Unsupported, or whatever stopped it
        text = str(err)
        reason = text.strip().splitlines()[0] if text.strip() else type(err).__name__
        user = text[text.find("from user code:") :] if "from user code:" in text else ""
        frames = re.findall(r'File "([^"]+)", line (\d+), in \S+\n(?: +(\S.*))?', user)
        if frames:
            path, line, source = frames[-1]
            return [f"{reason} at {path}:{line}" + (f": {source.strip()}" if source else "")]
        return [reason]
    return []


def compile_case(
    options: SuiteOptions, name: str, module: nn.Module, x: torch.Tensor, repeat: int
) -> tuple[Callable[[], object], CompiledCase]:
    """The stage for --compile: the compiled case's work, run once (its compile time recorded
    apart from the rounds), and the breaks' source lines when there are any."""
    mode = str(options.compile)
    forward = workload(options, compile_module(module, mode), x, repeat)
    compiled = first_call(name, mode, synchronized(forward, options.device))
    if compiled.graph_breaks:  # explain traces again: compile afresh after it
        reasons = break_sources(module, x) or compiled.reasons
        forward = workload(options, compile_module(module, mode), x, repeat)
        compiled = first_call(name, mode, synchronized(forward, options.device))
        compiled.reasons = reasons
    return forward, compiled


def check_recompiles(name: str, recompiles: int | None) -> None:
    """One compile per case (one shape); any later one fails the case."""
    if recompiles:
        pytest.fail(
            f"{name}: recompiled {recompiles} time(s) after the first compile "
            "(one shape per case should compile once)",
            False,
        )
