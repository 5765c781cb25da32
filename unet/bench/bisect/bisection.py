"""A bisection from start to end: the revision range and case checks, the A/B of the ends,
then the exact cost pass and the timed search (``unet-bench bisect`` runs it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from unet.bench.ab.git import git, resolve_revision, toplevel
from unet.bench.ab.result import ABResult
from unet.bench.ab.settings import ABSettings, ABUsageError
from unet.bench.bisect.measure import Measurer, cost_lines
from unet.bench.bisect.report import Bisection, Found
from unet.bench.bisect.search import (
    BAD,
    Evidence,
    Slowdown,
    decide_cost,
    decide_time,
    first_bad,
    verdict_line,
)
from unet.bench.invoke import collected, resolve_case
from unet.bench.results.expected import ExpectedChangesError, active
from unet.bench.stats.verdict import Verdict, failed


def commit_range(repo: Path, good_rev: str, bad_rev: str) -> list[str]:
    """good, the first-parent commits after it, bad; ABUsageError when that is no range."""
    good, bad = resolve_revision(repo, good_rev, "--good"), resolve_revision(repo, bad_rev, "--bad")
    if good == bad:
        raise ABUsageError(f"--good {good_rev!r} and --bad {bad_rev!r} are the same commit")
    ancestor = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", good, bad])
    if ancestor.returncode:
        raise ABUsageError(
            f"--good {good_rev!r} is not an ancestor of --bad {bad_rev!r}: bisect looks for "
            "the first bad commit after a good one (were the two swapped?)"
        )
    between = git(
        repo, "rev-list", "--reverse", "--first-parent", "--ancestry-path", f"{good}..{bad}"
    ).split()
    return [good, *between] if between and between[-1] == bad else [good, bad]


def check_cases(repo: Path, settings: ABSettings, refs: list) -> None:
    """ABUsageError naming the ``--case``s that the suite (as in the working tree) does not
    collect, before anything is measured."""
    ids = collected(
        repo, device=settings.device, quick=settings.quick, options=settings.pytest_args
    )
    missing = [r.name for r in refs if r.node_id not in ids]
    if missing:
        names = ", ".join(repr(n) for n in missing)
        raise ABUsageError(
            f"--case {names}: not a case of this suite{' (quick tier)' if settings.quick else ''}"
            "; `pytest benchmarks --collect-only -q` lists them, e.g. "
            "'test_model[conv=standard-norm=batch-up=interpolate-bs=1]'"
        )


def subject(repo: Path, commit: str) -> str:
    return git(repo, "log", "-1", "--format=%s", commit)


def run(settings: ABSettings, good_rev: str, bad_rev: str, case_names: list[str]) -> Bisection:
    """Bisect the commits from ``good_rev`` to ``bad_rev`` (``settings.out``: where each step's
    files go). Cost changes first, exactly; then slowdowns."""
    repo = toplevel(settings.repo)
    commits = commit_range(repo, good_rev, bad_rev)
    refs = [resolve_case(repo, name) for name in case_names]
    node_ids = [r.node_id for r in refs]
    sizes = sorted({o for r in refs for o in r.options[1:]}, key=int)
    if sizes:  # the named cases exist only under their batch sizes
        settings.pytest_args = [*settings.pytest_args, "--batch-sizes", ",".join(sizes)]
    if refs:
        check_cases(repo, settings, refs)
    b = Bisection(commits[0], commits[-1], commits)
    measurer = Measurer(repo, b.good, settings)
    subjects = {c: subject(repo, c) for c in commits}
    settings.say(f"{len(commits) - 2} commit(s) between good {b.good[:7]} and bad {b.bad[:7]}")
    ends = measurer.ab(b.bad, settings.blocks, node_ids)
    names = {r.name for r in refs}
    slower = [v for v in failed(ends.verdicts) if not names or v.case in names]
    changed = sorted({c for c, *_ in ends.cost_changes if not names or c in names})
    lines = [verdict_line(v) for v in ends.verdicts]
    lines += cost_lines(ends.base, ends.head, changed) if ends.base and ends.head else []
    decision = BAD if slower or changed else "no regression"
    b.evidence.append(Evidence(b.bad, subjects[b.bad], "ends", decision, lines, settings.blocks))
    if changed:  # exact, so first: one pass per step
        b.found.append(bisect_costs(b, measurer, ends, changed, subjects))
    if slower:
        b.found.append(bisect_time(b, measurer, ends, slower, subjects))
    return b


def bisect_costs(
    b: Bisection, measurer: Measurer, ends: ABResult, changed: list[str], subjects: dict[str, str]
) -> Found:
    """The first commit whose exact costs of ``changed`` differ from good's."""
    ids = [ends.head.cases[c]["fullname"] for c in changed]

    def cost_changed(commit: str) -> list[str]:
        return cost_lines(ends.base, measurer.costs(commit, ids), changed)

    step = lambda c: decide_cost(c, subjects[c], cost_changed, b.evidence)  # noqa: E731
    first = b.commits[first_bad(b.commits, step)]
    return Found("cost", first, subjects[first], changed)


def bisect_time(
    b: Bisection,
    measurer: Measurer,
    ends: ABResult,
    slower: list[Verdict],
    subjects: dict[str, str],
) -> Found:
    """The first commit at which any of the ``slower`` cases is slower than good."""
    cases = [v.case for v in slower]
    ids = [ends.head.cases[c]["fullname"] for c in cases]
    slowdown = Slowdown(cases, max(v.change for v in slower))
    blocks = measurer.settings.blocks

    def measure(commit: str, n: int) -> list[Verdict]:
        return measurer.ab(commit, n, ids).verdicts

    def step(commit: str) -> bool:
        return decide_time(commit, subjects[commit], slowdown, measure, blocks, b.evidence)

    first = b.commits[first_bad(b.commits, step)]
    return Found("slower", first, subjects[first], cases, declared_by(measurer.repo, first, cases))


def declared_by(repo: Path, commit: str, cases: list[str]) -> str:
    """What ``commit`` said, in the acknowledged changes it added, about making ``cases``
    slower; "" where it added none for them."""
    try:
        entries = active(repo, f"{commit}^", commit)
    except ExpectedChangesError as err:
        return f"(its benchmarks/expected_changes.toml is not valid: {err})"
    said = [
        f"{e.declared}: {e.reason}"
        for e in entries
        if e.direction == "slower" and any(e.matches(c) for c in cases)
    ]
    return "; ".join(said)
