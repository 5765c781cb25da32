"""Exact operator and activation counters (TorchDispatchMode) on CPU."""

import torch
from torch import nn

from unet import build_model
from unet.bench.counters import count_call, count_module_call

MIB = 2**20


def test_hourglass_ops_follow_its_structure_and_repeat_exactly(tiny):
    for conv, per_conv in (("standard", 1), ("depthwise_separable", 2)):
        model = build_model(tiny.with_(conv=conv)).eval()
        x = torch.randn(1, 3, tiny.input_size, tiny.input_size)
        counts = count_module_call(model, x)
        blocks = tiny.num_blocks
        convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
        assert convs == 2 * blocks * per_conv
        assert counts.ops["aten.convolution"] == convs
        assert counts.ops["aten.avg_pool2d"] == blocks
        assert counts.ops["aten.upsample_nearest2d"] == blocks
        assert counts.ops["aten.cat"] == blocks
        assert count_module_call(model, x) == counts  # deterministic


def test_an_extra_operator_is_counted():
    layer = nn.Conv2d(4, 4, 3, padding=1).eval()
    x = torch.randn(1, 4, 8, 8)
    plain = count_module_call(layer, x)
    with torch.no_grad():
        extra = count_call(lambda: layer(x).clone(), [*layer.parameters(), x])
    assert extra.ops["aten.clone"] == 1
    assert extra.total_ops == plain.total_ops + 1


def test_peak_activation_sees_tensors_kept_alive_and_excludes_inputs():
    x = torch.randn(MIB // 4)  # 1 MiB of float32

    def chain(keep: bool):
        kept, y = [], x
        for _ in range(8):
            y = y * 2
            if keep:
                kept.append(y)
        return y

    assert count_call(lambda: chain(False), [x]).peak_activation_bytes == 2 * MIB
    assert count_call(lambda: chain(True), [x]).peak_activation_bytes == 8 * MIB
    assert count_call(lambda: x.view(-1), [x]).peak_activation_bytes == 0  # a view of the input
