"""Every benchmark case, in one place apart from the benchmark bodies.

Ids are readable and deterministic (``conv=standard-norm=group-up=transposed-bs=32``); each case
names its ``group``, one per input shape, so each table compares variants side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from unet import ConvType, NormType, UNetConfig, UpsampleType, list_variants
from unet.costs import config_params, width_matching_params

NORM_SHAPE = (1024, 2, 2)  # the study's norm input, per example
NORM_APPLICATIONS = 1000  # the study times 1000 applications as one call
UPSAMPLE_IN, UPSAMPLE_OUT = (1024, 2, 2), 512  # (1,1024,2,2) -> (1,512,4,4)

# The --quick tier: four model variants that between them use every conv, norm and upsample.
QUICK_VARIANTS = (
    UNetConfig(conv=ConvType.STANDARD, norm=NormType.BATCH, upsample=UpsampleType.INTERPOLATE),
    UNetConfig(conv=ConvType.DEPTHWISE_SEPARABLE, norm=NormType.LAYER, upsample="transposed"),
    UNetConfig(conv=ConvType.STANDARD, norm=NormType.INSTANCE, upsample="transposed"),
    UNetConfig(conv=ConvType.DEPTHWISE_SEPARABLE, norm=NormType.GROUP, upsample="interpolate"),
)


# "Recovering capacity" (full tier only): the study's conv table (batch norm, interpolate) with
# the separable model given its capacity back by depth or by width, beside the standard model.
CAPACITY_REFERENCE = UNetConfig(conv=ConvType.STANDARD)
CAPACITY_SEPARABLE = UNetConfig(conv=ConvType.DEPTHWISE_SEPARABLE)


@cache
def capacity_variants() -> tuple[tuple[str, UNetConfig], ...]:
    """(name, config): the reference, the plain separable model, separable with 2 and 3 layers
    per block, and separable widened until its parameters first reach the reference's (the width
    found by the code: block_expansion 96, max_features 3072 for the study's model)."""
    wide = width_matching_params(CAPACITY_SEPARABLE, config_params(CAPACITY_REFERENCE))
    return (
        ("standard", CAPACITY_REFERENCE),
        ("separable", CAPACITY_SEPARABLE),
        ("separable-layers=2", CAPACITY_SEPARABLE.with_(layers_per_block=2)),
        ("separable-layers=3", CAPACITY_SEPARABLE.with_(layers_per_block=3)),
        (f"separable-be={wide.block_expansion}", wide),
    )


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def hourglass_input(config: UNetConfig, batch_size: int) -> tuple[int, ...]:
    """The input of a whole-hourglass case: a batch of the config's square images."""
    return (batch_size, config.in_channels, config.input_size, config.input_size)


@dataclass(frozen=True)
class ModelCase:
    config: UNetConfig
    batch_size: int

    @property
    def id(self) -> str:
        return f"{self.config.variant_id}-bs={self.batch_size}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return hourglass_input(self.config, self.batch_size)

    @property
    def group(self) -> str:
        return f"model {shape_text(self.input_shape)}"


@dataclass(frozen=True)
class CapacityCase:
    name: str  # e.g. "separable-layers=2"
    config: UNetConfig
    batch_size: int

    @property
    def id(self) -> str:
        return f"capacity={self.name}-bs={self.batch_size}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return hourglass_input(self.config, self.batch_size)

    @property
    def group(self) -> str:
        return f"capacity {shape_text(self.input_shape)}"

    @property
    def info(self) -> dict[str, object]:
        """The record's choices: the variant's name and every setting that makes it."""
        c = self.config
        return {
            "capacity": self.name,
            "conv": str(c.conv),
            "norm": str(c.norm),
            "upsample": str(c.upsample),
            "layers_per_block": str(c.layers_per_block),
            "block_expansion": str(c.block_expansion),
            "max_features": str(c.max_features),
        }


@dataclass(frozen=True)
class NormCase:
    norm: NormType
    batch_size: int
    applications: int = NORM_APPLICATIONS

    @property
    def id(self) -> str:
        return f"norm={self.norm}-bs={self.batch_size}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch_size, *NORM_SHAPE)

    @property
    def group(self) -> str:
        return f"norm {shape_text(self.input_shape)} x{self.applications}"


@dataclass(frozen=True)
class UpsampleCase:
    upsample: UpsampleType
    batch_size: int = 1

    @property
    def id(self) -> str:
        return f"up={self.upsample}-bs={self.batch_size}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.batch_size, *UPSAMPLE_IN)

    @property
    def group(self) -> str:
        _, h, w = UPSAMPLE_IN
        out = (self.batch_size, UPSAMPLE_OUT, 2 * h, 2 * w)
        return f"upsample {shape_text(self.input_shape)} -> {shape_text(out)}"


def model_cases(batch_sizes: tuple[int, ...], quick: bool) -> list[ModelCase]:
    variants = QUICK_VARIANTS if quick else tuple(list_variants())
    sizes = batch_sizes[:1] if quick else batch_sizes
    return [ModelCase(v, bs) for bs in sizes for v in variants]


def capacity_cases(batch_sizes: tuple[int, ...], quick: bool) -> list[CapacityCase]:
    if quick:  # the quick tier stays as it is
        return []
    return [CapacityCase(n, c, bs) for bs in batch_sizes for n, c in capacity_variants()]


def norm_cases(batch_sizes: tuple[int, ...], quick: bool) -> list[NormCase]:
    sizes = batch_sizes[:1] if quick else batch_sizes
    return [NormCase(n, bs) for bs in sizes for n in NormType]


def upsample_cases(quick: bool) -> list[UpsampleCase]:
    return [UpsampleCase(u) for u in UpsampleType]
