"""The suite's two gates: the exact cost gate (every case against the committed cost manifest and
the compared run) and the noise-aware ``--verdict`` (decide, re-measure suspects, confirm)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from unet.bench.measure.kept import KeptCase
from unet.bench.measure.timing import rerun_samples
from unet.bench.results.manifest import (
    cost_changes,
    lacks_counters,
    merged_entry,
    shown,
    update_command,
    write_manifest,
)
from unet.bench.results.record import CaseRecord
from unet.bench.results.runs import Run
from unet.bench.stats.verdict import (
    REGRESSION,
    Thresholds,
    Verdict,
    compare_samples,
    demote,
    judge_and_confirm,
)


@dataclass(frozen=True)
class ComparedRun:
    """A saved run that --benchmark-compare loaded, with the label its messages use."""

    label: str  # the file name, e.g. 0001_unversioned_20261129_140501.json
    run: Run

    def record(self, nodeid: str) -> CaseRecord | None:
        """The saved record of the case with node id ``nodeid``, if the run has it."""
        name = next((n for n, c in self.run.cases.items() if c.get("fullname") == nodeid), None)
        return self.run.case(name) if name is not None else None


@dataclass
class CostGate:
    manifest_path: Path
    manifest: dict[str, dict[str, object]]  # case name -> cost entry
    update: bool  # --update-cost-manifest: record the changes instead of failing on them
    costs: dict[str, dict[str, object]] = field(default_factory=dict)  # this run's, by case
    counted_on: str | None = None  # what this run's counters were counted on
    changes: list[tuple[str, str, object, object]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # cases the manifest does not know
    uncounted: list[str] = field(default_factory=list)  # known, but no counters for this run's

    def check(self, record: CaseRecord, compared: list[ComparedRun]) -> None:
        """Fail the running case when its costs differ from the manifest's or a compared
        run's, or when the manifest lacks it (unless this run updates the manifest)."""
        name, on = record.name, record.counters.counted_on
        self.costs[name], self.counted_on = record.cost_entry(), on
        references = []
        if name in self.manifest:
            references.append(("cost manifest", self.manifest[name]))
            if lacks_counters(self.manifest[name], on):
                self.uncounted.append(name)
        else:
            self.missing.append(name)
        for run in compared:
            saved = run.record(record.fullname)
            if saved is not None:
                references.append((run.label, saved.cost_entry()))
        failures = []
        for source, old in references:
            for f, before, after in cost_changes(old, self.costs[name], on):
                self.changes.append((name, f, before, after))
                failures.append(f"{f}: {shown(f, before)} -> {shown(f, after)} (vs {source})")
        if self.update:
            return
        if failures:
            reasons = record.compile.graph_break_reasons or ()
            breaks = "".join(f"\n  graph break: {r}" for r in reasons)
            pytest.fail(f"{name}: cost changed: " + "; ".join(failures) + breaks, False)
        if name not in self.manifest:
            pytest.fail(f"{name}: not in the cost manifest {self.manifest_path}", False)

    def finish(self) -> None:
        if self.update and self.costs:
            entries = {n: merged_entry(self.manifest.get(n), e) for n, e in self.costs.items()}
            write_manifest(self.manifest_path, {**self.manifest, **entries})

    def uncounted_message(self) -> str:
        return (
            f"unet-bench: the cost manifest has no exact counters for {self.counted_on} in "
            f"{len(self.uncounted)} cases; they were checked against compared runs only. "
            f"Record them with: {update_command(self.manifest_path)}"
        )

    def missing_message(self) -> str:
        names = "\n".join(f"  {name}" for name in self.missing)
        return (
            f"unet-bench: {len(self.missing)} cases are not in the cost manifest "
            f"{self.manifest_path}:\n{names}\nAdd them (after checking their costs) with: "
            f"{update_command(self.manifest_path)}"
        )


@dataclass
class VerdictGate:
    """--verdict: each case judged against the compared run as soon as it is timed; only the
    suspects keep their timed call (and with it their model) for the confirm-by-rerun at the end
    of the rounds."""

    min_effect: float
    floors: dict[str, float]  # case -> scatter of its medians over this hardware's saved runs
    warmup_s: float  # before re-measuring a suspect
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # cases that could not be judged, and why
    reruns: list[str] = field(default_factory=list)
    first: dict[str, Verdict | None] = field(default_factory=dict)  # case -> first judgement
    suspects: dict[str, KeptCase] = field(default_factory=dict)  # kept to be measured again
    throttles: dict[str, list[str]] = field(default_factory=dict)  # case -> head's reasons

    def thresholds(self, name: str) -> Thresholds:
        return Thresholds(self.min_effect, self.floors.get(name, 0.0))

    def keep(self, name: str, case: KeptCase, compared: list[ComparedRun]) -> None:
        """Judge a case just timed; keep it only when it is a suspected regression."""
        saved = _saved(compared).get(name)
        self.throttles[name] = case.throttled
        if saved is None:
            self.notes.append(f"{name}: not in the compared run")
        elif not saved.samples(name):
            self.notes.append(
                f"{name}: the compared run has no raw samples; save runs with "
                "--benchmark-save-data (unet-bench run does)"
            )
        else:
            base = saved.samples(name)
            verdict = compare_samples(name, base, case.samples, thresholds=self.thresholds(name))
            self.first[name] = verdict
            if verdict.outcome == REGRESSION:
                self.suspects[name] = case

    def decide(self, compared: list[ComparedRun]) -> None:
        """The verdicts: the suspects measured again (in the grad mode they were timed in),
        then confirmed or not."""
        saved = _saved(compared)

        def remeasure(suspects: list[str]):
            again = {}
            for name in suspects:
                case = self.suspects.pop(name)
                with case.on_device(), case.grad_mode():
                    again[name] = rerun_samples(
                        case.timed, len(case.samples), case.iterations, self.warmup_s
                    )
            return lambda name: compare_samples(
                name, saved[name].samples(name), again[name], thresholds=self.thresholds(name)
            )

        judged = [name for name, v in self.first.items() if v is not None]
        self.verdicts, self.reruns = judge_and_confirm(judged, self.first.get, remeasure)
        # a throttled GPU fakes a change: such a verdict is unsure, with the reason
        self.verdicts = [
            demote(v, saved[v.case].case(v.case).throttled, self.throttles.get(v.case, []))
            for v in self.verdicts
        ]


def _saved(compared: list[ComparedRun]) -> dict[str, Run]:
    """Case name -> the compared run that holds it."""
    return {name: run.run for run in compared for name in run.run.cases}
