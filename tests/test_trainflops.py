"""Training-step multiply-adds per layer against the analytic formulas (forward, grad-input,
grad-weight), the depthwise case where torch's FlopCounterMode is 86x off included."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from unet import build_model, list_variants, measure_costs
from unet.costs import standard_conv_macs
from unet.trainflops import count_train_step


def _input(channels: int, size: int, grad: bool = True) -> torch.Tensor:
    return torch.randn(1, channels, size, size, requires_grad=grad)


def test_depthwise_conv_counts_forward_grad_input_and_grad_weight_once_each():
    conv = nn.Conv2d(256, 256, 3, padding=1, groups=256, bias=False)
    flops = count_train_step(conv, _input(256, 16))
    per_pass = 256 * 3**2 * 16**2  # M * D_k^2 * D_f^2
    assert (flops.forward, flops.grad_input, flops.grad_weight) == (per_pass,) * 3
    assert flops.forward + flops.backward == 1_769_472
    # torch's counter (2 flops per multiply-add) is far off for this grouped backward
    with FlopCounterMode(display=False) as torch_count:
        conv(_input(256, 16)).mean().backward()
    assert torch_count.get_total_flops() / 2 > 50 * 1_769_472


@pytest.mark.parametrize(("c_in", "c_out", "size"), [(3, 64, 64), (256, 512, 8)])
def test_standard_conv_matches_the_formula_and_torch(c_in, c_out, size):
    conv = nn.Conv2d(c_in, c_out, 3, padding=1)
    flops = count_train_step(conv, _input(c_in, size))
    macs = standard_conv_macs(3, c_in, c_out, size)
    assert (flops.forward, flops.grad_input, flops.grad_weight) == (macs, macs, macs)
    with FlopCounterMode(display=False) as torch_count:  # ungrouped: torch agrees
        conv(_input(c_in, size)).mean().backward()
    assert torch_count.get_total_flops() == 2 * 3 * macs


def test_no_grad_input_for_an_input_that_needs_none():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    flops = count_train_step(conv, _input(3, 16, grad=False))
    assert flops.grad_input == 0
    assert flops.grad_weight == flops.forward == standard_conv_macs(3, 3, 8, 16)


def test_transposed_conv_is_charged_per_input_position():
    up = nn.ConvTranspose2d(1024, 512, 3, stride=2, padding=1, output_padding=1)
    flops = count_train_step(up, _input(1024, 2))
    per_pass = 2 * 2 * 1024 * 512 * 3**2  # 18,874,368, fvcore's forward figure
    assert (flops.forward, flops.grad_input, flops.grad_weight) == (per_pass,) * 3


def test_the_copy_is_counted_not_the_module():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    count_train_step(model, _input(3, 8))
    assert not model.training
    assert model[0].weight.grad is None
    assert int(model[1].num_batches_tracked) == 0


@pytest.mark.parametrize("config", list(list_variants()), ids=lambda c: c.variant_id)
def test_every_variant_trains_at_about_three_times_its_forward(config):
    model = build_model(config)
    x = torch.randn(1, 3, config.input_size, config.input_size)
    flops = count_train_step(model, x)
    forward = measure_costs(model.eval(), x)
    # fvcore's forward also counts norms and upsampling; the convs dominate
    assert forward.flops >= flops.forward
    assert 2.5 <= (forward.flops + flops.backward) / forward.flops <= 3.1
