"""unet-bench: what each U-Net layer choice costs in latency and FLOPs."""

from unet.choices import ConvType, NormType, UpsampleType
from unet.config import UNetConfig, list_variants
from unet.costs import CostReport, cost_table, count_params, measure_costs, model_costs
from unet.model import Hourglass, build_model

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
