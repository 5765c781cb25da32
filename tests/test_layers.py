import pytest
import torch
from torch import nn

from unet.layers import (
    CONV_LAYERS,
    NORM_LAYERS,
    UPSAMPLE_LAYERS,
    DepthwiseSeparableConv2d,
    LayerNorm2d,
    create_conv,
    create_norm,
    create_upsample,
    get_norm,
)


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registries_cover_every_choice():
    assert set(CONV_LAYERS) == {"standard", "depthwise_separable"}
    assert set(NORM_LAYERS) == {"batch", "layer", "instance", "group"}
    assert set(UPSAMPLE_LAYERS) == {"interpolate", "transposed"}


def test_get_returns_a_constructor_taking_channels_first():
    layer = get_norm("instance")(16)
    assert isinstance(layer, nn.InstanceNorm2d)
    assert layer.num_features == 16
    assert layer.affine


@pytest.mark.parametrize(
    ("norm", "kwargs", "params"),
    [
        ("batch", {}, 2048),
        ("layer", {"spatial_shape": (2, 2)}, 8192),  # the study's nn.LayerNorm([1024, 2, 2])
        ("instance", {}, 2048),
        ("group", {}, 2048),
    ],
)
def test_study_norm_parameter_counts(norm, kwargs, params):
    layer = create_norm(norm, 1024, **kwargs)
    assert n_params(layer) == params
    x = torch.randn(1, 1024, 2, 2)
    assert layer(x).shape == x.shape


def test_group_norm_defaults_to_half_the_channels_and_takes_a_count():
    assert create_norm("group", 1024).num_groups == 512
    assert create_norm("group", 1024, num_groups=32).num_groups == 32
    with pytest.raises(ValueError, match="num_groups 3 does not divide num_channels 1024"):
        create_norm("group", 1024, num_groups=3)


@pytest.mark.parametrize("shape", [(2, 8, 4, 4), (3, 8, 16, 10)])
def test_layer_norm2d_normalises_all_features_of_each_example(shape):
    x = torch.randn(shape) * 3 + 1
    ln = LayerNorm2d(shape[1])
    with torch.no_grad():
        ln.weight.uniform_()
        ln.bias.uniform_()
    expected = nn.functional.layer_norm(x, shape[1:]) * ln.weight.view(1, -1, 1, 1)
    expected = expected + ln.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(ln(x), expected)
    assert n_params(ln) == 2 * shape[1]  # independent of H x W


def test_depthwise_separable_structure_and_bias_convention():
    m, n = 16, 24
    conv = create_conv("depthwise_separable", m, n)
    assert isinstance(conv, DepthwiseSeparableConv2d)
    assert conv.depthwise.groups == m
    assert conv.depthwise.kernel_size == (3, 3)
    assert conv.pointwise.kernel_size == (1, 1)
    assert n_params(conv) == (9 + 1) * m + (m + 1) * n
    assert conv(torch.randn(1, m, 8, 8)).shape == (1, n, 8, 8)


@pytest.mark.parametrize("conv", ["standard", "depthwise_separable"])
@pytest.mark.parametrize("upsample", ["interpolate", "transposed"])
def test_upsample_doubles_resolution_and_maps_channels(conv, upsample):
    layer = create_upsample(upsample, 16, 8, conv=conv)
    assert layer(torch.randn(2, 16, 5, 7)).shape == (2, 8, 10, 14)


def test_study_upsampling_layers_have_equal_parameters():
    interp = create_upsample("interpolate", 1024, 512)
    transposed = create_upsample("transposed", 1024, 512)
    assert isinstance(transposed, nn.ConvTranspose2d)
    assert transposed.stride == (2, 2)
    assert transposed.output_padding == (1, 1)
    assert n_params(interp) == n_params(transposed) == 4_719_104


def test_depthwise_separable_transposed_is_grouped():
    layer = create_upsample("transposed", 32, 16, conv="depthwise_separable")
    assert isinstance(layer.depthwise, nn.ConvTranspose2d)
    assert layer.depthwise.groups == 32


@pytest.mark.parametrize(
    ("factory", "param"),
    [
        (lambda: create_conv("dense", 3, 4), "conv"),
        (lambda: create_norm("btach", 4), "norm"),
        (lambda: create_upsample("bilinear", 4, 4), "upsample"),
    ],
)
def test_factories_reject_unknown_names_with_the_valid_set(factory, param):
    with pytest.raises(ValueError, match=rf"Unsupported {param} .* Valid: "):
        factory()
