"""Capacity settings (issue 24): more conv-norm-ReLU layers per block, and a uniform widening,
composed with every layer choice; their costs checked layer by layer against the formulas."""

from __future__ import annotations

import pytest
import torch

from unet import UNetConfig, build_model, list_variants
from unet.costs import (
    config_params,
    count_params,
    depthwise_separable_conv_macs,
    model_costs,
    standard_conv_macs,
    widened,
    width_matching_params,
)

# Small enough for fvcore and torchinfo to run in a second; the formulas do not depend on size.
SMALL = {"block_expansion": 8, "max_features": 64, "num_blocks": 3, "input_size": 32}


def test_default_settings_are_the_published_model_exactly():
    torch.manual_seed(0)
    default, explicit = build_model(), build_model(layers_per_block=1)
    assert count_params(default) == count_params(explicit) == 14_129_568
    assert list(default.state_dict()) == list(explicit.state_dict())
    assert not any("layer2" in k for k in default.state_dict())
    assert UNetConfig().variant_id == "conv=standard-norm=batch-up=interpolate"


def _extra_layers(config: UNetConfig) -> list[tuple[int, int]]:
    """(channels, side) of each conv that layers_per_block adds: a down block's extras run
    before its pool, at its input's side; an up block's after its x2, at its output's side."""
    down = [(out, config.input_size // 2**i) for i, (_, out) in enumerate(config.encoder_channels)]
    deepest_first = reversed(range(config.num_blocks))
    up = [
        (out, config.input_size // 2**i)
        for i, (_, out) in zip(deepest_first, config.decoder_channels, strict=True)
    ]
    return (down + up) * (config.layers_per_block - 1)


@pytest.mark.parametrize("conv", ["standard", "depthwise_separable"])
@pytest.mark.parametrize("layers", [2, 3])
def test_extra_layers_cost_what_the_formulas_say(conv, layers):
    one = UNetConfig(conv=conv, **SMALL)
    more = one.with_(layers_per_block=layers)
    extra = _extra_layers(more)
    assert len(extra) == 2 * one.num_blocks * (layers - 1)
    a, b = model_costs(one), model_costs(more)
    if conv == "standard":
        conv_params = [9 * c * c + c for c, _ in extra]
        macs = [standard_conv_macs(3, c, c, side) for c, side in extra]
    else:  # depthwise 3x3 with bias, then pointwise 1x1 with bias
        conv_params = [10 * c + c * c + c for c, _ in extra]
        macs = [depthwise_separable_conv_macs(3, c, c, side) for c, side in extra]
    bn_params = [2 * c for c, _ in extra]
    assert b.params - a.params == sum(conv_params) + sum(bn_params)
    assert b.flops_by_operator["conv"] - a.flops_by_operator["conv"] == sum(macs)
    # the study's convention: each conv's weights+bias per output position, a norm's params once
    per_position = zip(conv_params, extra, strict=True)
    study = sum(p * side**2 for p, (_, side) in per_position) + sum(bn_params)
    assert b.mult_adds - a.mult_adds == study
    assert b.unsupported_ops == a.unsupported_ops  # no new uncounted operator, pools unchanged


@pytest.mark.parametrize("conv", ["standard", "depthwise_separable"])
def test_extra_layers_add_exactly_their_operators_to_the_exact_counters(conv):
    from unet.bench.measure.counters import model_counts

    one = UNetConfig(conv=conv, **SMALL)
    counts = {n: model_counts(one.with_(layers_per_block=n)).ops for n in (1, 3)}
    layers = 2 * one.num_blocks * 2  # two extra layers in each of the 2 x num_blocks blocks
    convs = 1 if conv == "standard" else 2  # depthwise + pointwise
    delta = {op: counts[3].get(op, 0) - counts[1].get(op, 0) for op in counts[3]}
    expected = {"aten.convolution": convs, "aten.native_batch_norm": 1, "aten.relu": 1}
    assert {op: d for op, d in delta.items() if d} == {op: layers * n for op, n in expected.items()}


@pytest.mark.parametrize("config", list_variants(**SMALL), ids=lambda c: c.variant_id)
def test_layers_and_width_compose_with_every_choice(config):
    for variant in (config.with_(layers_per_block=2), widened(config, 2 * config.block_expansion)):
        model = build_model(variant).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, variant.out_channels, 32, 32)
        assert torch.isfinite(out).all()
        assert config_params(variant) == count_params(model)  # the meta build counts the same


def test_widening_scales_every_block_and_the_cap():
    wide = widened(UNetConfig(), 96)
    assert (wide.block_expansion, wide.max_features) == (96, 3072)
    assert [o for _, o in wide.encoder_channels] == [
        3 * o for _, o in UNetConfig().encoder_channels
    ]
    assert wide.variant_id.endswith("-be=96-maxf=3072")


def test_the_widened_separable_model_first_reaches_the_standard_models_params():
    standard = config_params(UNetConfig())
    separable = UNetConfig(conv="depthwise_separable")
    wide = width_matching_params(separable, standard)
    assert config_params(wide) >= standard
    narrower = widened(separable, wide.block_expansion - 1)
    assert config_params(narrower) < standard  # the first width that reaches it, not any
    assert wide.conv == separable.conv
    assert wide.layers_per_block == 1


def test_a_target_already_met_or_out_of_reach():
    small = UNetConfig(**SMALL)
    assert width_matching_params(small, 1) == small
    with pytest.raises(ValueError, match=r"not reached by widening .* block_expansion 64"):
        width_matching_params(small, 10**12, limit=64)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_a_bad_layer_count_names_the_parameter(bad):
    with pytest.raises((TypeError, ValueError), match="layers_per_block must be a positive int"):
        UNetConfig(layers_per_block=bad)


# --- the report's "Recovering capacity" table and the Pareto plot --------------------------


def _capacity_run(tmp_path):
    """A synthetic run: the matrix of test_report_compare plus the capacity group, with the
    costs the committed manifest holds for its cases (fvcore on the widened model at batch 32
    takes seconds) and made-up medians."""
    import json

    from test_report_compare import case, write_run

    from benchmarks.cases import capacity_cases
    from unet.bench.results.manifest import DEFAULT_PATH, load_manifest

    manifest = load_manifest(DEFAULT_PATH)
    path = write_run(tmp_path / "run.json")
    data = json.loads(path.read_text())
    medians = {"standard": 12.0, "separable": 5.0, "separable-layers=2": 9.0}
    for c in capacity_cases((1, 32), quick=False):
        costs = manifest[f"test_capacity[{c.id}]"]
        extra = {**c.info, "batch_size": c.batch_size, **costs}
        ms = medians.get(c.name, 15.0) * c.batch_size
        data["benchmarks"].append(case(f"test_capacity[{c.id}]", ms * 1e-3, extra))
    path.write_text(json.dumps(data))
    return path


def test_the_report_has_the_recovering_capacity_table(tmp_path, capsys):
    from unet.bench.output.report import capacity_table
    from unet.bench.results.runs import load_run
    from unet.cli import main

    path = _capacity_run(tmp_path)
    table = capacity_table(load_run(path))
    batch1 = table.split("### Batch 32")[0]
    rows = {
        cells[0]: cells
        for line in batch1.splitlines()
        if line.startswith("| ") and not line.startswith("| variant")
        if (cells := [c.strip() for c in line.strip("|").split("|")])[0] != "---"
    }
    assert next(iter(rows)) == "standard"  # the reference first
    assert set(rows) == {
        "standard",
        "separable",
        "separable-layers=2",
        "separable-layers=3",
        "separable-be=96",
    }
    std, two, wide = rows["standard"], rows["separable-layers=2"], rows["separable-be=96"]
    assert std[3:5] == ["14.13", "1.00"]
    assert two[1:4] == ["2", "32/1024", "3.40"]
    assert wide[2] == "96/3072"
    assert float(wide[4]) >= 1.0  # the widened model has at least the reference's params
    assert std[8] == "1.00"
    assert two[8] == f"{9.0 / 12.0:.2f}"  # latency ratio to the standard model, same batch
    assert "### Batch 32" in table
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "## Recovering capacity" in out
    assert (tmp_path / "out" / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_a_run_without_the_capacity_group_has_no_such_table(tmp_path):
    from test_report_compare import write_run

    from unet.bench.output.report import capacity_table
    from unet.bench.results.runs import load_run

    assert capacity_table(load_run(write_run(tmp_path / "run.json"))) == ""


def test_the_pareto_front_is_the_matrix_and_the_capacity_group_is_apart(tmp_path):
    from unet.bench.output.pareto import variant_points
    from unet.bench.results.runs import load_run

    run = load_run(_capacity_run(tmp_path))
    matrix, group = variant_points(run), variant_points(run, "test_capacity")
    assert all("/" in p.label for p in matrix)  # conv/norm/up labels, no capacity case
    assert {p.label for p in group} >= {"separable-layers=3", "separable-be=96"}
    assert len(group) == 10


def test_a_bare_capacity_id_resolves_to_its_benchmark():
    from pathlib import Path

    from unet.bench.invoke import resolve_case

    ref = resolve_case(Path(__file__).parents[1], "capacity=separable-layers=2-bs=32")
    assert ref.name == "test_capacity[capacity=separable-layers=2-bs=32]"
    assert ref.node_id == f"benchmarks/test_model.py::{ref.name}"
    assert ref.options == ("--batch-sizes", "32")
