"""Parameter, FLOP and mult-add accounting.

Two conventions, both reported because both matter:

* ``flops``: fvcore's FlopCountAnalysis, one multiply-add = one flop. It counts true work:
  a ConvTranspose2d is charged per *input* position, and biases are not counted.
* ``mult_adds``: the study's figure, torchinfo's ``total_mult_adds``: every conv's weight+bias
  parameters x batch x output positions (transposed convs included, which overstates them 4x at
  stride 2), plus batch x parameters for every other layer with weights (the norms).

Operators fvcore cannot count (avg_pool2d in this model) are listed in ``unsupported_ops`` so a
reader sees what the flops total leaves out.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from unet.config import UNetConfig
from unet.model import build_model

if TYPE_CHECKING:
    from fvcore.nn import FlopCountAnalysis


@dataclass(frozen=True)
class CostReport:
    params: int  # trainable and frozen parameters (buffers excluded)
    flops: int  # fvcore total, 1 multiply-add = 1 flop
    mult_adds: int  # the study's (torchinfo's) convention
    flops_by_operator: dict[str, int] = field(default_factory=dict)  # e.g. {'conv': ...}
    flops_by_module: dict[str, int] = field(default_factory=dict)  # '' is the whole model
    unsupported_ops: dict[str, int] = field(default_factory=dict)  # op -> times seen, uncounted

    def as_dict(self) -> dict[str, object]:
        """The headline figures, JSON-ready (sorted unsupported op names)."""
        return {
            "params": self.params,
            "flops": self.flops,
            "mult_adds": self.mult_adds,
            "unsupported_ops": sorted(self.unsupported_ops),
        }


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def study_mult_adds(model: nn.Module, inputs: torch.Tensor) -> int:
    """torchinfo's total_mult_adds for one forward pass on ``inputs``.

    Counted in eval mode (torchinfo restores the model's mode after): the figure does not
    depend on the mode, and eval keeps BatchNorm's running statistics untouched.
    """
    from torchinfo import summary  # imported on use: it and fvcore slow every process start

    stats = summary(model, input_data=[inputs], verbose=0, mode="eval", device=inputs.device)
    return int(stats.total_mult_adds)


def fvcore_flops(model: nn.Module, inputs: torch.Tensor) -> FlopCountAnalysis:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, (inputs,))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis


def measure_costs(model: nn.Module, inputs: torch.Tensor) -> CostReport:
    """Every cost figure of ``model`` for one forward pass on ``inputs``.

    fvcore traces a forward pass in the model's own mode (train-mode BatchNorm costs more); it
    runs on a copy so a train-mode trace cannot move the caller's running statistics.
    """
    if model.training:
        model = copy.deepcopy(model)
    with torch.no_grad(), warnings.catch_warnings():
        # jit tracing warns about the Python-side input checks; they do not change the graph
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        analysis = fvcore_flops(model, inputs)
        total = int(analysis.total())
        by_operator = {k: int(v) for k, v in sorted(analysis.by_operator().items())}
        by_module = {k: int(v) for k, v in analysis.by_module().items()}
        unsupported = dict(sorted(analysis.unsupported_ops().items()))
        mult_adds = study_mult_adds(model, inputs)
    return CostReport(
        params=count_params(model),
        flops=total,
        mult_adds=mult_adds,
        flops_by_operator=by_operator,
        flops_by_module=by_module,
        unsupported_ops=unsupported,
    )


def model_costs(config: UNetConfig | None = None, batch_size: int = 1) -> CostReport:
    """Costs of the hourglass built from ``config`` on a batch of its input size, in eval mode."""
    config = config if config is not None else UNetConfig()
    model = build_model(config).eval()
    x = torch.zeros(batch_size, config.in_channels, config.input_size, config.input_size)
    return measure_costs(model, x)


def config_params(config: UNetConfig) -> int:
    """The parameter count of the hourglass built from ``config``, without allocating its
    weights (built on the meta device)."""
    with torch.device("meta"):
        return count_params(build_model(config))


def widened(config: UNetConfig, block_expansion: int) -> UNetConfig:
    """``config`` with every block widened uniformly: ``block_expansion`` set, ``max_features``
    scaled in proportion (a width multiplier, as MobileNet's), so the deep blocks widen too
    instead of staying at the cap."""
    scale_cap = config.max_features * block_expansion // config.block_expansion
    return config.with_(block_expansion=block_expansion, max_features=scale_cap)


def width_matching_params(config: UNetConfig, target_params: int, limit: int = 4096) -> UNetConfig:
    """The narrowest widening of ``config`` (block_expansion in steps of 1) whose parameter
    count first reaches ``target_params``: the separable hourglass given the standard one's
    capacity back by width alone."""
    if config_params(config) >= target_params:
        return config
    low, high = config.block_expansion, config.block_expansion
    while config_params(widened(config, high)) < target_params:  # params grow with the width
        low, high = high, high * 2
        if high > limit:
            raise ValueError(
                f"target_params {target_params:,} not reached by widening {config.variant_id} "
                f"to block_expansion {limit}"
            )
    while high - low > 1:  # invariant: low is short of the target, high reaches it
        mid = (low + high) // 2
        low, high = (
            (mid, high) if config_params(widened(config, mid)) < target_params else (low, mid)
        )
    return widened(config, high)


def cost_table(configs: Iterable[UNetConfig], batch_size: int = 1) -> list[dict[str, object]]:
    """One row per variant: variant id, params, fvcore flops, study mult-adds, unsupported ops."""
    return [{"variant": c.variant_id, **model_costs(c, batch_size).as_dict()} for c in configs]


# --- the analytic formulas (per layer, biases excluded, output side d_f) ---------------------


def standard_conv_macs(kernel_size: int, in_channels: int, out_channels: int, out_size: int) -> int:
    """D_k^2 * M * N * D_f^2."""
    return kernel_size**2 * in_channels * out_channels * out_size**2


def depthwise_separable_conv_macs(
    kernel_size: int, in_channels: int, out_channels: int, out_size: int
) -> int:
    """Depthwise M * D_k^2 * D_f^2 plus pointwise M * N * D_f^2."""
    return in_channels * kernel_size**2 * out_size**2 + in_channels * out_channels * out_size**2


def depthwise_separable_ratio(out_channels: int, kernel_size: int) -> float:
    """Depthwise-separable cost over standard: 1/N + 1/D_k^2."""
    return 1 / out_channels + 1 / kernel_size**2
