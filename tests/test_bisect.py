"""unet-bench bisect: the search on fakes, and end to end on a throwaway repository of 8
commits in which commit 3 changes one case's costs and commit 5 slows another."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from drive import CPU, command
from test_ab import RELU_AFTER_TRANSPOSED, slow_interpolate

from unet.bench.bisect.search import BAD, GOOD, Evidence, Slowdown, decide_time, first_bad
from unet.bench.stats.verdict import NO_CHANGE, REGRESSION, UNSURE, Verdict

REPO = Path(__file__).resolve().parents[1]
SLOW_INTERPOLATE = slow_interpolate(0.01)  # about 9x the ~1.2 ms upsampling case here
# The margin of every timed verdict here: only a doubling counts, beyond the 0.77-1.86x that
# whole processes were seen to swing on this machine, and far below the injected 9x; so an
# untouched case is never a regression by noise, and the slowed one always is. With an effect
# that large two round blocks per side settle each step (the default 6 are for 3 % effects).
TIMED = ("--min-effect=1", "--blocks=2")
SUITE = ("--warmup-time=0", "--benchmark-max-time=0.2")  # a fifth of the default rounds' time
INTERPOLATE = "test_upsample[up=interpolate-bs=1]"
TRANSPOSED = "test_upsample[up=transposed-bs=1]"
ENDS = Slowdown([INTERPOLATE], 0.5)  # what the ends showed, for the decision tests


def verdict(outcome: str, change: float, case: str = INTERPOLATE) -> Verdict:
    return Verdict(
        case,
        outcome,
        1e-3,
        1e-3 * (1 + change),
        change,
        0.5,
        (1e-3, 1e-3),
        (1e-3, 1e-3),
        0.0,
        0.0,
        10,
        10,
    )


def test_first_bad_asks_only_the_midpoints_binary_search_needs():
    commits = [f"c{i}" for i in range(1, 9)]
    asked = []

    def is_bad(c):
        asked.append(c)
        return int(c[1:]) >= 5

    assert commits[first_bad(commits, is_bad)] == "c5"
    assert asked == ["c4", "c6", "c5"]


def test_an_unsure_step_is_measured_again_with_more_rounds_before_it_decides():
    answers = [[verdict(UNSURE, 0.08)], [verdict(REGRESSION, 0.21)]]
    blocks, log = [], []

    def measure(commit, n):
        blocks.append(n)
        return answers.pop(0)

    assert decide_time("c5", "slow", Slowdown([INTERPOLATE], 0.2), measure, 6, log) is True
    assert blocks == [6, 12]
    assert [e.decision for e in log] == ["", BAD]
    assert "twice the round blocks" in log[0].note


def test_a_step_unsure_every_time_is_decided_by_its_size_and_says_so():
    log: list[Evidence] = []
    small = decide_time("c", "s", ENDS, lambda c, n: [verdict(UNSURE, 0.04)], 6, log)
    assert small is False
    assert len(log) == 3
    assert log[-1].decision == GOOD
    assert "decided by size (+4.0% against +50.0% between the ends)" in log[-1].note
    assert decide_time("c", "s", ENDS, lambda c, n: [verdict(NO_CHANGE, 0.0)], 6, log) is False


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def eight_commits(tmp_path_factory) -> tuple[Path, list[str]]:
    """A clone of HEAD plus 7 commits: 3 adds a ReLU after the transposed upsampler (a cost
    change, no time to speak of), 5 adds a 10 ms sleep to the interpolating one (~9x)."""
    repo = tmp_path_factory.mktemp("bisect") / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
    for who in (("user.name", "test"), ("user.email", "test@example.com")):
        git(repo, "config", *who)
    layers = repo / "unet" / "layers.py"
    for n in range(2, 9):
        (repo / "NOTES.txt").write_text(f"commit {n}\n")
        if n == 3:
            layers.write_text(layers.read_text() + RELU_AFTER_TRANSPOSED)
        if n == 5:
            layers.write_text(layers.read_text() + SLOW_INTERPOLATE)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"commit {n}")
    return repo, git(repo, "rev-list", "--reverse", "HEAD~7^..HEAD").split()


def bisect(repo: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "unet.cli",
        "bisect",
        "--quick",
        *CPU,
        *TIMED,
        f"--out={out}",
        *args,
    ]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900)


@pytest.mark.e2e
def test_bisect_names_commit_3_for_the_cost_and_commit_5_for_the_slowdown(eight_commits, tmp_path):
    repo, commits = eight_commits
    status = git(repo, "status", "--porcelain")
    branch = git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    started = time.perf_counter()
    proc = bisect(
        repo,
        tmp_path / "out",
        "--good",
        commits[0],
        "--bad",
        commits[7],
        "--",
        "-k",
        "test_upsample",
        *SUITE,
    )
    wall = time.perf_counter() - started
    said = proc.stdout + proc.stderr
    assert proc.returncode == 1, said  # a first bad commit named: found, as every command's 1
    result = json.loads((tmp_path / "out" / "bisect.json").read_text())
    found = {f["kind"]: f for f in result["found"]}
    assert found["cost"]["commit"] == commits[2], said
    assert found["cost"]["cases"] == [TRANSPOSED]
    assert found["slower"]["commit"] == commits[4], said
    assert found["slower"]["cases"] == [INTERPOLATE]
    assert f"First slower commit: `{commits[4][:7]}` commit 5" in proc.stdout
    # evidence: the ends, then cost passes, then A/Bs; no timed step on costs
    kinds = [e["measured"] for e in result["evidence"]]
    assert kinds[0] == "ends"
    assert kinds.index("time") > max(i for i, k in enumerate(kinds) if k == "cost")
    assert any("ops aten.relu" in line for e in result["evidence"] for line in e["detail"])
    assert (tmp_path / "out" / "bisect.md").read_text().startswith("## Bisect:")
    # the user's tree, branch and worktree list are as they were
    assert git(repo, "status", "--porcelain") == status
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == branch
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    print(f"bisect of 8 commits (quick tier, 2 cases): {wall:.0f} s wall")


@pytest.mark.e2e
def test_a_range_without_a_regression_exits_0(eight_commits, tmp_path):
    repo, commits = eight_commits
    proc = bisect(
        repo,
        tmp_path / "out",
        "--good",
        commits[0],
        "--bad",
        commits[3],
        "--case",
        INTERPOLATE,
        "--",
        *SUITE,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No regression between the ends" in proc.stdout


@pytest.mark.parametrize(
    ("good", "bad", "message"),
    [
        (7, 0, "is not an ancestor of --bad"),
        ("nonsense", 7, "--good 'nonsense': unknown revision"),
        (0, "nonsense", "--bad 'nonsense': unknown revision"),
        (3, 3, "are the same commit"),
    ],
)
def test_bad_revisions_exit_4_before_anything_runs(eight_commits, tmp_path, good, bad, message):
    repo, commits = eight_commits
    pick = lambda r: commits[r] if isinstance(r, int) else r  # noqa: E731
    args = ("--good", pick(good), "--bad", pick(bad), f"--out={tmp_path / 'out'}")
    proc = command(repo, "bisect", "--quick", *CPU, *args)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
def test_an_unknown_case_exits_4_naming_it(eight_commits, tmp_path):
    """In a process of its own: bisect's wiring of exit 4 and no traceback."""
    repo, commits = eight_commits
    proc = bisect(
        repo,
        tmp_path / "out",
        "--good",
        commits[0],
        "--bad",
        commits[7],
        "--case",
        "conv=standard-norm=btach-bs=1x",
    )
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "--case 'test_model[conv=standard-norm=btach-bs=1x]': not a case" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
def test_sigterm_removes_every_worktree_and_leaves_the_tree_alone(eight_commits, tmp_path):
    repo, commits = eight_commits
    cmd = [
        sys.executable,
        "-m",
        "unet.cli",
        "bisect",
        "--quick",
        *CPU,
        f"--out={tmp_path / 'out'}",
        "--good",
        commits[0],
        "--bad",
        commits[7],
        "--",
        "-k",
        "test_upsample",
    ]
    proc = subprocess.Popen(
        cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    # the bad end's worktree, then the good one's inside the A/B
    while len(git(repo, "worktree", "list").splitlines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(git(repo, "worktree", "list").splitlines()) == 3, "no worktrees appeared"
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; the worktrees were removed" in err
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert git(repo, "status", "--porcelain") == ""
