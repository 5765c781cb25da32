"""``unet-bench explain``: case names, usage errors and one real profile of the working tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from drive import CPU, command

from unet.bench.invoke import CaseError, resolve_case

REPO = Path(__file__).resolve().parents[1]


def explain(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "unet.cli", "explain", *CPU, *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    ("case", "node_id", "options"),
    [
        (
            "test_model[conv=standard-norm=batch-up=interpolate-bs=32]",
            "benchmarks/test_model.py::test_model[conv=standard-norm=batch-up=interpolate-bs=32]",
            ("--batch-sizes", "32"),
        ),
        (
            "norm=group-bs=1",
            "benchmarks/test_layers.py::test_norm[norm=group-bs=1]",
            ("--batch-sizes", "1"),
        ),
        (
            "up=transposed-bs=1",
            "benchmarks/test_layers.py::test_upsample[up=transposed-bs=1]",
            ("--batch-sizes", "1"),
        ),
    ],
)
def test_cases_resolve_from_full_names_and_bare_ids(case, node_id, options):
    ref = resolve_case(REPO, case)
    assert ref.node_id == node_id
    assert ref.options == options


def test_an_unknown_case_names_the_argument_and_an_example():
    with pytest.raises(CaseError, match=r"CASE 'cnv=standard': no such benchmark; .*e\.g\."):
        resolve_case(REPO, "cnv=standard")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["test_nothing[x=1]"], "CASE 'test_nothing[x=1]': no such benchmark"),
        (["up=transposed-bs=1", "--base", "no-such-rev"], "--base 'no-such-rev': unknown revision"),
        (["up=transposed-bs=1", "--device", "tpu"], "Unsupported --device 'tpu'"),
    ],
)
def test_usage_errors_exit_4_and_create_nothing(tmp_path, args, message):
    proc = command(REPO, "explain", *CPU, *args, f"--out={tmp_path / 'out'}")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
def test_one_profile_of_the_working_tree_with_shares_and_a_trace(tmp_path):
    proc = explain("up=interpolate-bs=1", "--device", "cpu", f"--out={tmp_path}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (item,) = json.loads((tmp_path / "explain.json").read_text())
    assert item["case"] == "test_upsample[up=interpolate-bs=1]"
    rows = item["attribution"]["rows"]
    assert rows[-1]["op"] == "outside operators"
    ops = {row["op"] for row in rows}
    assert {"aten::upsample_nearest2d", "aten::convolution"} & ops
    assert sum(row["share"] for row in rows) <= 1.0001
    assert "outside operators" in proc.stdout
    trace = tmp_path / "test_upsample-up=interpolate-bs=1.head.trace.json"
    assert "traceEvents" in json.loads(trace.read_text())


@pytest.mark.e2e
def test_an_unknown_case_id_is_exit_4_naming_the_nearest_with_nothing_created(tmp_path):
    """`explain 'test_model[nope]'` profiled, failed after minutes and left a folder per try
    (issue 19); the suite's own case list now decides first."""
    case = "test_model[conv=standard-norm=btach-up=interpolate-bs=1]"
    proc = explain(case, f"--out={tmp_path / 'out'}")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert f"CASE {case!r}: not a case of this suite; nearest: " in proc.stderr
    assert "test_model[conv=standard-norm=batch-up=interpolate-bs=1]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()
