import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unet import Hourglass, UNetConfig, build_model, list_variants
from unet.layers import LayerNorm2d

# --- the original FOMM hourglass (modules/util.py), written out as reference ----------------


class _RefDown(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm2d(cout, affine=True)

    def forward(self, x):
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), (2, 2))


class _RefUp(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm = nn.BatchNorm2d(cout, affine=True)

    def forward(self, x):
        return F.relu(self.norm(self.conv(F.interpolate(x, scale_factor=2))))


class _RefHourglass(nn.Module):
    def __init__(self, be=32, cin=3, num_blocks=5, max_f=1024):
        super().__init__()
        w = [min(max_f, be * 2**i) for i in range(num_blocks + 1)]
        self.down = nn.ModuleList(
            _RefDown(cin if i == 0 else w[i], w[i + 1]) for i in range(num_blocks)
        )
        self.up = nn.ModuleList(
            _RefUp((1 if i == num_blocks - 1 else 2) * w[i + 1], w[i])
            for i in reversed(range(num_blocks))
        )

    def forward(self, x):
        outs = [x]
        for d in self.down:
            outs.append(d(outs[-1]))
        out = outs.pop()
        for u in self.up:
            out = torch.cat([u(out), outs.pop()], dim=1)
        return out


def test_default_variant_matches_the_original_fomm_hourglass():
    torch.manual_seed(0)
    ours = build_model()
    ours.train()
    ours(torch.randn(4, 3, 64, 64))  # move BatchNorm running stats off their defaults
    ref = _RefHourglass()
    ours_state, ref_state = ours.state_dict(), ref.state_dict()
    assert [v.shape for v in ours_state.values()] == [v.shape for v in ref_state.values()]
    ref.load_state_dict(dict(zip(ref_state, ours_state.values(), strict=True)))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), ref.eval()(x))


def test_study_parameter_counts():
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(build_model()) == 14_129_568
    # 1.62 M in the study; both convs of each separable pair keep their bias
    assert n(build_model(conv="depthwise_separable")) == 1_616_958


@pytest.mark.parametrize("variant", list_variants(), ids=lambda v: v.variant_id)
def test_every_variant_builds_the_chosen_layers(variant):
    model = build_model(variant)
    kinds = {type(m) for m in model.modules()}
    expected_norm = {
        "batch": nn.BatchNorm2d,
        "layer": LayerNorm2d,
        "instance": nn.InstanceNorm2d,
        "group": nn.GroupNorm,
    }[variant.norm]
    assert expected_norm in kinds
    assert (nn.ConvTranspose2d in kinds) == (variant.upsample == "transposed")
    grouped = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert bool(grouped) == (variant.conv == "depthwise_separable")


@pytest.mark.parametrize("variant", list_variants(), ids=lambda v: v.variant_id)
@pytest.mark.parametrize("batch", [1, 3])
def test_every_variant_maps_input_to_35_channels_at_input_resolution(variant, batch):
    model = build_model(variant).eval()
    with torch.no_grad():
        y = model(torch.randn(batch, 3, 64, 64))
    assert y.shape == (batch, 35, 64, 64)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("hw", [(32, 32), (96, 64), (32, 128)])
def test_any_size_divisible_by_two_to_the_num_blocks(tiny, hw):
    for variant in list_variants(block_expansion=4, max_features=32, input_size=32):
        y = build_model(variant).eval()(torch.randn(1, 3, *hw))
        assert y.shape == (1, tiny.out_channels, *hw)


def test_train_mode_forward_and_backward_reach_every_parameter(tiny):
    for variant in list_variants(block_expansion=4, max_features=32, input_size=32):
        model = build_model(variant).train()
        model(torch.randn(2, 3, 32, 32)).square().mean().backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing, f"{variant.variant_id}: no grad for {missing}"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_and_channels_last_agree_with_fp32(tiny, dtype):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    for variant in list_variants(block_expansion=4, max_features=32, input_size=32):
        model = build_model(variant).eval()
        with torch.no_grad():
            ref = model(x)
            low = model.to(dtype)(x.to(dtype))
            cl = model.to(memory_format=torch.channels_last)(
                x.to(dtype).to(memory_format=torch.channels_last)
            )
        assert low.dtype == dtype
        for out in (low, cl):
            torch.testing.assert_close(out.float(), ref, atol=0.15, rtol=0.05)


@pytest.mark.cuda
def test_cuda_matches_cpu(tiny):
    from unet.bench.measure.precision import full_fp32

    x = torch.randn(2, 3, 32, 32)
    for variant in list_variants(block_expansion=4, max_features=32, input_size=32):
        model = build_model(variant).eval()
        # TF32 (on for cuDNN convs by default on Ampere and later) keeps 10 mantissa bits, and
        # GroupNorm over 2-channel groups amplifies that past 1e-3: compare full float32
        with torch.no_grad(), full_fp32():
            ref = model(x)
            out = model.cuda()(x.cuda()).cpu()
        torch.testing.assert_close(out, ref, atol=1e-3, rtol=1e-3)


def test_wrong_channel_count_is_named_at_forward():
    with pytest.raises(ValueError, match=r"input has 4 channels but .* in_channels=3"):
        build_model(UNetConfig(block_expansion=4, max_features=8))(torch.randn(1, 4, 32, 32))


def test_input_size_not_divisible_is_named_at_forward(tiny):
    with pytest.raises(ValueError, match=r"input width 48 is not divisible .* e\.g\. 32, 64"):
        Hourglass(tiny)(torch.randn(1, 3, 32, 48))


def test_wrong_rank_and_type_are_named(tiny):
    model = Hourglass(tiny)
    with pytest.raises(ValueError, match=r"input must be 4-D"):
        model(torch.randn(3, 32, 32))
    with pytest.raises(TypeError, match=r"input must be a torch\.Tensor"):
        model([[1.0]])


def test_build_model_applies_changes_and_validates_them():
    assert build_model(norm="group").config.norm == "group"
    with pytest.raises(ValueError, match="Unsupported norm 'grop'; did you mean 'group'"):
        build_model(norm="grop")
