"""The layout stays one a newcomer can read: modules that say what they are for, code shaped by
ruff format alone (complexity is ruff's C901/PLR09 rules in ``make lint``), one seam to
pytest-benchmark's internals, a thin benchmarks/conftest.py."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CODE = sorted(
    p for folder in ("unet", "benchmarks", "scripts") for p in (REPO / folder).rglob("*.py")
)
COMPAT = REPO / "unet" / "bench" / "pbcompat.py"
MAX_CONFTEST_LINES = 60
# what pytest-benchmark does not document as its interface
INTERNALS = re.compile(
    r"_benchmarksession|compared_mapping|stats\.stats|stats\.iterations|benchmark\.disabled"
    r"|benchmark\.group\s*=|FileStorage|get_machine_id|option\.benchmark_\w+\s*="
    r"|(from|import) pytest_benchmark"
)


def relative(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", CODE, ids=relative)
def test_modules_say_what_they_are_for(path):
    text = path.read_text()
    assert not text.strip() or ast.get_docstring(ast.parse(text)), "no module docstring"


def test_no_code_is_shaped_by_hand_to_pass_a_check():
    """ruff format decides the shape: no ``fmt: skip`` / ``fmt: off`` anywhere."""
    marker = re.compile(r"#\s*fmt:\s*(skip|off)")
    found = [
        f"{relative(p)}:{n}"
        for p in [*CODE, *(REPO / "tests").glob("*.py")]
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if marker.search(line)
    ]
    assert found == []


def test_lint_judges_complexity_and_the_layers():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]
    assert {"C90", "PLR0912", "PLR0913", "PLR0915"} <= set(tool["ruff"]["lint"]["select"])
    assert tool["ruff"]["lint"]["mccabe"]["max-complexity"] <= 10
    (layers,) = [c for c in tool["importlinter"]["contracts"] if c["type"] == "layers"]
    packages = {
        p.name for p in (REPO / "unet" / "bench").iterdir() if p.is_dir() and p.name[0] != "_"
    }
    modules = {p.stem for p in (REPO / "unet" / "bench").glob("*.py") if p.stem != "__init__"}
    named = {name.strip() for layer in layers["layers"] for name in layer.split("|")}
    assert named == (packages | modules) - {"__pycache__"}  # every part of the tree has a layer
    assert "lint-imports" in (REPO / "Makefile").read_text()


@pytest.mark.parametrize("path", [p for p in CODE if p != COMPAT], ids=relative)
def test_only_the_compatibility_module_touches_pytest_benchmark_internals(path):
    assert INTERNALS.findall(path.read_text()) == []


def test_the_pattern_finds_what_it_must():
    found = {m.group(0) for m in INTERNALS.finditer(COMPAT.read_text())}
    assert {"stats.stats", "FileStorage", "get_machine_id", "from pytest_benchmark"} <= found


def test_conftest_only_registers_the_plugin_and_the_cases():
    conftest = REPO / "benchmarks" / "conftest.py"
    text = conftest.read_text()
    assert len(text.splitlines()) <= MAX_CONFTEST_LINES
    assert 'pytest_plugins = ["unet.bench.suite.plugin"]' in text
    hooks = {n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)}
    assert hooks == {"pytest_generate_tests", "run_case"}


def test_a_unit_test_cannot_start_a_python_process_but_git_runs():
    import subprocess
    import sys

    with pytest.raises(RuntimeError, match=r"outside the e2e lane started .*mark it @pytest"):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert subprocess.run(["git", "--version"], capture_output=True).returncode == 0


@pytest.mark.e2e
def test_an_e2e_test_may_start_one():
    import subprocess
    import sys

    assert subprocess.run([sys.executable, "-c", "pass"]).returncode == 0
