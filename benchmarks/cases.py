"""Every benchmark case, in one place apart from the benchmark bodies.

Ids are readable and deterministic (``conv=standard-norm=group-up=transposed-bs=32``); each case
names its ``group``, one per input shape, so each table compares variants side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

from unet import ConvType, NormType, UNetConfig, UpsampleType, list_variants

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


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


@dataclass(frozen=True)
class ModelCase:
    config: UNetConfig
    batch_size: int

    @property
    def id(self) -> str:
        return f"{self.config.variant_id}-bs={self.batch_size}"

    @property
    def input_shape(self) -> tuple[int, ...]:
        c = self.config
        return (self.batch_size, c.in_channels, c.input_size, c.input_size)

    @property
    def group(self) -> str:
        return f"model {shape_text(self.input_shape)}"


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


def norm_cases(batch_sizes: tuple[int, ...], quick: bool) -> list[NormCase]:
    sizes = batch_sizes[:1] if quick else batch_sizes
    return [NormCase(n, bs) for bs in sizes for n in NormType]


def upsample_cases(quick: bool) -> list[UpsampleCase]:
    return [UpsampleCase(u) for u in UpsampleType]
