"""The GitHub workflows stay safe: zizmor finds nothing, and the rules it cannot see hold."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / ".github" / "workflows").glob("*.yml"))


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_both_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {"cpu.yml", "gpu.yml"}


def test_zizmor_reports_no_findings():
    # the venv's own bin first: it may not be on PATH when pytest is called by its full path
    zizmor = shutil.which("zizmor", path=str(Path(sys.executable).parent)) or shutil.which("zizmor")
    assert zizmor, "zizmor is a dev dependency: pip install -e '.[dev]'"
    proc = subprocess.run(
        [zizmor, "--offline", "--no-progress", *map(str, WORKFLOWS)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_rules(path):
    text = path.read_text()
    wf = load(path)
    assert "pull_request_target" not in text
    assert wf["permissions"] == {"contents": "read"}
    assert "group" in wf["concurrency"]
    for name, job in wf["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{name} has no timeout-minutes"
        for step in job["steps"]:
            if "uses" in step:
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
                if step["uses"].startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"# v\d+\.\d+\.\d+$", line), f"no version comment: {line}"


def test_gpu_gate_runs_only_on_the_label_event_or_dispatch():
    wf = load(next(p for p in WORKFLOWS if p.name == "gpu.yml"))
    assert wf["on"]["pull_request"] == {"types": ["labeled"]}
    assert "workflow_dispatch" in wf["on"]
    ab = wf["jobs"]["ab"]
    assert "github.event.label.name == 'gpu-benchmark'" in ab["if"]
    assert ab["runs-on"] == ["self-hosted", "linux", "gpu"]
    assert wf["jobs"]["record"]["if"] == "github.event_name == 'push'"
    # the failing step comes after the upload
    names = [s.get("name") or s.get("uses", "") for s in ab["steps"]]
    assert names.index("Fail last, after uploading") > max(
        i for i, n in enumerate(names) if "upload-artifact" in n
    )
