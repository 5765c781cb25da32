"""The GitHub workflows stay safe: zizmor finds nothing, and the rules it cannot see hold."""

import json
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
    assert ab["runs-on"] == "${{ matrix.runner }}"
    assert wf["jobs"]["record"]["if"] == "github.event_name == 'push'"
    # the failing step comes after the upload
    names = [s.get("name") or s.get("uses", "") for s in ab["steps"]]
    assert names.index("Fail last, after uploading") > max(
        i for i, n in enumerate(names) if "upload-artifact" in n
    )


def runner_matrix(expression: str, variable: str | None) -> list[list[str]]:
    """What ``fromJSON(vars.GPU_RUNNERS || '<default>')`` gives for the variable's value."""
    found = re.fullmatch(r"\$\{\{ fromJSON\(vars\.GPU_RUNNERS \|\| '(.*)'\) \}\}", expression)
    assert found, expression
    return json.loads(variable or found.group(1))


def test_the_gpu_jobs_run_on_every_runner_of_the_fleet_variable_or_the_one_default():
    wf = load(next(p for p in WORKFLOWS if p.name == "gpu.yml"))
    fleet = '[["self-hosted","linux","gpu-h100"],["self-hosted","linux","gpu-l4"]]'
    for name in ("record", "ab"):
        job = wf["jobs"][name]
        assert job["runs-on"] == "${{ matrix.runner }}"
        assert job["strategy"]["fail-fast"] is False  # one GPU's failure keeps the others' runs
        expression = job["strategy"]["matrix"]["runner"]
        assert runner_matrix(expression, None) == [["self-hosted", "linux", "gpu"]]
        assert runner_matrix(expression, fleet)[1] == ["self-hosted", "linux", "gpu-l4"]
        # each matrix entry uploads under its own name
        uploads = [s for s in job["steps"] if "upload-artifact" in s.get("uses", "")]
        assert all("strategy.job-index" in s["with"]["name"] for s in uploads)


def test_only_the_pages_job_may_deploy_and_only_history_may_push():
    wf = load(next(p for p in WORKFLOWS if p.name == "gpu.yml"))
    jobs = wf["jobs"]
    assert jobs["pages"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert "PUBLISH_HISTORY == 'true'" in jobs["pages"]["if"]
    assert jobs["pages"]["needs"] == "history"
    assert jobs["history"]["permissions"] == {"contents": "write"}
    assert jobs["history"]["needs"] == "record"
    for name, job in jobs.items():
        if name not in ("pages", "history"):
            assert "permissions" not in job, name  # the workflow's contents: read
    for path in WORKFLOWS:
        text = path.read_text()
        assert text.count("pages: write") == (path.name == "gpu.yml")
        assert text.count("id-token: write") == (path.name == "gpu.yml")
