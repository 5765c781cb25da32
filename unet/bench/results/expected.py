"""Acknowledged changes: a change that makes cases slower (or faster) on purpose says so in
``benchmarks/expected_changes.toml``, and the gate then calls a change inside the declared range
``expected`` instead of failing.

    [[change]]
    cases = "test_model[conv=standard-*"  # fnmatch pattern(s) on case names
    direction = "slower"                  # or "faster"
    min_percent = 5                       # the declared size of the change, both inclusive
    max_percent = 15
    reason = "a wider first block for accuracy (#123)"

Scope by the diff: only the entries the head adds (absent from the file at the base) apply to a
comparison; entries already at the base are history and acknowledge nothing, so an old entry can
never hide a later regression. A change outside the declared range, or in the other direction,
keeps its verdict (a declared +10 % that measures +40 % still fails); an acknowledged case that
did not change is reported, since the entry may be stale. Cost changes keep their own
acknowledgement: the manifest updated in the same change.
"""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path

from unet.bench.errors import UsageError
from unet.bench.results.runs import Run
from unet.bench.results.storage import BENCHMARKS_DIR
from unet.bench.stats.verdict import IMPROVEMENT, NO_CHANGE, REGRESSION, UNSURE, Verdict

DEFAULT_PATH = BENCHMARKS_DIR / "expected_changes.toml"
RELATIVE = "benchmarks/expected_changes.toml"  # where it is in every revision
EXPECTED = "expected"  # the outcome of a change inside its declared range
DIRECTIONS = ("slower", "faster")
FIELDS = {"cases", "direction", "min_percent", "max_percent", "reason"}


class ExpectedChangesError(UsageError):
    """The file is not valid: exit 4, naming the entry and the field."""


@dataclass(frozen=True)
class ExpectedChange:
    cases: tuple[str, ...]  # fnmatch patterns
    direction: str  # slower or faster
    min_percent: float
    max_percent: float
    reason: str

    def matches(self, case: str) -> bool:
        return any(fnmatchcase(case, pattern) for pattern in self.cases)

    def covers(self, change: float) -> bool:
        """Whether a relative change (head / base - 1) is the declared one."""
        signed = change * 100 if self.direction == "slower" else -change * 100
        return self.min_percent <= signed <= self.max_percent

    @property
    def declared(self) -> str:
        sign = "+" if self.direction == "slower" else "-"
        return f"{sign}{self.min_percent:g}..{sign}{self.max_percent:g} %"


def parse(text: str, source: str = RELATIVE) -> list[ExpectedChange]:
    """The entries of one version of the file; a bad one is an error naming it."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ExpectedChangesError(f"{source}: not valid TOML: {err}") from None
    entries = data.get("change", [])
    if not isinstance(entries, list):
        raise ExpectedChangesError(f"{source}: 'change' must be an array of tables ([[change]])")
    return [_entry(e, i, source) for i, e in enumerate(entries, 1)]


def _entry(raw: object, i: int, source: str) -> ExpectedChange:
    where = f"{source}: change {i}"
    if not isinstance(raw, dict):
        raise ExpectedChangesError(f"{where}: expected a table")
    if missing := sorted(FIELDS - set(raw)):
        raise ExpectedChangesError(f"{where}: missing {', '.join(missing)}")
    if unknown := sorted(set(raw) - FIELDS):
        raise ExpectedChangesError(
            f"{where}: unknown field {', '.join(unknown)}; valid: {', '.join(sorted(FIELDS))}"
        )
    cases = raw["cases"] if isinstance(raw["cases"], list) else [raw["cases"]]
    if not cases or not all(isinstance(c, str) and c for c in cases):
        raise ExpectedChangesError(f"{where}: cases must be a pattern or a list of patterns")
    if raw["direction"] not in DIRECTIONS:
        raise ExpectedChangesError(
            f"{where}: direction {raw['direction']!r}; valid: {', '.join(DIRECTIONS)}"
        )
    low, high = raw["min_percent"], raw["max_percent"]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not 0 <= low <= high:
        raise ExpectedChangesError(
            f"{where}: min_percent {low!r} and max_percent {high!r} must be numbers with "
            "0 <= min_percent <= max_percent"
        )
    if not isinstance(raw["reason"], str) or not raw["reason"].strip():
        raise ExpectedChangesError(f"{where}: reason must say why")
    return ExpectedChange(tuple(cases), raw["direction"], float(low), float(high), raw["reason"])


def added(base: Sequence[ExpectedChange], head: Sequence[ExpectedChange]) -> list[ExpectedChange]:
    """The head's entries that the base does not have: the only ones that apply."""
    return [e for e in head if e not in base]


def file_at(repo: Path, revision: str | None) -> str:
    """The file's text at ``revision`` ("" where the revision has none); None: the working
    tree's."""
    if revision is None:
        path = repo / RELATIVE
        return path.read_text() if path.exists() else ""
    proc = subprocess.run(
        ["git", "-C", str(repo), "show", f"{revision}:{RELATIVE}"],
        capture_output=True,
        text=True,
    )
    return proc.stdout if proc.returncode == 0 else ""


def run_commit(run: Run, repo: Path) -> tuple[str | None, str]:
    """The commit a saved run measured, where this repository has it and the tree was clean
    (what a paired A/B can check out, and what an acknowledgement is scoped against); else
    None and why not."""
    if not run.commit or run.commit == "unversioned":
        return None, "the run records no commit"
    if run.dirty:
        return None, f"the run measured a tree with uncommitted changes ({run.commit[:9]})"
    found = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "-e", f"{run.commit}^{{commit}}"],
        capture_output=True,
    )
    if found.returncode:
        return None, f"this repository does not have the run's commit {run.commit[:9]}"
    return run.commit, ""


def active(repo: Path, base_revision: str | None, head_revision: str | None = None):
    """The entries that apply to a comparison of ``head_revision`` (None: the working tree)
    against ``base_revision``; with no known base revision, none (an entry cannot be scoped)."""
    if base_revision is None:
        return []
    base = parse(file_at(repo, base_revision), f"{RELATIVE} at {base_revision[:12]}")
    head = parse(file_at(repo, head_revision), RELATIVE)
    return added(base, head)


@dataclass(frozen=True)
class Acknowledged:
    verdicts: list[Verdict]  # with ``expected`` where a change was declared and measured so
    stale: list[tuple[ExpectedChange, list[str]]]  # entries whose cases did not change


def acknowledge(verdicts: Sequence[Verdict], entries: Sequence[ExpectedChange]) -> Acknowledged:
    """Each verdict against the entries that apply: a confirmed change inside a matching
    entry's range becomes ``expected``; outside it, it stands, with the declaration noted."""
    out, unchanged = [], {i: [] for i in range(len(entries))}
    for v in verdicts:
        matching = [(i, e) for i, e in enumerate(entries) if e.matches(v.case)]
        if not matching:
            out.append(v)
            continue
        if v.outcome in (NO_CHANGE, UNSURE):
            for i, _ in matching:
                unchanged[i].append(v.case)
            out.append(v)
            continue
        if v.outcome not in (REGRESSION, IMPROVEMENT):
            out.append(v)
            continue
        fits = next((e for _, e in matching if e.covers(v.change)), None)
        if fits is not None:
            out.append(replace(v, outcome=EXPECTED, note=_join(v.note, f"declared: {fits.reason}")))
        else:
            declared = ", ".join(e.declared for _, e in matching)
            note = f"declared {declared}, measured {v.change:+.1%}"
            out.append(replace(v, note=_join(v.note, note)))
    stale = [(entries[i], cases) for i, cases in unchanged.items() if cases]
    return Acknowledged(out, stale)


def stale_lines(stale: Sequence[tuple[ExpectedChange, list[str]]]) -> list[str]:
    return [
        f"acknowledged but not changed ({e.declared}, {e.reason}): {', '.join(cases)}; "
        "the entry may be stale"
        for e, cases in stale
    ]


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)
