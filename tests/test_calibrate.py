"""`unet-bench calibrate` end to end: one generation of four processes of the working tree's
suite, taking turns, and the floors it writes for the suite's own hardware key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from drive import CPU

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_calibrate_writes_a_floor_per_case_from_four_processes(tmp_path):
    floors = tmp_path / "floors.json"
    argv = [
        sys.executable,
        "-m",
        "unet.cli",
        "calibrate",
        "--runs=4",
        "--quick",
        "--blocks=2",
        *CPU,
        f"--floors={floors}",
        f"--out={tmp_path / 'out'}",
        "--",
        "-k",
        "test_upsample",
    ]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(floors.read_text())
    (key,) = data["keys"]
    worker = json.loads((tmp_path / "out" / "base-0.json").read_text())
    assert key == worker["machine_info"]["unet_bench"]["key"]  # the suite's own key
    assert worker["machine_info"]["unet_bench"]["tier"] == "quick"
    (tier,) = data["keys"][key]  # written under the tier it ran: --quick
    assert tier == "quick"
    cases = data["keys"][key][tier]["cases"]
    assert sorted(cases) == sorted(b["name"] for b in worker["benchmarks"])
    assert all(c["processes"] == 4 for c in cases.values())
    # one generation of four: its spread within the generation is the whole one, 3 dof
    assert all(c["paired_dof"] == 3 for c in cases.values())
    assert all(c["paired_spread"] == pytest.approx(c["log_spread"]) for c in cases.values())
    assert all(c["floor"] > 0 for c in cases.values())
    assert "floor (detection limit)" in proc.stdout
