"""One family of commands: shared arguments checked when parsed, one exit-code contract (0 nothing
found, 1 found, 2 the tool failed, 4 usage, 130 interrupted), --help without torch. The codes
that need a real suite, worktree or signal are tested end to end in test_ab, test_bisect,
test_explain and test_bench_suite; here each command's mapping is driven in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from drive import CPU, command

from unet.bench.ab.settings import ABError
from unet.bench.commands import COMMANDS
from unet.bench.errors import from_pytest
from unet.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
NAMES = sorted(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_explains_errors_are_usage_errors_not_ab_ones():
    """ExplainError subclassed the A/B usage error (issue 19): one family, one base class."""
    from unet.bench.ab.settings import ABUsageError
    from unet.bench.errors import UsageError
    from unet.bench.explain import ExplainError

    assert issubclass(ExplainError, UsageError)
    assert not issubclass(ExplainError, ABUsageError)
    assert not issubclass(ABUsageError, ABError)  # a usage error is no failing tool


def test_every_command_is_one_module_with_add_parser_and_run():
    assert len(COMMANDS) == len(NAMES) == 10
    for module in COMMANDS:
        assert callable(module.add_parser)
        assert callable(module.run)


def test_device_is_checked_when_parsed_by_every_command_that_takes_it(capsys):
    takes = [n for n in NAMES if "--device" in _help(n, capsys)]
    assert set(takes) >= {"run", "ab", "bisect", "explain", "report", "history", "save-baseline"}
    for name in takes:
        args = {"ab": ["--base", "HEAD"], "bisect": ["--good", "a", "--bad", "b"]}.get(name, [])
        args += ["x"] if name == "explain" else []
        with pytest.raises(SystemExit) as err:
            main([name, *args, "--device", "gpu"])
        assert err.value.code == 4
        assert "Unsupported --device 'gpu'; did you mean 'cpu'?" in capsys.readouterr().err


def _help(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as err:
        main([name, "--help"])
    assert err.value.code == 0
    return capsys.readouterr().out


def test_the_waiver_says_it_also_waives_differing_axes(capsys):
    assert "both refusals are waived" in " ".join(_help("compare", capsys).split())


def test_a_storage_url_that_is_not_a_folder_is_refused_when_parsed(capsys):
    with pytest.raises(SystemExit) as err:
        main(["run", "--storage", "elasticsearch://host/index"])
    assert err.value.code == 4
    assert "--storage 'elasticsearch://host/index': expected a folder" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ab", "bisect", "explain", "calibrate"])
def test_out_that_is_a_file_or_holds_results_is_refused_and_left_alone(name, tmp_path):
    """`ab --out <an existing file>` ended in a FileExistsError traceback (issue 19)."""
    args = {
        "ab": ["--base", "HEAD"],
        "bisect": ["--good", "HEAD~1", "--bad", "HEAD"],
        "calibrate": [],
    }
    argv = [name, *args.get(name, ["up=transposed-bs=1"]), *CPU]
    taken = tmp_path / "ab.md"
    taken.write_text("an earlier result")
    proc = command(REPO, *argv, f"--out={taken}")
    assert proc.returncode == 4, proc.stderr
    assert f"--out {taken}: is a file" in proc.stderr
    proc = command(REPO, *argv, f"--out={tmp_path}")
    assert proc.returncode == 4, proc.stderr
    assert "holds files already" in proc.stderr
    assert taken.read_text() == "an earlier result"
    assert [p.name for p in tmp_path.iterdir()] == ["ab.md"]


@pytest.mark.parametrize(
    ("failure", "code", "said"),
    [
        (ABError("the head suite failed (exit 3)"), 2, "unet-bench ab: the head suite failed"),
        (KeyboardInterrupt(), 130, "unet-bench ab: interrupted; the base worktree was removed"),
    ],
)
def test_ab_maps_a_crashed_suite_to_2_and_an_interrupt_to_130(
    monkeypatch, tmp_path, failure, code, said
):
    """A crashed suite was exit 4, a usage error, in `ab` and `bisect` (issue 19)."""
    from unet.bench.ab import runner

    def crash(settings, base):
        raise failure

    monkeypatch.setattr(runner, "run_ab", crash)
    proc = command(REPO, "ab", "--base", "HEAD", *CPU, f"--out={tmp_path / 'out'}")
    assert proc.returncode == code
    assert said in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bisect_maps_a_crashed_step_to_2(monkeypatch, tmp_path):
    from unet.bench.bisect import bisection

    def crash(settings, good, bad, cases):
        raise ABError("the suite at 1234567 wrote no results; see suite.log")

    monkeypatch.setattr(bisection, "run", crash)
    argv = ["bisect", "--good", "HEAD~1", "--bad", "HEAD", *CPU, f"--out={tmp_path / 'o'}"]
    proc = command(REPO, *argv)
    assert proc.returncode == 2
    assert "unet-bench bisect: the suite at 1234567 wrote no results" in proc.stderr


def test_explain_maps_a_failing_git_worktree_to_2_not_a_traceback(monkeypatch, tmp_path):
    """explain caught only its own error: a failing `git worktree` was a traceback (issue 19)."""
    from unet.bench import explain

    def broken(repo, sha):
        raise ABError("git worktree add --detach failed: fatal: disk full")

    monkeypatch.setattr(explain, "base_worktree", broken)
    monkeypatch.setattr(explain, "check_collected", lambda tree, ref, device: None)
    argv = ["explain", "up=transposed-bs=1", "--base", "HEAD", *CPU, f"--out={tmp_path / 'o'}"]
    proc = command(REPO, *argv)
    assert proc.returncode == 2
    assert "unet-bench explain: git worktree add --detach failed: fatal: disk full" in proc.stderr


@pytest.mark.parametrize(("pytest_code", "code"), [(0, 0), (1, 1), (3, 2), (4, 4), (5, 4)])
def test_run_maps_the_suites_codes(monkeypatch, tmp_path, pytest_code, code):
    """`run` passed pytest's code through: Ctrl-C there was 2, not 130 (issue 19)."""
    monkeypatch.setattr(subprocess, "call", lambda argv, cwd: pytest_code)
    assert main(["run", *CPU, "--storage", str(tmp_path)]) == code
    assert from_pytest(pytest_code) == code


def test_run_interrupted_is_130(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(subprocess, "call", lambda argv, cwd: 2)  # pytest's "interrupted"
    assert main(["run", *CPU, "--storage", str(tmp_path)]) == 130
    assert "unet-bench run: interrupted" in capsys.readouterr().err


def test_a_torch_below_the_floor_is_a_usage_error_of_every_command(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch, "__version__", "2.1.0")
    assert main(["costs", "--json"]) == 4
    assert "unet-bench costs: " in capsys.readouterr().err


@pytest.mark.e2e
def test_help_of_every_command_imports_no_torch():
    """In a fresh process: `unet-bench --help` and each command's took 2.3 s importing torch."""
    probe = (
        "import sys, time\n"
        "from unet.cli import main\n"
        f"for argv in [['--help']] + [[n, '--help'] for n in {NAMES!r}]:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code == 0, (argv, e.code)\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'numpy': 'numpy' in sys.modules}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", "import json\n" + probe], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"torch": False, "numpy": False}


def test_calibrate_needs_four_processes_and_creates_nothing_without_them(tmp_path):
    floors = tmp_path / "floors.json"
    argv = ["calibrate", "--runs", "2", *CPU, f"--floors={floors}", f"--out={tmp_path / 'o'}"]
    proc = command(REPO, *argv)
    assert proc.returncode == 4
    assert "--runs 2: a floor needs at least 4" in proc.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("failure", "code", "said"),
    [
        (ABError("the base suite failed (exit 3)"), 2, "unet-bench calibrate: the base suite"),
        (KeyboardInterrupt(), 130, "unet-bench calibrate: interrupted; its workers were stopped"),
    ],
)
def test_calibrate_maps_a_crashed_suite_to_2_and_an_interrupt_to_130(
    monkeypatch, tmp_path, failure, code, said
):
    from unet.bench import calibrate

    def crash(settings, processes, commit):
        raise failure

    monkeypatch.setattr(calibrate, "calibrate", crash)
    floors = tmp_path / "floors.json"
    proc = command(REPO, "calibrate", *CPU, f"--floors={floors}", f"--out={tmp_path / 'o'}")
    assert proc.returncode == code
    assert said in proc.stderr
    assert not floors.exists()


def test_calibrate_writes_the_floors_of_its_key_and_keeps_the_others(monkeypatch, tmp_path):
    from unet.bench import calibrate
    from unet.bench.results.floors import FULL, Calibration, calibration_for, update_floors
    from unet.bench.stats.floors import Floor

    floors = tmp_path / "floors.json"
    kept = Floor(0.05, 0.01, 8, 1e-3)
    update_floors(floors, "cuda-other", Calibration({"a": kept}, "t0", None))
    found = {"a": Floor(0.04, 0.01, 8, 1e-3), "b": Floor(0.4, 0.1, 8, 2e-3)}

    def fake(settings, processes, commit):
        assert processes == 8
        return calibrate.CalibrationRun(
            "cpu-key", Calibration(found, "t1", commit), {"a": [1e-3] * 8, "b": [2e-3] * 8}, 3.0
        )

    monkeypatch.setattr(calibrate, "calibrate", fake)
    proc = command(REPO, "calibrate", *CPU, f"--floors={floors}", f"--out={tmp_path / 'o'}")
    assert proc.returncode == 0, proc.stderr
    assert "unstable here: not gated" in proc.stdout
    said = f"2 cases (1 gated) from 8 processes in 3 s; wrote {floors} for cpu-key, full tier"
    assert said in proc.stderr
    assert calibration_for("cpu-key", FULL, floors).cases == found
    assert calibration_for("cuda-other", FULL, floors).cases == {"a": kept}
