"""What a case is measured under: the suite's options as parsed (``suite.options`` declares them
and checks each value), typed, and what follows from them (the torch dtype, the grad mode, the
autocast context). The runner and its stages take this object as it is."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from unet.bench.defaults import MIN_EFFECT
from unet.bench.measure.profile import PROFILE_SECONDS
from unet.bench.results.floors import DEFAULT_PATH as FLOORS
from unet.bench.results.manifest import DEFAULT_PATH as MANIFEST

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class SuiteOptions:
    """The parsed options of the suite, typed."""

    device: torch.device  # resolved: auto is CUDA when present, else CPU
    dtype: str  # a key of DTYPES; the weights and input are cast to it
    channels_last: bool  # NHWC model and input
    mode: str  # "inference" or "train"
    autocast: str | None  # torch.autocast dtype around each forward; None: off
    compile: str | None  # torch.compile mode; None: eager
    cache: str  # "warm", or "cold": the caches evicted before every timed call (cache.py)
    batch_sizes: tuple[int, ...]  # of the model and norm cases
    quick: bool  # the CPU-CI tier
    warmup_time: float | None  # seconds per case; None: the device's default
    profile_dir: Path | None  # write each case's profile and Chrome trace here
    profile_time: float  # seconds of calls per case profile
    update_cost_manifest: bool  # write this run's costs instead of failing on changes
    cost_manifest: Path  # the manifest the cost gate checks
    verdict: bool  # noise-aware verdicts against the compared run
    noise_floors: Path  # the calibrated floors --verdict reads
    min_effect: float  # smallest relative change a verdict counts
    gate_on: str  # what --verdict judges: median, p90 or p99 of the rounds
    do_bench: bool  # also time with triton's do_bench (CUDA)
    skip_costs: bool  # no cost counting and no cost gate
    allow_other_hardware: bool  # compare with a run of other hardware anyway

    @classmethod
    def from_config(cls, config: Any) -> SuiteOptions:
        """The parsed values of a ``pytest.Config``; each field is named after its option
        (``--dtype`` -> ``dtype``)."""
        return cls(**{f.name: getattr(config.option, f.name) for f in fields(cls)})

    @classmethod
    def defaults(cls, device: torch.device, **changes: Any) -> SuiteOptions:
        """The options of a plain run on ``device`` (what the suite's defaults give), with
        ``changes``."""
        plain = cls(
            device=device,
            dtype="float32",
            channels_last=False,
            mode="inference",
            autocast=None,
            compile=None,
            cache="warm",
            batch_sizes=(1, 32),
            quick=False,
            warmup_time=None,
            profile_dir=None,
            profile_time=PROFILE_SECONDS,
            update_cost_manifest=False,
            cost_manifest=MANIFEST,
            verdict=False,
            noise_floors=FLOORS,
            min_effect=MIN_EFFECT,
            gate_on="median",
            do_bench=False,
            skip_costs=False,
            allow_other_hardware=False,
        )
        return replace(plain, **changes)

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def training(self) -> bool:
        return self.mode == "train"

    def grad_mode(self) -> contextlib.AbstractContextManager:
        return torch.enable_grad() if self.training else torch.no_grad()

    def precision(self) -> contextlib.AbstractContextManager:
        """torch.autocast around a forward when asked for, else nothing."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=DTYPES[self.autocast])
