"""The torch range: declared, checked at start-up, features an option needs probed, and every
private torch API reached through unet/torchcompat.py."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from drive import FAST, suite

from unet import torchcompat
from unet.bench.suite import state
from unet.cli import main

REPO = Path(__file__).resolve().parents[1]
# what only the compatibility module may name: torch's private modules and attributes
PRIVATE = re.compile(
    r"torch\._[a-z]\w*|torch\.utils\._\w+|_python_dispatch|_pytree|kineto_results"
    r"|multiprocessing\.reductions|is_dynamo_supported"
)


def test_versions_below_the_floor_are_refused_with_the_range_and_the_install_line():
    problem = torchcompat.version_problem("2.4.1")
    assert problem.startswith("unet-bench needs torch >=2.5 (tested 2.5 to 2.15); found 2.4.1.")
    assert "pip install 'torch>=2.5' --index-url https://download.pytorch.org/whl/cpu" in problem
    assert torchcompat.version_problem("not-a-version") is not None
    for ok in ("2.5.0", "2.5.1+cu124", "2.13.0+cpu", "2.16.0.dev20270101"):
        assert torchcompat.version_problem(ok) is None, ok


def test_a_torch_newer_than_the_newest_tested_runs_with_a_note():
    assert torchcompat.version_note("2.15.3") is None
    assert "newer than the newest tested (2.15)" in torchcompat.version_note("2.16.0")


@pytest.mark.e2e
def test_the_suite_refuses_a_torch_below_the_floor_at_start_up(tmp_path):
    plugin = "import torch\ntorch.__version__ = '1.13.0'\n"  # as an old install would read
    proc = suite(tmp_path, *FAST, "-k", "test_upsample", plugin=plugin)
    assert proc.returncode == 4, proc.stdout
    assert "unet-bench needs torch >=2.5 (tested 2.5 to 2.15); found 1.13.0" in proc.stdout
    assert "Traceback" not in proc.stdout


def test_the_commands_refuse_it_too(monkeypatch, capsys):
    monkeypatch.setattr(torch, "__version__", "2.4.1")
    assert main(["costs", "--json"]) == 4
    assert "unet-bench costs: unet-bench needs torch >=2.5" in capsys.readouterr().err


def options(**changed) -> SimpleNamespace:
    base = dict(
        verdict=False,
        autocast=None,
        dtype="float32",
        compile=None,
        do_bench=False,
        device=torch.device("cpu"),
    )
    return SimpleNamespace(**{**base, **changed})


def test_an_option_whose_feature_this_torch_lacks_is_refused_by_name(monkeypatch):
    assert torchcompat.autocast_unsupported("cpu", torch.bfloat16) is None  # probed for real
    monkeypatch.setattr(torch.amp, "is_autocast_available", lambda device: False)
    with pytest.raises(
        pytest.UsageError,
        match=r"^--autocast float16: torch .* has no autocast "
        r"for cpu; run without it$",
    ):
        state.check_combinations(None, options(autocast="float16"))
    monkeypatch.setattr("torch._dynamo.eval_frame.is_dynamo_supported", lambda: False)
    with pytest.raises(pytest.UsageError, match=r"^--compile: torch .* cannot compile on Python"):
        state.check_combinations(None, options(compile="default"))


def test_cudagraph_modes_are_refused_on_a_gpu_without_cuda_graphs(monkeypatch):
    monkeypatch.setattr(torchcompat, "compile_unsupported", lambda: None)
    monkeypatch.setattr(torchcompat, "cuda_graphs_unsupported", lambda: "built without them")
    with pytest.raises(pytest.UsageError, match=r"^--compile reduce-overhead: built without them"):
        state.check_compile(options(compile="reduce-overhead", device=torch.device("cuda")))
    state.check_compile(options(compile="max-autotune-no-cudagraphs", device=torch.device("cuda")))
    state.check_compile(options(compile="reduce-overhead"))  # the CPU replays no CUDA graphs


def test_only_the_compatibility_module_names_torch_internals():
    code = [p for d in ("unet", "benchmarks", "scripts") for p in (REPO / d).rglob("*.py")]
    found = {
        f"{p.relative_to(REPO)}: {m.group(0)}"
        for p in code
        if p.name != "torchcompat.py"
        for m in PRIVATE.finditer(p.read_text())
    }
    assert found == set()
    assert PRIVATE.search((REPO / "unet" / "torchcompat.py").read_text())  # the pattern works


def test_pyproject_and_readme_declare_the_range_the_code_checks():
    assert f'"{torchcompat.REQUIREMENT}"' in (REPO / "pyproject.toml").read_text()
    readme = (REPO / "README.md").read_text()
    assert f"torch {torchcompat.MINIMUM} to {torchcompat.NEWEST_TESTED}" in readme


def test_cpu_workflow_tests_both_ends_of_the_torch_range():
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "cpu.yml").read_text())
    pins = [e["torch"] for e in workflow["jobs"]["test"]["strategy"]["matrix"]["include"]]
    versions = sorted(torchcompat.release(p.removeprefix("torch==")) for p in pins)
    oldest, newest = versions[0], versions[-1]
    assert (oldest.major, oldest.minor) == (torchcompat.MINIMUM.major, torchcompat.MINIMUM.minor)
    assert newest >= torchcompat.NEWEST_TESTED
