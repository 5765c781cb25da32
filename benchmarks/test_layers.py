"""The study's layer experiments, with its protocols."""

import torch

from benchmarks.cases import NORM_SHAPE, UPSAMPLE_OUT
from unet.layers import create_norm, create_upsample


def test_norm(run_case, norm_case):
    """One timed call = 1000 applications on (batch, 1024, 2, 2); GroupNorm has 512 groups and
    LayerNorm normalises (1024, 2, 2) with an elementwise affine, as in the study."""
    torch.manual_seed(0)
    channels, *spatial = NORM_SHAPE
    layer = create_norm(norm_case.norm, channels, spatial_shape=spatial)
    run_case(
        layer,
        torch.randn(norm_case.input_shape),
        {"norm": str(norm_case.norm)},
        repeat=norm_case.applications,
    )


def test_upsample(run_case, upsample_case):
    """(1, 1024, 2, 2) -> (1, 512, 4, 4): nearest x2 + conv3x3 vs ConvTranspose2d."""
    torch.manual_seed(0)
    layer = create_upsample(upsample_case.upsample, upsample_case.input_shape[1], UPSAMPLE_OUT)
    run_case(
        layer,
        torch.randn(upsample_case.input_shape),
        {"upsample": str(upsample_case.upsample)},
    )
