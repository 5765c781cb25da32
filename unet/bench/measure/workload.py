"""The stages that make a case's work: ``place`` puts the model and input on the device in the
run's dtype and memory format, ``workload`` wraps them as the call that is timed (forwards, or
training steps), and ``check_output`` makes its first call, whose output must be finite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from unet.bench.measure.counters import CallCounts, count_call
from unet.bench.measure.settings import SuiteOptions


def place(
    options: SuiteOptions, module: nn.Module, x: torch.Tensor
) -> tuple[nn.Module, torch.Tensor]:
    """``module`` and ``x`` on the device, in the dtype and memory format, in train or eval mode."""
    module = module.to(device=options.device, dtype=options.torch_dtype).train(options.training)
    x = x.to(device=options.device, dtype=options.torch_dtype)
    if options.channels_last:
        module = module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return module, x


def workload(
    options: SuiteOptions, module: nn.Module, x: torch.Tensor, repeat: int
) -> Callable[[], Any]:
    """The timed work: ``repeat`` forwards, or in train mode ``repeat`` training steps (forward,
    the output's mean as loss, backward, an SGD step; gradients freed first)."""
    if not options.training:

        def forward() -> torch.Tensor:
            with options.precision():
                for _ in range(repeat):
                    out = module(x)
            return out

        return forward
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-4) if params else None

    def train_step() -> torch.Tensor:
        for _ in range(repeat):
            # forward and loss under autocast; backward outside, as autocast advises
            with options.precision():
                loss = (out := module(x)).float().mean()
            loss.backward()
            if optimizer is not None:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        return out.detach()

    return train_step


def check_output(
    options: SuiteOptions,
    name: str,
    timed: Callable[[], torch.Tensor],
    existing: list[torch.Tensor] | None = None,
) -> tuple[float, CallCounts | None]:
    """One call whose output must be finite (it is also the first warmup call), counted unless
    ``existing`` is None (the tensors that are not the call's own); its seconds and counts."""
    start = time.perf_counter()
    outputs: list[torch.Tensor] = []
    counts = None
    if existing is None:
        outputs.append(timed())
    else:
        counts = count_call(lambda: outputs.append(timed()), existing)
    if not torch.isfinite(outputs[0]).all():
        pytest.fail(f"{name}: output contains NaN or inf ({options.dtype})", False)
    return time.perf_counter() - start, counts
