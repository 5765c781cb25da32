"""Layer registries: name -> constructor for each choice, plus the conv-norm-ReLU block.

``get_*`` returns a constructor, ``create_*`` a built layer (timm's convention). Every norm
constructor takes the channel count first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from torch import nn

from unet.choices import ConvType, NormType, UpsampleType, parse_choice

# --- convolutions ------------------------------------------------------------------------


def standard_conv(
    in_channels: int, out_channels: int, kernel_size: int = 3, *, transposed: bool = False
) -> nn.Module:
    """Dense k x k conv with bias (the study's 14,129,568 params include the biases).

    ``transposed`` gives the x2 upsampling ConvTranspose2d(stride=2, output_padding=1), which has
    the same parameters as the conv it replaces.
    """
    if transposed:
        return nn.ConvTranspose2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=2,
            padding=kernel_size // 2,
            output_padding=1,
        )
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)


class DepthwiseSeparableConv2d(nn.Sequential):
    """Depthwise k x k (groups=in_channels) then pointwise 1x1.

    Bias convention: both convs keep PyTorch's default bias, as the study's nn.Conv2d calls did,
    so a layer has (k*k + 1) * M + (M + 1) * N parameters for M in and N out channels.
    ``transposed`` makes the depthwise part a x2 ConvTranspose2d with groups=in_channels.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, *, transposed: bool = False
    ) -> None:
        depthwise: nn.Module
        if transposed:
            depthwise = nn.ConvTranspose2d(
                in_channels,
                in_channels,
                kernel_size,
                stride=2,
                padding=kernel_size // 2,
                output_padding=1,
                groups=in_channels,
            )
        else:
            depthwise = nn.Conv2d(
                in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels
            )
        super().__init__(
            OrderedDict(depthwise=depthwise, pointwise=nn.Conv2d(in_channels, out_channels, 1))
        )
        self.in_channels = in_channels
        self.out_channels = out_channels


ConvLayer = Callable[..., nn.Module]
CONV_LAYERS: dict[ConvType, ConvLayer] = {
    ConvType.STANDARD: standard_conv,
    ConvType.DEPTHWISE_SEPARABLE: DepthwiseSeparableConv2d,
}


def get_conv(conv: ConvType | str) -> ConvLayer:
    return CONV_LAYERS[parse_choice(ConvType, conv, "conv")]


def create_conv(
    conv: ConvType | str,
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    *,
    transposed: bool = False,
) -> nn.Module:
    return get_conv(conv)(in_channels, out_channels, kernel_size, transposed=transposed)


# --- normalisation -----------------------------------------------------------------------


def batch_norm(num_channels: int) -> nn.Module:
    return nn.BatchNorm2d(num_channels)


class LayerNorm2d(nn.GroupNorm):
    """LayerNorm over all features (C, H, W) of each example, with a per-channel affine.

    One group = every feature of the example, so it works for any H x W and its 2*C parameters
    do not depend on the input size (nn.LayerNorm([C, H, W]) would fix H and W and carry
    2*C*H*W parameters). timm calls this GroupNorm1.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__(1, num_channels, eps=eps)


def layer_norm(num_channels: int, *, spatial_shape: Sequence[int] | None = None) -> nn.Module:
    """``spatial_shape`` given: the study's nn.LayerNorm([C, H, W]) with elementwise affine."""
    if spatial_shape is not None:
        return nn.LayerNorm([num_channels, *spatial_shape])
    return LayerNorm2d(num_channels)


def instance_norm(num_channels: int) -> nn.Module:
    return nn.InstanceNorm2d(num_channels, affine=True)


def group_norm(num_channels: int, *, num_groups: int | None = None) -> nn.Module:
    """GroupNorm with ``num_groups`` groups, num_channels // 2 by default (the study's)."""
    groups = num_channels // 2 if num_groups is None else num_groups
    if groups < 1 or num_channels % groups:
        raise ValueError(
            f"num_groups {groups} does not divide num_channels {num_channels}; "
            f"use a divisor of {num_channels}"
        )
    return nn.GroupNorm(groups, num_channels)


NormLayer = Callable[..., nn.Module]
NORM_LAYERS: dict[NormType, NormLayer] = {
    NormType.BATCH: batch_norm,
    NormType.LAYER: layer_norm,
    NormType.INSTANCE: instance_norm,
    NormType.GROUP: group_norm,
}


def get_norm(norm: NormType | str) -> NormLayer:
    return NORM_LAYERS[parse_choice(NormType, norm, "norm")]


def create_norm(
    norm: NormType | str,
    num_channels: int,
    *,
    num_groups: int | None = None,
    spatial_shape: Sequence[int] | None = None,
) -> nn.Module:
    """Build a norm layer. ``num_groups`` matters to 'group' alone, ``spatial_shape`` to 'layer'
    alone; the other norms ignore them so one call serves every variant."""
    norm = parse_choice(NormType, norm, "norm")
    if norm == NormType.GROUP:
        return group_norm(num_channels, num_groups=num_groups)
    if norm == NormType.LAYER:
        return layer_norm(num_channels, spatial_shape=spatial_shape)
    return NORM_LAYERS[norm](num_channels)


# --- upsampling --------------------------------------------------------------------------


class InterpolateConv(nn.Sequential):
    """Nearest-neighbour x2, then the block's 3x3 conv (the FOMM up block)."""

    def __init__(
        self, in_channels: int, out_channels: int, *, conv: ConvType | str = ConvType.STANDARD
    ) -> None:
        super().__init__(
            OrderedDict(
                upsample=nn.Upsample(scale_factor=2, mode="nearest"),
                conv=create_conv(conv, in_channels, out_channels),
            )
        )
        self.out_channels = out_channels


def transposed_conv(
    in_channels: int, out_channels: int, *, conv: ConvType | str = ConvType.STANDARD
) -> nn.Module:
    """ConvTranspose2d(k=3, s=2, p=1, output_padding=1); depthwise-separable when conv is."""
    return create_conv(conv, in_channels, out_channels, transposed=True)


UpsampleLayer = Callable[..., nn.Module]
UPSAMPLE_LAYERS: dict[UpsampleType, UpsampleLayer] = {
    UpsampleType.INTERPOLATE: InterpolateConv,
    UpsampleType.TRANSPOSED: transposed_conv,
}


def get_upsample(upsample: UpsampleType | str) -> UpsampleLayer:
    return UPSAMPLE_LAYERS[parse_choice(UpsampleType, upsample, "upsample")]


def create_upsample(
    upsample: UpsampleType | str,
    in_channels: int,
    out_channels: int,
    *,
    conv: ConvType | str = ConvType.STANDARD,
) -> nn.Module:
    """x2 upsampling that also maps in_channels -> out_channels."""
    return get_upsample(upsample)(in_channels, out_channels, conv=conv)


# --- blocks ------------------------------------------------------------------------------


class ConvNormAct(nn.Sequential):
    """conv (any module mapping to out_channels) -> norm -> ReLU, like torchvision's block."""

    def __init__(self, conv: nn.Module, norm: nn.Module, out_channels: int) -> None:
        super().__init__(OrderedDict(conv=conv, norm=norm, act=nn.ReLU()))
        self.out_channels = out_channels
