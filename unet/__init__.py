"""unet-bench: what each U-Net layer choice costs in latency and FLOPs.

The model and its costs are imported when first used (PEP 562), so that what needs only the
choices or the config, ``unet-bench --help`` above all, does not import torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from unet.choices import ConvType, NormType, UpsampleType
from unet.config import UNetConfig, list_variants

if TYPE_CHECKING:
    from unet.costs import CostReport, cost_table, count_params, measure_costs, model_costs
    from unet.model import Hourglass, build_model

_LAZY = {
    "CostReport": "unet.costs",
    "cost_table": "unet.costs",
    "count_params": "unet.costs",
    "measure_costs": "unet.costs",
    "model_costs": "unet.costs",
    "Hourglass": "unet.model",
    "build_model": "unet.model",
}

__all__ = [
    "ConvType",
    "CostReport",
    "Hourglass",
    "NormType",
    "UNetConfig",
    "UpsampleType",
    "build_model",
    "cost_table",
    "count_params",
    "list_variants",
    "measure_costs",
    "model_costs",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unet' has no attribute {name!r}")
