"""A/B mode end to end on a throwaway clone: verdicts, cost changes, worktree hygiene, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLOW_INTERPOLATE = """

import time as _time

def _slow_forward(self, x, _forward=InterpolateConv.forward):
    _time.sleep(0.02)
    return _forward(self, x)

InterpolateConv.forward = _slow_forward
"""


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A clone of this repository's HEAD; its working tree is the A/B head."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
    return repo


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def ab(repo: Path, out: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "unet.cli", "ab", "--base", "HEAD", "--quick",
           f"--out={out}", *args]  # fmt: skip
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900, **kwargs)


def worktrees(repo: Path) -> list[str]:
    return [line for line in git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]  # fmt: skip


def test_injected_slowdown_is_a_confirmed_regression_and_the_tree_is_untouched(clone, tmp_path):
    layers = clone / "unet" / "layers.py"
    layers.write_text(layers.read_text() + SLOW_INTERPOLATE)
    status_before = git(clone, "status", "--porcelain")
    proc = ab(clone, tmp_path / "out", "--", "-k", "test_upsample", "--warmup-time=0")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "out" / "ab.json").read_text())
    verdicts = {v["case"]: v["verdict"] for v in result["verdicts"]}
    assert verdicts["test_upsample[up=interpolate-bs=1]"] == "regression"
    assert verdicts["test_upsample[up=transposed-bs=1]"] != "regression"
    assert "Re-measured to confirm: test_upsample[up=interpolate-bs=1]" in proc.stdout
    assert (tmp_path / "out" / "ab.png").stat().st_size > 0
    # the user's tree is as it was, and no worktree is left behind
    assert git(clone, "status", "--porcelain") == status_before
    assert len(worktrees(clone)) == 1
    assert not list(Path(tempfile_dir()).glob("unet-bench-ab-*/base"))


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


def test_cost_change_between_base_and_head_fails(clone, tmp_path):
    layers = clone / "unet" / "layers.py"
    text = layers.read_text()
    narrow = "conv=create_conv(conv, in_channels, out_channels, 1),"
    layers.write_text(text.replace("conv=create_conv(conv, in_channels, out_channels),", narrow))
    proc = ab(clone, tmp_path / "out", "--blocks", "1", "--", "-k", "test_upsample",
              "--warmup-time=0", "--benchmark-max-time=0.01")  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    changes = json.loads((tmp_path / "out" / "ab.json").read_text())["cost_changes"]
    fields = {(case, field) for case, field, *_ in changes}
    assert ("test_upsample[up=interpolate-bs=1]", "params") in fields
    assert "Cost changes" in proc.stdout


def test_unknown_base_revision_is_a_usage_error(clone, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "unet.cli", "ab", "--base", "no-such-rev", f"--out={tmp_path}"],
        cwd=clone, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 4
    assert "git rev-parse" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(worktrees(clone)) == 1


def test_ctrl_c_removes_the_worktree(clone, tmp_path):
    cmd = [sys.executable, "-m", "unet.cli", "ab", "--base", "HEAD", "--quick",
           f"--out={tmp_path / 'out'}"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=clone, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while len(worktrees(clone)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(worktrees(clone)) == 2, "the base worktree never appeared"
    time.sleep(1)  # let the first block start
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; the base worktree was removed" in err
    assert len(worktrees(clone)) == 1
    assert git(clone, "status", "--porcelain") == ""
