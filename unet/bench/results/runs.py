"""Reading pytest-benchmark run files: the hardware and, per case, its record (``record``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from unet.bench.results.manifest import cost_changes
from unet.bench.results.record import CaseRecord, merge_entry
from unet.bench.results.storage import unreadable
from unet.bench.stats.verdict import Verdict, demote


class RunError(ValueError):
    """A run file that cannot be used; the message says which and why."""


@dataclass
class Run:
    path: Path | None
    machine_info: dict = field(default_factory=dict)
    cases: dict[str, dict] = field(default_factory=dict)  # test name -> pytest-benchmark entry
    commit: str | None = None  # the commit it measured (pytest-benchmark's commit_info)
    dirty: bool = False  # the tree had uncommitted changes: the commit is not what ran

    @property
    def hardware(self) -> dict[str, str]:
        return self.machine_info.get("unet_bench", {})

    @property
    def key(self) -> str | None:
        """The hardware key it was stored under (axes included); None for runs without one."""
        return self.hardware.get("key")

    @property
    def tier(self) -> str | None:
        """quick or full (``results.floors``); None for runs saved before runs recorded it."""
        return self.hardware.get("tier")

    def case(self, name: str) -> CaseRecord:
        """The record of case ``name`` (KeyError when the run has none)."""
        return CaseRecord.from_entry(self.cases[name])

    def samples(self, case: str) -> list[float]:
        return list(self.case(case).timing.samples)


def run_from_json(data: dict, path: Path | None = None) -> Run:
    """A run from the JSON object pytest-benchmark saved (``path``: where it came from)."""
    return Run(
        path=path,
        machine_info=data.get("machine_info", {}),
        cases={b["name"]: b for b in data["benchmarks"]},
        commit=(data.get("commit_info") or {}).get("id"),
        dirty=bool((data.get("commit_info") or {}).get("dirty")),
    )


def load_run(path: Path) -> Run:
    why = unreadable(path)
    if why:
        raise RunError(f"cannot use {path}: {why}")
    return run_from_json(json.loads(path.read_text()), path)


def require_samples(run: Run) -> None:
    """Noise-aware comparison needs every round's time, which pytest-benchmark keeps only with
    --benchmark-save-data (unet-bench run passes it) or in --benchmark-json files."""
    missing = [c for c in run.cases if not run.samples(c)]
    if missing:
        raise RunError(
            f"{run.path} has no per-round samples for {len(missing)} cases (e.g. {missing[0]}); "
            "record runs with --benchmark-save-data (unet-bench run does) or --benchmark-json"
        )


def merge_runs(runs: list[Run]) -> Run:
    """One run whose samples are the concatenation of ``runs``' samples (A/B: each process's
    run of one side)."""
    merged = Run(path=None, machine_info=runs[0].machine_info if runs else {})
    for run in runs:
        for name, entry in run.cases.items():
            if name not in merged.cases:
                merged.cases[name] = json.loads(json.dumps(entry))  # deep copy
            else:
                merge_entry(merged.cases[name], entry)
    return merged


def cost_changes_between(base: Run, head: Run) -> list[tuple[str, str, object, object]]:
    """(case, field, old, new) for each cost field that differs in a case both runs counted."""
    changes = []
    for name in sorted(set(base.cases) & set(head.cases)):
        old, new = base.case(name), head.case(name)
        if old.counted and new.counted:
            on = new.counters.counted_on
            changes += [(name, *c) for c in cost_changes(old.cost_entry(), new.cost_entry(), on)]
    return changes


def demote_throttled(verdicts: Sequence[Verdict], base: Run, head: Run) -> list[Verdict]:
    """A throttled GPU fakes a change: a verdict on a case that ran throttled on either side is
    ``unsure``, with the reason."""
    return [
        demote(
            v,
            base.case(v.case).throttled,
            head.case(v.case).throttled,
        )
        for v in verdicts
    ]
