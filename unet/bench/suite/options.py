"""The suite's own command-line options, each checked when pytest parses it (``type=`` callables,
so a bad value is a usage error, exit 4, naming the option, the value and what is valid)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from unet.bench.defaults import GATE_STATISTICS, MIN_EFFECT
from unet.bench.measure.cache import CACHES
from unet.bench.measure.compiled import COMPILE_MODES
from unet.bench.measure.hardware import resolve_device
from unet.bench.measure.profile import PROFILE_SECONDS
from unet.bench.measure.settings import DTYPES
from unet.bench.results.axes import AUTOCAST_DTYPES, MODES
from unet.bench.results.floors import DEFAULT_PATH as FLOORS
from unet.bench.results.manifest import DEFAULT_PATH as MANIFEST
from unet.bench.values import (
    batch_sizes,
    min_effect,
    one_of,
    profile_seconds,
    warmup_seconds,
)

DEFAULT_BATCH_SIZES = (1, 32)


def device(text: str) -> torch.device:
    try:
        return resolve_device(text)
    except ValueError as err:  # unknown name, or CUDA asked for without a GPU
        raise argparse.ArgumentTypeError(str(err)) from None


dtype_name = one_of("--dtype", sorted(DTYPES))
autocast_name = one_of("--autocast", list(AUTOCAST_DTYPES))
compile_mode = one_of("--compile", list(COMPILE_MODES))
mode_name = one_of("--mode", list(MODES))
cache_name = one_of("--cache", list(CACHES))
gate_statistic = one_of("--gate-on", list(GATE_STATISTICS))


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("unet-bench")
    _add_case_options(group)
    _add_axis_options(group)
    _add_profile_options(group)
    _add_gate_options(group)


def _add_case_options(g: pytest.OptionGroup) -> None:
    """Where and which cases run."""
    g.addoption(
        "--device",
        type=device,
        default="auto",
        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N",
    )
    g.addoption(
        "--batch-sizes",
        type=batch_sizes,
        default=",".join(map(str, DEFAULT_BATCH_SIZES)),
        help="comma-separated batch sizes of the model and norm cases (default 1,32)",
    )
    g.addoption(
        "--quick",
        action="store_true",
        help="CPU-CI tier: 4 model variants covering every choice, batch = first size",
    )
    g.addoption(
        "--warmup-time",
        type=warmup_seconds,
        default=None,
        help="seconds of warmup per case, >= 0 (default 0.3 on CUDA, 0.05 on CPU)",
    )


def _add_axis_options(g: pytest.OptionGroup) -> None:
    """The run's axes: what every case measures (part of the run's identity, see axes.py)."""
    g.addoption(
        "--dtype", type=dtype_name, default="float32", help="float32 (default), float16 or bfloat16"
    )
    g.addoption("--channels-last", action="store_true", help="NHWC memory format")
    g.addoption(
        "--autocast",
        type=autocast_name,
        default=None,
        help="run each forward under torch.autocast with this dtype (bfloat16 or float16), the "
        "weights kept in float32; distinct from --dtype, which casts the weights",
    )
    g.addoption(
        "--compile",
        type=compile_mode,
        nargs="?",
        const="default",
        default=None,
        help="time each case through torch.compile (mode: default when none is given, "
        "reduce-overhead, max-autotune, max-autotune-no-cudagraphs); compile time, graph "
        "breaks and recompiles are recorded, breaks gated like costs",
    )
    g.addoption(
        "--cache",
        type=cache_name,
        default="warm",
        help="warm (default: back-to-back calls) or cold: before every timed call, untimed, a "
        "buffer twice the GPU's L2 (CUDA) or the CPU's last-level cache is written, and each "
        "round is one call",
    )
    g.addoption(
        "--mode",
        type=mode_name,
        default="inference",
        help="inference (default: eval, no_grad) or train: one timed call is a training step "
        "(forward, the output's mean as loss, backward, an SGD step), norms with batch statistics",
    )


def _add_profile_options(g: pytest.OptionGroup) -> None:
    """Per-operator profiles of the cases."""
    g.addoption(
        "--profile-dir",
        type=Path,
        default=None,
        # for the processes `explain` and `ab` start, not users: hidden from --help
        help=argparse.SUPPRESS,
    )
    g.addoption(
        "--profile-time",
        type=profile_seconds,
        default=PROFILE_SECONDS,
        help=argparse.SUPPRESS,  # seconds (> 0) per case profile; explain and ab use 1
    )


def _add_gate_options(g: pytest.OptionGroup) -> None:
    """What a run is checked against."""
    g.addoption(
        "--update-cost-manifest",
        action="store_true",
        help="rewrite the cost manifest with this run's costs (intended changes)",
    )
    g.addoption(
        "--cost-manifest",
        type=Path,
        default=MANIFEST,
        help="the cost manifest to check against (default benchmarks/cost_manifest.json)",
    )
    g.addoption(
        "--verdict",
        action="store_true",
        help="decide each case against the compared run; a suspected regression is "
        "confirmed by a paired A/B against the compared run's commit (fresh processes), or "
        "judged against this hardware's calibrated noise floor, else it is unsure; exit 1 "
        "only on a confirmed one (needs --benchmark-compare against a run saved with "
        "--benchmark-save-data)",
    )
    g.addoption(
        "--noise-floors",
        type=Path,
        default=FLOORS,
        help="the calibrated noise floors --verdict reads (default benchmarks/noise_floors.json, "
        "written by unet-bench calibrate)",
    )
    g.addoption(
        "--min-effect",
        type=min_effect,
        default=MIN_EFFECT,
        help=f"smallest relative median change --verdict counts, >= 0 (default {MIN_EFFECT})",
    )
    g.addoption(
        "--gate-on",
        type=gate_statistic,
        default="median",
        help="what --verdict judges: median (default), or p90 / p99 of the rounds (a tail "
        "percentile needs 64 / 662 rounds a side, else the case is unsure)",
    )
    g.addoption(
        "--do-bench",
        action="store_true",
        help="CUDA only: also time each case with triton.testing.do_bench (median) and "
        "record do_bench_median_s, to check this suite's timings against it",
    )
    g.addoption(
        "--skip-costs",
        action="store_true",
        help=argparse.SUPPRESS,  # A/B workers and profiling processes that do not count costs
    )
    g.addoption(
        "--allow-other-hardware",
        action="store_true",
        help="compare against a run from other hardware or that measured other axes (dtype, "
        "mode, compile, ...): both refusals are waived (latencies may not be comparable)",
    )
