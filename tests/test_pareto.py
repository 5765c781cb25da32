"""The layer-choice table and Pareto front of the report."""

from __future__ import annotations

import json

import pytest
from test_report_compare import write_run

from unet.bench.output.pareto import (
    VariantPoint,
    pareto_front,
    plot_pareto,
    variant_points,
    variant_table,
)
from unet.bench.results.runs import load_run
from unet.cli import main


def point(label: str, flops: int, ms: float) -> VariantPoint:
    return VariantPoint(label, 1, flops, ms / 1e3, 45, 3 * 2**20)


def test_the_front_keeps_what_no_other_variant_beats_on_both():
    cheap_slow, dear_fast = point("a", 100, 9.0), point("b", 900, 2.0)
    middle = point("c", 400, 5.0)
    beaten = point("d", 500, 6.0)  # c is cheaper and faster
    tie = point("e", 400, 5.0)  # matches c on both: neither beats the other
    front = pareto_front([cheap_slow, dear_fast, middle, beaten, tie])
    assert front == [cheap_slow, middle, tie, dear_fast]
    assert pareto_front([]) == []


def test_gflops_per_second_is_flops_over_the_median():
    assert point("a", 2_000_000_000, 500.0).gflops_per_s == 4.0


def test_report_has_the_choice_table_and_writes_the_scatter(tmp_path, capsys):
    path = write_run(tmp_path / "run.json")
    data = json.loads(path.read_text())
    for bench in data["benchmarks"]:  # counters, as runs record them since issue 9
        bench["extra_info"].update(total_ops=55, peak_activation_bytes=3 * 2**20)
    path.write_text(json.dumps(data))
    run = load_run(path)
    assert {p.batch_size for p in variant_points(run)} == {1, 32}
    table = variant_table(run)
    assert "### Batch 1" in table
    assert "### Batch 32" in table
    # the same FLOPs in this synthetic run: the faster separable variant alone is the front
    batch1 = table.split("### Batch 32")[0]
    rows = {
        line.split(" | ")[0][2:]: line.split(" | ")
        for line in batch1.splitlines()
        if line.startswith("| dws/") or line.startswith("| std/")
    }
    dws, std = rows["dws/batch/interp"], rows["std/batch/interp"]
    assert dws[1:4] == ["0.991", "55", "3.0 MiB"]
    assert float(dws[4]) < float(std[4])
    assert float(dws[5]) == pytest.approx(0.991 / float(dws[4]) * 1e3, rel=0.01)  # GFLOP/s
    assert dws[6] == "★ |"
    assert std[6] == " |"
    png = plot_pareto(run, tmp_path / "pareto.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "## Layer choices: cost against speed" in capsys.readouterr().out
    assert (tmp_path / "out" / "pareto.png").exists()


def test_report_puts_runs_of_other_axes_side_by_side(tmp_path, capsys):
    from unet.bench.output.sidebyside import plain_id

    assert plain_id("test_model[conv=standard-bs=1-compile=max-autotune-mode=train]") == (
        "test_model[conv=standard-bs=1]"
    )
    eager = write_run(tmp_path / "eager.json")
    compiled = write_run(tmp_path / "compiled.json", scale=0.5, seed=3)
    data = json.loads(compiled.read_text())
    data["machine_info"]["unet_bench"]["compile"] = "default"
    for bench in data["benchmarks"]:
        bench["name"] = bench["name"][:-1] + "-compile=default]"
        bench["extra_info"].update(compile_s=12.5, compile_cached=False)
    compiled.write_text(json.dumps(data))
    assert main(["report", str(eager), "--vs", str(compiled)]) == 0
    out = capsys.readouterr().out
    assert "### defaults against compile=default" in out
    first = "| test_model[conv=standard-norm=batch-up=interpolate-bs=1] |"
    section = out.split("### defaults against compile=default")[1]
    row = next(line for line in section.splitlines() if line.startswith(first))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == f"{float(cells[1]) / float(cells[2]):.2f}×"
    assert float(cells[3][:-1]) == pytest.approx(2.0, rel=0.05)  # the compiled run is 2x faster
    assert cells[4:] == ["–", "12.5"]
