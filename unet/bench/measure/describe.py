"""The stage that describes a case before it runs: its identity (the layer choices and the run's
axes) and, unless another process counts them, its exact costs (fvcore FLOPs and parameters, and
in train mode the backward's FLOPs)."""

from __future__ import annotations

import torch
from torch import nn

from unet.bench.measure.settings import SuiteOptions
from unet.bench.results.record import SCHEMA
from unet.costs import measure_costs
from unet.trainflops import count_train_step


def describe(
    options: SuiteOptions, module: nn.Module, x: torch.Tensor, info: dict[str, object], repeat: int
) -> dict[str, object]:
    """The case's record fields known before it runs (``info``: its own layer choices)."""
    extra = dict(info)
    extra.update(
        batch_size=x.shape[0],
        device=options.device.type,
        dtype=options.dtype,
        channels_last=options.channels_last,
        mode=options.mode,
        autocast=options.autocast,
    )
    if options.cache != "warm":  # absent for warm: every run before the axis was warm
        extra["cache"] = options.cache
    if not options.skip_costs:  # A/B's workers: the coordinator counts them once
        costs = measure_costs(module, x)
        extra.update(
            params=costs.params,
            flops=costs.flops,
            mult_adds=costs.mult_adds,
            unsupported_ops=sorted(costs.unsupported_ops),
        )
        if options.training:  # per application, as flops: forward plus the convs' backward
            backward = count_train_step(module, x).backward
            extra.update(backward_flops=backward, train_flops=costs.flops + backward)
    if options.device.type == "cpu":
        extra["threads"] = torch.get_num_threads()
    extra["schema"] = SCHEMA  # the record's (results/record.py)
    if repeat > 1:
        extra["applications_per_call"] = repeat
    return extra
