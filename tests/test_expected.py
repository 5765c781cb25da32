"""Acknowledged changes and the environment diff (issue 22): a declared slowdown passes inside its
range and fails outside it, an entry already at the base acknowledges nothing, a stale entry is
reported, and an environment change shows in compare, ab and the history page."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from test_report_compare import HW, calibrated, write_run

from unet.bench.ab.result import ABResult
from unet.bench.ab.runner import acknowledge_and_diff
from unet.bench.ab.summary import ab_markdown
from unet.bench.bisect.bisection import declared_by
from unet.bench.results.environment import environment_diff, with_environment
from unet.bench.results.expected import (
    EXPECTED,
    RELATIVE,
    ExpectedChangesError,
    acknowledge,
    active,
    parse,
)
from unet.bench.results.runs import load_run
from unet.bench.stats.verdict import NO_CHANGE, REGRESSION, Verdict
from unet.cli import main

CASE = "test_model[conv=standard-norm=batch-up=interpolate-bs=1]"
ENTRY = """
[[change]]
cases = "test_model[conv=standard-*"
direction = "slower"
min_percent = {low}
max_percent = {high}
reason = "{reason}"
"""


def entry(low=5, high=15, reason="a wider first block") -> str:
    return ENTRY.format(low=low, high=high, reason=reason)


def verdict(case: str, outcome: str, change: float) -> Verdict:
    return Verdict(
        case, outcome, 0.01, 0.01 * (1 + change), change, 1e-6, (0, 0), (0, 0), 0, 0, 40, 40
    )


# --- the file -------------------------------------------------------------------------------


def test_an_entry_parses_and_covers_its_range_in_its_direction():
    (e,) = parse(entry())
    assert e.matches(CASE)
    assert not e.matches("test_norm[norm=batch-bs=1]")
    assert e.covers(0.10)
    assert not e.covers(0.30)
    assert not e.covers(-0.10)  # faster is not the declared change
    assert e.declared == "+5..+15 %"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            entry().replace('"slower"', '"slow"'),
            "change 1: direction 'slow'; valid: slower, faster",
        ),
        (entry().replace("reason", "why"), "change 1: missing reason"),
        (entry() + "extra = 1\n", "change 1: unknown field extra; valid: cases, direction"),
        (entry(low=20, high=10), "min_percent 20 and max_percent 10 must be numbers"),
        ("[[change]\n", "not valid TOML"),
    ],
)
def test_a_bad_entry_is_an_error_naming_it(text, message):
    with pytest.raises(ExpectedChangesError, match=r"expected_changes\.toml") as err:
        parse(text)
    assert message in str(err.value)


# --- the verdicts ---------------------------------------------------------------------------


def test_an_acknowledged_n_percent_passes_and_three_times_n_fails():
    entries = parse(entry(low=5, high=15))
    inside = acknowledge([verdict(CASE, REGRESSION, 0.10)], entries).verdicts[0]
    assert inside.outcome == EXPECTED
    assert inside.note == "declared: a wider first block"
    beyond = acknowledge([verdict(CASE, REGRESSION, 0.30)], entries).verdicts[0]
    assert beyond.outcome == REGRESSION
    assert beyond.note == "declared +5..+15 %, measured +30.0%"


def test_an_acknowledged_case_that_did_not_change_is_reported_stale():
    result = acknowledge([verdict(CASE, NO_CHANGE, 0.001)], parse(entry()))
    assert result.verdicts[0].outcome == NO_CHANGE
    ((stale_entry, cases),) = result.stale
    assert cases == [CASE]
    assert stale_entry.reason == "a wider first block"


def _repo(tmp_path: Path) -> tuple[Path, str, str, str]:
    """A git repository: c0 without the file, c1 adding an entry, c2 adding nothing."""
    repo = tmp_path / "repo"
    (repo / "benchmarks").mkdir(parents=True)

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    (repo / "README").write_text("x")
    git("add", "-A")
    git("commit", "-qm", "c0")
    c0 = git("rev-parse", "HEAD")
    (repo / RELATIVE).write_text(entry(low=15, high=25))
    git("add", "-A")
    git("commit", "-qm", "c1: a wider first block")
    c1 = git("rev-parse", "HEAD")
    (repo / "README").write_text("y")
    git("commit", "-qam", "c2")
    return repo, c0, c1, git("rev-parse", "HEAD")


def test_only_an_entry_the_head_adds_applies(tmp_path):
    repo, c0, c1, c2 = _repo(tmp_path)
    assert [e.reason for e in active(repo, c0, c1)] == ["a wider first block"]
    assert active(repo, c1, c2) == []  # already at the base: history, acknowledges nothing
    assert active(repo, c1, None) == []  # the working tree holds the same entry
    assert active(repo, None, c1) == []  # no base commit to scope against: nothing applies


def _runs(tmp_path: Path, base_commit: str, head_commit: str, slower: float = 0.2):
    """Two runs of ``write_run`` at the two commits; in the head the standard model cases
    (what the entry names) are ``slower``, the rest unchanged."""

    def stamped(path: Path, commit: str, seed: int) -> Path:
        write_run(path, seed=seed)
        data = json.loads(path.read_text())
        data["commit_info"] = {"id": commit, "dirty": False}
        if commit == head_commit:
            for bench in data["benchmarks"]:
                if bench["name"].startswith("test_model[conv=standard-"):
                    stats = bench["stats"]
                    stats["data"] = [x * (1 + slower) for x in stats["data"]]
                    for k in ("median", "q1", "q3", "iqr"):
                        stats[k] *= 1 + slower
        path.write_text(json.dumps(data))
        return path

    return stamped(tmp_path / "base.json", base_commit, 0), stamped(
        tmp_path / "head.json", head_commit, 7
    )


def test_compare_calls_a_declared_slowdown_expected_but_not_one_declared_at_the_base(
    tmp_path, capsys, monkeypatch
):
    repo, c0, c1, c2 = _repo(tmp_path)
    monkeypatch.chdir(repo)
    floors = calibrated(tmp_path)
    base, head = _runs(tmp_path, c0, c1)  # 20 % slower; c1 declares 15..25 % for standard
    assert main(["compare", str(base), str(head), "--markdown", "--floors", str(floors)]) == 0
    out = capsys.readouterr().out
    assert f"| {CASE} | expected |" in out
    assert f"expected: {CASE} +19.9% (declared: a wider first block)" in out  # seeds differ
    base, head = _runs(tmp_path, c0, c1, slower=0.6)  # 3x the declared: fails
    assert main(["compare", str(base), str(head), "--markdown", "--floors", str(floors)]) == 1
    assert f"| {CASE} | regression |" in capsys.readouterr().out
    base, head = _runs(tmp_path, c1, c2)  # the same slowdown, the entry already at the base
    assert main(["compare", str(base), str(head), "--markdown", "--floors", str(floors)]) == 1
    out = capsys.readouterr().out
    assert f"| {CASE} | regression |" in out
    assert "expected" not in out


def test_bisect_says_the_first_bad_commit_declared_the_change(tmp_path):
    repo, _c0, c1, c2 = _repo(tmp_path)
    assert declared_by(repo, c1, [CASE]) == "+15..+25 %: a wider first block"
    assert declared_by(repo, c2, [CASE]) == ""
    assert declared_by(repo, c1, ["test_norm[norm=batch-bs=1]"]) == ""


def test_ab_applies_the_heads_new_entries_and_reports_stale_ones(tmp_path):
    repo, c0, _c1, _ = _repo(tmp_path)
    result = ABResult(c0, verdicts=[verdict(CASE, REGRESSION, 0.2)])
    acknowledge_and_diff(result, repo, c0)  # the working tree holds c1's entry
    assert result.verdicts[0].outcome == EXPECTED
    result = ABResult(c0, verdicts=[verdict(CASE, NO_CHANGE, 0.0)])
    acknowledge_and_diff(result, repo, c0)
    assert "the entry may be stale" in result.stale[0]
    assert "the entry may be stale" in ab_markdown(result, 1.0)
    result = ABResult(c0, verdicts=[verdict(CASE, REGRESSION, 0.2)])
    acknowledge_and_diff(result, repo, None)  # bisect's steps: nothing acknowledged
    assert result.verdicts[0].outcome == REGRESSION


# --- the environment diff -------------------------------------------------------------------


def info(**changes) -> dict:
    unet = {**HW, "environment": {"cpu_governor": "performance"}, **changes}
    return {"unet_bench": unet}


def test_the_diff_lists_torch_a_tf32_flag_threads_and_variables():
    a = info(numerics={"tf32_conv": "on"})
    b = info(
        torch="2.14.0",
        threads="4",
        numerics={"tf32_conv": "off"},
        environment={"cpu_governor": "performance", "env:OMP_NUM_THREADS": "4"},
    )
    assert environment_diff(a, b) == [
        ("env:OMP_NUM_THREADS", "unset", "4"),
        ("numerics:tf32_conv", "on", "off"),
        ("threads", "2", "4"),
        ("torch", "2.13.0", "2.14.0"),
    ]
    assert environment_diff(a, a) == []
    old = {"unet_bench": dict(HW)}  # a run from before the environment was recorded
    assert environment_diff(old, b) == [("threads", "2", "4"), ("torch", "2.13.0", "2.14.0")]


def test_a_change_verdict_says_the_environments_differ_next_to_its_outcome():
    diff = [("torch", "2.13.0", "2.14.0")]
    changed, same = with_environment(
        [verdict(CASE, REGRESSION, 0.2), verdict("other", NO_CHANGE, 0.0)], diff
    )
    assert changed.note == "environments differ: torch 2.13.0 → 2.14.0"
    assert same.note == ""


def _with_env(path: Path, **changes) -> Path:
    data = json.loads(path.read_text())
    data["machine_info"] = info(**changes)
    path.write_text(json.dumps(data))
    return path


def test_compare_lists_an_environment_change_in_one_of_the_runs(tmp_path, capsys):
    a = _with_env(write_run(tmp_path / "a.json"), numerics={"tf32_conv": "on"})
    b = _with_env(write_run(tmp_path / "b.json", seed=3), numerics={"tf32_conv": "off"})
    main(["compare", str(a), str(b), "--markdown", "--allow-other-hardware"])
    out = capsys.readouterr().out
    assert "**Environment differs**" in out
    assert "- numerics:tf32_conv: on → off" in out
    old = write_run(tmp_path / "old.json")  # before runs recorded flags: nothing to compare
    main(["compare", str(old), str(b), "--markdown", "--allow-other-hardware"])
    assert "Environment: the same in both runs." in capsys.readouterr().out
    c = _with_env(write_run(tmp_path / "c.json", seed=3), threads="4")
    main(["compare", str(a), str(c), "--markdown", "--allow-other-hardware"])
    assert "- threads: 2 → 4" in capsys.readouterr().out


def test_the_ab_summary_lists_what_differs_between_the_sides(tmp_path):
    base = load_run(_with_env(write_run(tmp_path / "a.json")))
    head = load_run(_with_env(write_run(tmp_path / "b.json"), torch="2.14.0"))
    result = ABResult("main", base=base, head=head, verdicts=[verdict(CASE, REGRESSION, 0.2)])
    acknowledge_and_diff(result, tmp_path, None)
    text = ab_markdown(result, 1.0)
    assert "- torch: 2.13.0 → 2.14.0" in text
    assert "environments differ: torch 2.13.0 → 2.14.0" in text  # the regression's note


def test_the_history_page_marks_the_commit_where_the_environment_changed(tmp_path):
    from unet.bench.history.build import run as build_history

    files = []
    for i, torch_version in enumerate(["2.13.0", "2.13.0", "2.14.0"]):
        path = _with_env(write_run(tmp_path / f"r{i}.json", seed=i), torch=torch_version)
        data = json.loads(path.read_text())
        data["commit_info"] = {"id": "abc"[i] * 40, "time": f"2026-12-0{i + 1}T00:00:00"}
        data["datetime"] = f"2026-12-0{i + 1}T01:00:00"
        path.write_text(json.dumps(data))
        files.append(path)
    written = build_history(files, HW["key"], tmp_path / "out")
    page = written[0].read_text()
    assert "<h2>Environment changes</h2>" in page
    assert "<tr><td><code>ccccccc</code></td><td>torch 2.13.0 → 2.14.0</td></tr>" in page
    assert "<td><code>bbbbbbb</code></td>" not in page  # nothing changed there
    assert "env: torch" in page  # the chart's marker
    assert "Environment changed at `ccccccc`: torch 2.13.0 → 2.14.0" in written[1].read_text()


def test_the_history_gives_the_reason_beside_the_step_it_explains(tmp_path):
    from unet.bench.history.findings import LATENCY, Finding, with_declared
    from unet.bench.history.series import Commit
    from unet.bench.history.steps import STEP, Change

    repo, c0, c1, c2 = _repo(tmp_path)
    commits = {c: Commit(c, False, "", "") for c in (c0, c1, c2)}

    def step(start: str, end: str, change: float, case: str = CASE) -> Finding:
        size = Change(STEP, 0, 1, 0.010, 0.010 * (1 + change), change)
        return Finding(case, "g", LATENCY, size, commits[start], commits[end])

    explained, later, faster, other = with_declared(
        [step(c0, c1, 0.2), step(c1, c2, 0.2), step(c0, c1, -0.2), step(c0, c1, 0.2, "x")], repo
    )
    assert explained.declared == "a wider first block"  # c1 added it, for this case, slower
    assert later.declared == ""  # the entry was already at c1
    assert faster.declared == ""  # declared slower, not faster
    assert other.declared == ""
    assert explained.to_dict()["declared"] == "a wider first block"


def test_compare_lists_a_new_torch_in_one_of_the_runs(tmp_path, capsys):
    a = _with_env(write_run(tmp_path / "a.json"))
    b = _with_env(write_run(tmp_path / "b.json", seed=3), torch="2.14.0")
    main(["compare", str(a), str(b), "--markdown", "--allow-other-hardware"])
    assert "- torch: 2.13.0 → 2.14.0" in capsys.readouterr().out
