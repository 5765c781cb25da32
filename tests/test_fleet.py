"""The fleet's storage of runs (scripts/runs_branch.sh against a local bare repository) and the
history of every key at once (``--key all``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from test_history import CASE, KEY, write_run

from unet.cli import main

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "runs_branch.sh"


def runs_branch(remote: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TOKEN": "not-used-by-a-file-remote", "RUNS_URL": f"file://{remote}"}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True)


def test_runs_are_added_to_the_branch_never_replaced_and_fetched_back(tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    assert runs_branch(remote, "fetch", str(tmp_path / "none")).returncode == 0  # no branch yet
    new = tmp_path / "new"
    (new / KEY).mkdir(parents=True)
    (new / KEY / "0001_a.json").write_text("first")
    proc = runs_branch(remote, "add", str(tmp_path / "union"), str(new), "runs of a")
    assert proc.returncode == 0, proc.stderr
    (new / KEY / "0001_a.json").write_text("changed: must not replace the saved run")
    (new / "cuda-Other" / "0001_b.json").parent.mkdir()
    (new / "cuda-Other" / "0001_b.json").write_text("second")
    proc = runs_branch(remote, "add", str(tmp_path / "union2"), str(new), "runs of b")
    assert proc.returncode == 0, proc.stderr
    fetched = tmp_path / "fetched"
    assert runs_branch(remote, "fetch", str(fetched)).returncode == 0
    assert (fetched / KEY / "0001_a.json").read_text() == "first"
    assert (fetched / "cuda-Other" / "0001_b.json").read_text() == "second"
    assert not (fetched / ".git").exists()
    log = subprocess.run(
        ["git", "-C", str(remote), "log", "--format=%s", "bench-runs"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout.splitlines()[:2] == ["runs of b", "runs of a"]


def test_history_of_every_key_writes_a_page_per_key_and_an_index(tmp_path, capsys):
    runs = tmp_path / "runs"
    for key, scale in ((KEY, 1.0), ("cuda-NVIDIA_H200-torch2.11", 0.1)):
        (runs / key).mkdir(parents=True)
        for n in range(1, 7):
            write_run(runs / key, n, {CASE: 0.010 * scale * (1.3 if n >= 4 else 1)}, key=key)
    assert main(["history", str(runs), "--key", "all", "--out", str(tmp_path / "site")]) == 0
    index = (tmp_path / "site" / "index.html").read_text()
    assert f'href="{KEY}/index.html"' in index
    assert 'href="cuda-NVIDIA_H200-torch2.11/index.html"' in index
    assert "1 change(s) detected" in index
    assert (tmp_path / "site" / "cuda-NVIDIA_H200-torch2.11" / "index.html").exists()
    summary = (tmp_path / "site" / "history.md").read_text()
    assert summary.count("## Performance history") == 2
    assert "skipped" not in capsys.readouterr().err  # each key reads its own runs
