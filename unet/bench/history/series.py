"""The saved runs of one hardware key as per-case series: one point per commit, in commit order.

Runs come from pytest-benchmark files: the local storage, or any folder of files downloaded from
CI (searched recursively). Files of other hardware keys, and files that are not run files, are
skipped with a note. Runs of the same commit are pooled: their rounds together give the point's
median and its 95 % CI (order statistics). A run from a dirty tree is its own point ("+dirty"):
it measured code no commit holds. Commits are ordered by commit time, then by when they ran.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from unet.bench.errors import UsageError
from unet.bench.results.environment import environment_diff
from unet.bench.results.runs import run_from_json
from unet.bench.results.storage import unreadable
from unet.bench.stats.verdict import median_ci

UNVERSIONED = "unversioned"


@dataclass(frozen=True)
class Commit:
    id: str  # full commit id, or "unversioned"
    dirty: bool
    time: str  # commit time (ISO), as pytest-benchmark recorded it
    ran: str  # when its first run ran (ISO)
    branch: str = ""
    machine_info: dict = field(default_factory=dict, compare=False, hash=False)  # its first run's

    @property
    def label(self) -> str:
        short = self.id[:7] if self.id != UNVERSIONED else self.id
        return short + ("+dirty" if self.dirty else "")


@dataclass
class Point:
    commit: Commit
    runs: int  # runs pooled in it
    median: float  # seconds
    ci: tuple[float, float] | None  # 95 % CI of the median; None without raw samples
    exact: dict[str, float]  # EXACT_FIELDS the runs recorded

    @property
    def rel_ci_halfwidth(self) -> float:
        return (self.ci[1] - self.ci[0]) / (2 * self.median) if self.ci and self.median else 0.0


@dataclass
class CaseSeries:
    case: str
    group: str
    points: list[Point] = field(default_factory=list)


@dataclass
class History:
    key: str
    commits: list[Commit]
    cases: dict[str, CaseSeries]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)

    def environment_changes(self) -> list[tuple[int, list[tuple[str, str, str]]]]:
        """(index of the commit, what differs from the commit before it) wherever the runs'
        environments changed: a step there may be the environment's, not the code's."""
        out = []
        for i in range(1, len(self.commits)):
            before, after = self.commits[i - 1].machine_info, self.commits[i].machine_info
            if diff := environment_diff(before, after):
                out.append((i, diff))
        return out

    def groups(self) -> dict[str, list[CaseSeries]]:
        out: dict[str, list[CaseSeries]] = {}
        for series in self.cases.values():
            out.setdefault(series.group, []).append(series)
        return dict(sorted(out.items()))


class HistoryError(UsageError, ValueError):
    """No usable run of the asked key; the message says what was found instead."""


def run_files(sources: Iterable[Path]) -> list[Path]:
    """The JSON files of ``sources``: files as given, folders searched recursively."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files += sorted(source.rglob("*.json"))
        elif source.is_file():
            files.append(source)
        else:
            raise HistoryError(f"{source}: no such file or folder")
    return files


def load_history(files: Iterable[Path], key: str) -> History:
    """The runs of hardware ``key`` among ``files`` as per-case series."""
    by_commit: dict[tuple[str, bool], list] = {}
    skipped: list[tuple[Path, str]] = []
    keys_seen: dict[str, int] = {}
    seen: dict[tuple[str, str], Path] = {}  # (commit, when it ran) -> the file read
    for path in files:
        why = unreadable(path)
        if why:
            skipped.append((path, why))
            continue
        data = json.loads(path.read_text())
        run = run_from_json(data, path)
        run_key = run.hardware.get("key", "?")
        keys_seen[run_key] = keys_seen.get(run_key, 0) + 1
        if run_key != key:
            skipped.append((path, f"hardware key {run_key}"))
            continue
        info, ran = data.get("commit_info") or {}, str(data.get("datetime", ""))
        commit_id = info.get("id") or UNVERSIONED
        if (commit_id, ran) in seen:  # a copy (a committed baseline is a copy of a local run)
            skipped.append((path, f"the same run as {seen[commit_id, ran]}"))
            continue
        seen[commit_id, ran] = path
        slot = (commit_id, bool(info.get("dirty")))
        by_commit.setdefault(slot, []).append((run, info, ran))
    if not by_commit:
        found = ", ".join(f"{k} ({n} runs)" for k, n in sorted(keys_seen.items())) or "none"
        raise HistoryError(f"no run of hardware key {key}; keys found: {found}")
    commits = {
        slot: Commit(
            id=slot[0],
            dirty=slot[1],
            time=str(runs[0][1].get("time", "")),
            ran=min(r[2] for r in runs),
            branch=str(runs[0][1].get("branch") or ""),
            machine_info=runs[0][0].machine_info,
        )
        for slot, runs in by_commit.items()
    }
    order = sorted(commits, key=lambda s: (commits[s].time, commits[s].ran))
    history = History(key=key, commits=[commits[s] for s in order], cases={}, skipped=skipped)
    for slot in order:
        _add_points(history, commits[slot], [r[0] for r in by_commit[slot]])
    return history


def _add_points(history: History, commit: Commit, runs: list) -> None:
    names = sorted({name for run in runs for name in run.cases})
    for name in names:
        records = [run.case(name) for run in runs if name in run.cases]
        samples = [x for r in records for x in r.timing.samples]
        if samples:
            median, ci = float(np.median(samples)), median_ci(samples)
        else:  # saved without raw samples: the runs' medians, no CI
            median, ci = float(np.median([r.median_s for r in records])), None
        series = history.cases.setdefault(name, CaseSeries(name, records[0].group or name))
        series.points.append(Point(commit, len(records), median, ci, records[0].exact()))
