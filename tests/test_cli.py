import json
import subprocess
import sys

import pytest

from unet.bench.results.manifest import DEFAULT_PATH
from unet.cli import main


def test_costs_json_lists_every_variant(capsys):
    assert main(["costs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 16
    first = rows[0]
    assert first["variant"] == "conv=standard-norm=batch-up=interpolate"
    assert first["params"] == 14_129_568
    assert first["mult_adds"] == 989_312_832
    assert first["unsupported_ops"] == ["aten::avg_pool2d"]


def test_costs_json_counters_match_the_suites_manifest(capsys):
    assert main(["costs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    manifest = json.loads(DEFAULT_PATH.read_text())["cases"]
    for row in rows:  # counted by `costs` here, by the suite's runner in the manifest
        counters = manifest[f"test_model[{row['variant']}-bs=1]"]["counters"]["cpu/float32"]
        assert row["ops"] == counters["ops"]
        assert row["peak_activation_bytes"] == counters["peak_activation_bytes"]
    assert len({r["total_ops"] for r in rows}) > 1  # norms and upsampling run different ops


def test_costs_table_is_readable(capsys):
    assert main(["costs", "--input-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "conv=depthwise_separable-norm=group-up=transposed" in out
    assert "14,129,568" in out


def test_costs_bad_input_size_is_a_usage_error(capsys):
    assert main(["costs", "--input-size", "40"]) == 4  # was 2, the code of a failing tool
    assert "--input-size: input_size 40 is not divisible" in capsys.readouterr().err


@pytest.mark.e2e
def test_argument_errors_exit_4_without_traceback():
    """In a process of its own: the entry point's wiring of a usage error."""
    proc = subprocess.run(
        [sys.executable, "-m", "unet.cli", "costs", "--batch-size", "0"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 4
    assert "expected a positive integer, got '0'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv", [[], ["nope"]])
def test_unknown_or_missing_command(argv):
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 4


@pytest.mark.parametrize("command", ["compare a.json b.json", "ab --base HEAD"])
def test_min_effect_out_of_range_is_refused_with_the_range(command, capsys):
    with pytest.raises(SystemExit) as err:
        main([*command.split(), "--min-effect", "-2"])
    assert err.value.code == 4
    assert "--min-effect '-2': expected a number >= 0" in capsys.readouterr().err
