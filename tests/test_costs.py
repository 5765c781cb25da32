from fractions import Fraction

import pytest
import torch
from torch import nn

from unet import build_model
from unet.costs import (
    depthwise_separable_conv_macs,
    depthwise_separable_ratio,
    measure_costs,
    model_costs,
    standard_conv_macs,
)
from unet.layers import create_norm, create_upsample


def test_study_standard_hourglass_figures():
    r = model_costs()
    assert r.params == 14_129_568
    assert r.mult_adds == 989_312_832  # the study's 989.31 M
    assert r.flops_by_operator["conv"] == 988_545_024
    assert r.flops == sum(r.flops_by_operator.values())
    assert r.flops_by_module[""] == r.flops


def test_depthwise_separable_hourglass_figures():
    # Study: 1.62 M params, 120.30 M mult-adds. Ours keeps both biases of each separable pair:
    # the conv MACs alone are 120,049,664; biases add 1,896,448 and the norms 5,952.
    r = model_costs(build_model(conv="depthwise_separable").config)
    assert r.params == 1_616_958
    assert r.mult_adds == 121_952_064
    assert r.flops_by_operator["conv"] == 120_049_664


def test_uncounted_operators_are_reported_not_dropped():
    r = model_costs()
    assert r.unsupported_ops == {"aten::avg_pool2d": 5}  # one per down block
    assert r.as_dict()["unsupported_ops"] == ["aten::avg_pool2d"]


def test_flops_scale_with_batch():
    one, four = model_costs(batch_size=1), model_costs(batch_size=4)
    assert four.flops == 4 * one.flops
    assert four.mult_adds == 4 * one.mult_adds
    assert four.params == one.params


@pytest.mark.parametrize(
    ("norm", "kwargs", "params"),
    [
        ("batch", {}, 2048),
        ("layer", {"spatial_shape": (2, 2)}, 8192),
        ("instance", {}, 2048),
        ("group", {}, 2048),
    ],
)
def test_norm_costs_on_the_study_input(norm, kwargs, params):
    r = measure_costs(create_norm(norm, 1024, **kwargs).eval(), torch.randn(1, 1024, 2, 2))
    assert r.params == params
    assert r.mult_adds == params  # torchinfo charges a norm its parameter count per example
    assert r.flops > 0
    assert not r.unsupported_ops


def test_upsample_costs_transposed_conv_is_overstated_by_mult_adds():
    x = torch.randn(1, 1024, 2, 2)
    interp = measure_costs(create_upsample("interpolate", 1024, 512).eval(), x)
    transposed = measure_costs(create_upsample("transposed", 1024, 512).eval(), x)
    assert interp.params == transposed.params == 4_719_104
    assert interp.mult_adds == transposed.mult_adds == 75_505_664
    assert interp.flops_by_operator["conv"] == 75_497_472
    # A stride-2 transposed conv touches each input position once: 2*2*1024*512*9.
    assert transposed.flops == 18_874_368
    assert transposed.mult_adds == 4 * transposed.flops + 4 * 512 * 4  # 4x, plus biases


def _conv_layers(model: nn.Module, x: torch.Tensor):
    """(name, module, output side) of every conv in a forward pass."""
    seen = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o, n=n: seen.append((n, mod, o.shape[-1])))
        for n, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def test_analytic_standard_formula_matches_fvcore_per_layer():
    model, x = build_model().eval(), torch.zeros(1, 3, 64, 64)
    by_module = measure_costs(model, x).flops_by_module
    layers = _conv_layers(model, x)
    assert len(layers) == 10
    for name, conv, side in layers:
        m, n, k = conv.in_channels, conv.out_channels, conv.kernel_size[0]
        assert by_module[name] == standard_conv_macs(k, m, n, side), name


def test_analytic_depthwise_separable_formula_and_ratio_match_fvcore_per_layer():
    x = torch.zeros(1, 3, 64, 64)
    ds = build_model(conv="depthwise_separable").eval()
    std_flops = measure_costs(build_model().eval(), x).flops_by_module
    ds_flops = measure_costs(ds, x).flops_by_module
    pairs = [
        (n, m) for n, m in ds.named_modules() if n.endswith("conv") and hasattr(m, "pointwise")
    ]
    assert len(pairs) == 10
    sides = {n: s for n, _, s in _conv_layers(ds, x)}
    for name, pair in pairs:
        m, n, side = pair.in_channels, pair.out_channels, sides[f"{name}.pointwise"]
        assert ds_flops[name] == depthwise_separable_conv_macs(3, m, n, side), name
        ratio = Fraction(ds_flops[name], std_flops[name])
        assert ratio == Fraction(1, n) + Fraction(1, 9), name
        assert depthwise_separable_ratio(n, 3) == pytest.approx(float(ratio))


def test_measuring_a_train_mode_model_leaves_its_running_stats_alone():
    model = build_model().train()
    before = model.encoder[0].block.norm.running_mean.clone()
    measure_costs(model, torch.randn(2, 3, 64, 64))
    assert torch.equal(model.encoder[0].block.norm.running_mean, before)
    assert model.training
