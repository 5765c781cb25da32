"""The FOMM keypoint-detector hourglass. This file only wires layers; choices live in layers.py."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from unet.config import UNetConfig
from unet.layers import ConvNormAct, create_conv, create_norm, create_upsample


def conv_norm_act(in_channels: int, out_channels: int, config: UNetConfig) -> ConvNormAct:
    """conv3x3 -> norm -> ReLU with the config's conv and norm."""
    return ConvNormAct(
        create_conv(config.conv, in_channels, out_channels),
        create_norm(config.norm, out_channels, num_groups=config.group_count),
        out_channels,
    )


def extra_layers(channels: int, config: UNetConfig) -> OrderedDict[str, nn.Module]:
    """The block's layers after its first (``layers_per_block`` > 1), each channels -> channels.

    Named layer2, layer3, ...; with the default one layer per block there are none, so the
    modules and the state dict are the published hourglass's."""
    return OrderedDict(
        (f"layer{i}", conv_norm_act(channels, channels, config))
        for i in range(2, config.layers_per_block + 1)
    )


class DownBlock(nn.Sequential):
    """conv3x3 -> norm -> ReLU (layers_per_block times) -> 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int, config: UNetConfig) -> None:
        super().__init__(
            OrderedDict(
                block=conv_norm_act(in_channels, out_channels, config),
                **extra_layers(out_channels, config),
                pool=nn.AvgPool2d(kernel_size=2),
            )
        )
        self.out_channels = out_channels


class UpBlock(ConvNormAct):
    """x2 upsample + conv (interpolate+conv or transposed conv) -> norm -> ReLU, then
    layers_per_block - 1 conv3x3 -> norm -> ReLU at the upsampled size."""

    def __init__(self, in_channels: int, out_channels: int, config: UNetConfig) -> None:
        super().__init__(
            create_upsample(config.upsample, in_channels, out_channels, conv=config.conv),
            create_norm(config.norm, out_channels, num_groups=config.group_count),
            out_channels,
        )
        for name, layer in extra_layers(out_channels, config).items():
            self.add_module(name, layer)  # nn.Sequential runs them after act, in order


class Hourglass(nn.Module):
    """Encoder of down blocks, decoder of up blocks, each up output concatenated with its skip.

    Output: config.out_channels (block_expansion + in_channels) channels at input resolution.
    """

    def __init__(self, config: UNetConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else UNetConfig()
        self.encoder = nn.ModuleList(
            DownBlock(i, o, self.config) for i, o in self.config.encoder_channels
        )
        self.decoder = nn.ModuleList(
            UpBlock(i, o, self.config) for i, o in self.config.decoder_channels
        )
        self.out_channels = self.config.out_channels

    def check_input(self, x: torch.Tensor) -> None:
        """Reject a wrong input with a message, before torch fails deep inside a conv."""
        cfg = self.config
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"input must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4:
            raise ValueError(
                f"input must be 4-D (batch, {cfg.in_channels}, H, W), got shape {tuple(x.shape)}"
            )
        if x.shape[1] != cfg.in_channels:
            raise ValueError(
                f"input has {x.shape[1]} channels but the model was built with in_channels="
                f"{cfg.in_channels}; got shape {tuple(x.shape)}"
            )
        for dim, size in (("height", x.shape[2]), ("width", x.shape[3])):
            if size % cfg.size_multiple or size == 0:
                raise ValueError(
                    f"input {dim} {size} is not divisible by 2**num_blocks = {cfg.size_multiple}; "
                    f"use a multiple of {cfg.size_multiple}, e.g. {cfg.nearest_valid_sizes(size)}"
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        skips = [x]
        for down in self.encoder:
            skips.append(down(skips[-1]))
        out = skips.pop()
        for up in self.decoder:
            out = torch.cat([up(out), skips.pop()], dim=1)
        return out


def build_model(config: UNetConfig | None = None, **changes: object) -> Hourglass:
    """Build the hourglass from ``config`` (default: the study's), with fields overridden by
    ``changes``, e.g. ``build_model(conv="depthwise_separable", norm="group")``."""
    config = config if config is not None else UNetConfig()
    if changes:
        config = config.with_(**changes)
    return Hourglass(config)
