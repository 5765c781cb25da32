"""Exact operator and activation counters (TorchDispatchMode) on CPU."""

import torch
from torch import nn

from unet import build_model
from unet.bench.measure.counters import CallCounts, count_call, count_module_call
from unet.bench.results.manifest import cost_changes, lacks_counters, merged_entry, shown
from unet.bench.results.record import CaseRecord

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


def _entry(ops: dict[str, int], peak: int, on: str = "cpu/float32") -> dict:
    """The cost entry of a case whose runner recorded these counters."""
    base = {"params": 1, "flops": 2, "mult_adds": 2, "unsupported_ops": []}
    extra = {**base, **CallCounts(ops, peak).as_extra(on)}
    return CaseRecord.from_extra("c", "", extra).cost_entry()


CPU, HALF = "cpu/float32", "cuda/float16"


def test_cost_changes_name_each_operator_and_the_peak():
    old = _entry({"aten.relu": 10, "aten.cat": 5}, 3 * MIB)
    new = _entry({"aten.relu": 10, "aten.cat": 5, "aten.clone": 10}, 67 * MIB)
    assert cost_changes(old, new, CPU) == [
        ("ops aten.clone", 0, 10),
        ("total_ops", 15, 25),
        ("peak_activation_bytes", 3 * MIB, 67 * MIB),
    ]
    assert shown("peak_activation_bytes", 67 * MIB) == "67.0 MiB"
    assert cost_changes(old, _entry({"aten.relu": 10, "aten.cat": 5}, 3 * MIB), CPU) == []


def test_counters_are_checked_per_device_and_dtype_and_kept_on_update():
    cpu = merged_entry(None, _entry({"aten.relu": 10}, MIB))
    half = _entry({"aten.relu": 12}, MIB // 2, on=HALF)
    assert cost_changes(cpu, half, HALF) == []  # nothing recorded for cuda/float16 to compare
    assert lacks_counters(cpu, HALF)
    both = merged_entry(cpu, half)
    assert set(both["counters"]) == {CPU, HALF}  # the CPU's are kept
    assert cost_changes(both, _entry({"aten.relu": 11}, MIB // 2, on=HALF), HALF) == [
        ("ops aten.relu", 12, 11),
        ("total_ops", 12, 11),
    ]
    legacy = {k: v for k, v in cpu.items() if k != "counters"}  # a manifest from before
    assert lacks_counters(legacy, HALF)
    assert cost_changes(legacy, half, HALF) == []
