"""What the runner keeps of a case once it is timed: the model's placement, the timed call for
--verdict's confirm-by-rerun, and the work that waits until every case is timed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from unet.bench.measure.profile import kernel_figures


@dataclass
class Placement:
    """Where a case's model lives between its timing and the work that comes back to it
    (confirm-by-rerun, the profiles after all timing): parked in host memory on CUDA, so that
    models of earlier cases do not fill the GPU while later ones are measured. A compiled model
    stays: its graphs (CUDA graphs of cudagraph modes above all) hold the weights' addresses."""

    module: nn.Module
    device: torch.device
    movable: bool = True

    def park(self) -> None:
        if self.device.type == "cuda" and self.movable:
            self.module.to("cpu")  # in place: the case's closures and optimizer see the move

    def resume(self) -> None:
        if self.device.type == "cuda" and self.movable:
            self.module.to(self.device)


@dataclass
class KeptCase:
    """A timed case kept for --verdict's confirm-by-rerun (only while it may be measured
    again: the gate drops it once it is judged no suspect)."""

    timed: Callable[[], object]  # the synchronised call that was timed
    iterations: int  # calls per round
    samples: list[float]  # seconds per call, per round
    throttled: list[str] = field(default_factory=list)  # GPU throttle reasons during the rounds
    placement: Placement | None = None  # resumed on the device to re-measure
    training: bool = False  # a training step: re-measured with autograd on, as it was timed
    setup: Callable[[], None] | None = None  # untimed before each round (a cold run's eviction)

    def grad_mode(self) -> contextlib.AbstractContextManager:
        return torch.enable_grad() if self.training else torch.no_grad()

    @contextlib.contextmanager
    def on_device(self) -> Iterator[None]:
        if self.placement is not None:
            self.placement.resume()
        try:
            yield
        finally:
            if self.placement is not None:
                self.placement.park()


@dataclass
class AfterTiming:
    """Work on a case that waits until every case is timed: profiles attach CUPTI (on CUDA),
    which can slow what runs after them (PyTorch #146604), so none runs between timings."""

    name: str
    timed: Callable[[], object]
    per_call: float
    extra: dict[str, object]  # the case's extra_info, completed in place
    placement: Placement
    grad: contextlib.AbstractContextManager

    def complete(self, profile: Callable[..., dict] | None, device: torch.device) -> dict | None:
        """Back on the device: its profile (``profile(name, timed, per_call)``) when asked
        for, and on CUDA the kernels of one call, both added to the case's record; then parked
        again. Returns the profile."""
        self.placement.resume()
        taken = None
        with self.grad:
            if profile is not None:
                taken = self.extra["profile"] = profile(self.name, self.timed, self.per_call)
            if device.type == "cuda":
                self.extra.update(kernel_figures(self.timed, device))
        self.placement.park()
        return taken
