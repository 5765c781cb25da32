"""The hourglass settings: one frozen dataclass, validated when built, and the variant listing."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from functools import reduce
from math import gcd

from unet.choices import ConvType, NormType, UpsampleType, parse_choice


def _check_positive_int(param: str, value: object) -> None:
    # bool is an int subclass; True as a size is always a mistake
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{param} must be a positive int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{param} must be a positive int, got {value!r}")


@dataclass(frozen=True)
class UNetConfig:
    conv: ConvType = ConvType.STANDARD  # every conv, the upsampling one included
    norm: NormType = NormType.BATCH  # the norm after every conv
    upsample: UpsampleType = UpsampleType.INTERPOLATE  # how each decoder block doubles H and W
    group_count: int | None = None  # groups for norm="group"; None: num_channels // 2 (study)
    block_expansion: int = 32  # base width: block i has block_expansion * 2**(i+1) channels
    in_channels: int = 3  # RGB images
    num_blocks: int = 5  # down blocks = up blocks
    layers_per_block: int = 1  # conv-norm-ReLU layers per down/up block; extras keep its width
    max_features: int = 1024  # cap on any block's channels
    input_size: int = 64  # side of the square input used for costs and benchmarks

    def __post_init__(self) -> None:
        # frozen: normalise strings to enums through object.__setattr__
        object.__setattr__(self, "conv", parse_choice(ConvType, self.conv, "conv"))
        object.__setattr__(self, "norm", parse_choice(NormType, self.norm, "norm"))
        object.__setattr__(self, "upsample", parse_choice(UpsampleType, self.upsample, "upsample"))
        sizes = (
            "block_expansion",
            "in_channels",
            "num_blocks",
            "layers_per_block",
            "max_features",
            "input_size",
        )
        for param in sizes:
            _check_positive_int(param, getattr(self, param))
        if self.input_size % self.size_multiple:
            raise ValueError(
                f"input_size {self.input_size} is not divisible by 2**num_blocks = "
                f"{self.size_multiple}; use a multiple of {self.size_multiple}, e.g. "
                f"{self.nearest_valid_sizes(self.input_size)}"
            )
        self._check_groups()

    def _check_groups(self) -> None:
        if self.group_count is not None:
            _check_positive_int("group_count", self.group_count)
        if self.norm != NormType.GROUP:
            return
        channels = sorted(set(self.norm_channels))
        if self.group_count is None:
            bad = [c for c in channels if c < 2 or c % 2]
            if bad:
                raise ValueError(
                    f"norm='group' with the default num_channels // 2 groups needs even channel "
                    f"counts, but the model normalises {bad}; set group_count to a divisor of "
                    f"all of {channels}"
                )
            return
        bad = [c for c in channels if c % self.group_count]
        if bad:
            common = reduce(gcd, channels)
            divisors = [d for d in range(1, common + 1) if common % d == 0]
            raise ValueError(
                f"group_count {self.group_count} does not divide the channel counts {bad} "
                f"that the model normalises; valid group counts: {', '.join(map(str, divisors))}"
            )

    # --- derived shapes (the FOMM hourglass wiring) -----------------------------------------
    @property
    def size_multiple(self) -> int:
        """Input H and W must be multiples of this (each down block halves them)."""
        return 2**self.num_blocks

    def nearest_valid_sizes(self, size: int) -> str:
        m = self.size_multiple
        lower = max(m, size // m * m)
        return ", ".join(str(s) for s in sorted({lower, lower + m}))

    def _width(self, i: int) -> int:
        return min(self.max_features, self.block_expansion * 2**i)

    @property
    def encoder_channels(self) -> list[tuple[int, int]]:
        """(in, out) channels of each down block, shallowest first."""
        return [
            (self.in_channels if i == 0 else self._width(i), self._width(i + 1))
            for i in range(self.num_blocks)
        ]

    @property
    def decoder_channels(self) -> list[tuple[int, int]]:
        """(in, out) channels of each up block, deepest first; in doubles for the skip concat."""
        return [
            ((1 if i == self.num_blocks - 1 else 2) * self._width(i + 1), self._width(i))
            for i in reversed(range(self.num_blocks))
        ]

    @property
    def norm_channels(self) -> list[int]:
        return [out for _, out in self.encoder_channels + self.decoder_channels]

    @property
    def out_channels(self) -> int:
        return self.block_expansion + self.in_channels

    @property
    def variant_id(self) -> str:
        """Readable, deterministic id, e.g. 'conv=standard-norm=group-up=transposed'; a capacity
        setting off the study's default is appended ('-layers=2', '-be=96-maxf=3072')."""
        out = f"conv={self.conv}-norm={self.norm}-up={self.upsample}"
        for part, value, default in (
            ("layers", self.layers_per_block, 1),
            ("be", self.block_expansion, 32),
            ("maxf", self.max_features, 1024),
        ):
            if value != default:
                out += f"-{part}={value}"
        return out

    def with_(self, **changes: object) -> UNetConfig:
        """A validated copy with some fields changed."""
        return replace(self, **changes)


def list_variants(**overrides: object) -> list[UNetConfig]:
    """Every conv x norm x upsample combination (2 x 4 x 2 = 16), in a fixed order.

    ``overrides`` set the other fields (sizes, group_count) for all of them.
    """
    for choice in ("conv", "norm", "upsample"):
        if choice in overrides:
            raise TypeError(f"list_variants() varies {choice!r} itself; do not pass it")
    return [
        UNetConfig(conv=c, norm=n, upsample=u, **overrides)  # type: ignore[arg-type]
        for c, n, u in itertools.product(ConvType, NormType, UpsampleType)
    ]
