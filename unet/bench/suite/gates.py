"""The suite's two gates: the exact cost gate (every case against the committed cost manifest and
the compared run) and the noise-aware ``--verdict`` (judge, confirm suspects by a paired A/B or
against the calibrated floor, else unsure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from unet.bench.measure.kept import KeptCase
from unet.bench.measure.timing import rerun_samples
from unet.bench.results.axes import cost_key
from unet.bench.results.environment import environment_diff, with_environment
from unet.bench.results.expected import ExpectedChange, acknowledge
from unet.bench.results.floors import Calibration
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
from unet.bench.stats.floors import Floor, judge_between_runs
from unet.bench.stats.verdict import (
    IMPROVEMENT,
    REGRESSION,
    UNSURE,
    Thresholds,
    Verdict,
    compare_samples,
    confirm,
    demote,
)
from unet.bench.suite.paired import PairedError


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
        key = cost_key(name)  # a cold case has the warm case's costs
        self.costs[key], self.counted_on = record.cost_entry(), on
        references = []
        if key in self.manifest:
            references.append(("cost manifest", self.manifest[key]))
            if lacks_counters(self.manifest[key], on):
                self.uncounted.append(name)
        else:
            self.missing.append(name)
        for run in compared:
            saved = run.record(record.fullname)
            if saved is not None:
                references.append((run.label, saved.cost_entry()))
        failures = []
        for source, old in references:
            for f, before, after in cost_changes(old, self.costs[key], on):
                self.changes.append((name, f, before, after))
                failures.append(f"{f}: {shown(f, before)} -> {shown(f, after)} (vs {source})")
        if self.update:
            return
        if failures:
            reasons = record.compile.graph_break_reasons or ()
            breaks = "".join(f"\n  graph break: {r}" for r in reasons)
            pytest.fail(f"{name}: cost changed: " + "; ".join(failures) + breaks, False)
        if key not in self.manifest:
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


# confirm(commit, node ids) -> case -> the paired A/B's verdict (raises PairedError)
PairedConfirm = Callable[[str, list[str]], dict[str, Verdict]]


@dataclass
class VerdictGate:
    """--verdict, under the rule for verdicts between runs (``stats.floors``): each case judged
    against the compared run as soon as it is timed; a suspected regression is confirmed by a
    paired A/B against the compared run's commit where there is one (``paired``), else by a
    re-measure judged against this hardware's calibrated floor; without either it is unsure.
    Only the suspects keep their timed call (and with it their model) until then."""

    min_effect: float
    calibration: Calibration | None  # this hardware's floors (unet-bench calibrate)
    warmup_s: float  # before re-measuring a suspect
    paired: PairedConfirm | None = None  # None: no paired confirmation (tests, no git)
    base_commit: Callable[[Run], tuple[str | None, str]] = lambda run: (None, "")
    statistic: str = "median"  # --gate-on: the median, or a tail percentile of the rounds
    # the acknowledged changes that apply against a compared run (results.expected)
    expected_for: Callable[[Run], list[ExpectedChange]] = lambda run: []
    here: dict[str, object] = field(default_factory=dict)  # this run's machine_info
    stale: list[tuple[ExpectedChange, list[str]]] = field(default_factory=list)
    environment: list[tuple[str, str, str]] = field(default_factory=list)  # vs a compared run
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # cases that could not be judged, and why
    reruns: list[str] = field(default_factory=list)
    first: dict[str, Verdict] = field(default_factory=dict)  # case -> first judgement
    suspects: dict[str, KeptCase] = field(default_factory=dict)  # kept to be measured again
    node_ids: dict[str, str] = field(default_factory=dict)  # suspect -> its node id
    throttles: dict[str, list[str]] = field(default_factory=dict)  # case -> head's reasons

    def floor(self, name: str, compared: Run) -> Floor | None:
        """``name``'s floor for a verdict against ``compared``: a calibration holds only
        between runs of the tier it was made on (``results.floors``)."""
        c = self.calibration
        return c.floor(name) if c is not None and compared.tier == c.tier else None

    def keep(self, name: str, node_id: str, case: KeptCase, compared: list[ComparedRun]) -> None:
        """Judge a case just timed; keep it only when it is a suspected change."""
        saved = _saved(compared).get(name)
        self.throttles[name] = case.throttled
        if saved is None:
            self.notes.append(f"{name}: not in the compared run")
            return
        base = saved.samples(name)
        if not base:
            self.notes.append(
                f"{name}: the compared run has no raw samples; save runs with "
                "--benchmark-save-data (unet-bench run does)"
            )
            return
        floor = self.floor(name, saved)
        self.first[name] = judge_between_runs(
            name, base, case.samples, self.min_effect, floor, self.statistic
        )
        # a suspect: what the rounds alone, past a stable floor where there is one, call a
        # change; improvements too: a false one hides the next regression behind a faster
        # baseline. An unstable case is a suspect too: a paired A/B can still judge it, only
        # its floor cannot (``_confirm``)
        thresholds = Thresholds(self.min_effect, _floor(floor), self.statistic)
        raw = compare_samples(name, base, case.samples, thresholds=thresholds)
        if raw.outcome in (REGRESSION, IMPROVEMENT):
            self.suspects[name], self.node_ids[name] = case, node_id

    def decide(self, compared: list[ComparedRun]) -> None:
        """The verdicts: the suspects confirmed (paired, or re-measured against the floor) or
        not, then every verdict on a throttled case demoted to unsure."""
        saved = _saved(compared)
        final = dict(self.first)
        by_run: dict[int, list[str]] = {}
        for name in self.suspects:
            by_run.setdefault(id(saved[name]), []).append(name)
        for names in by_run.values():
            final.update(self._confirm(saved[names[0]], names))
        self.suspects.clear()  # their models are no longer needed
        demoted = {
            name: demote(v, saved[name].case(name).throttled, self.throttles.get(name, []))
            for name, v in final.items()
        }
        judged: dict[str, Verdict] = {}
        for run in {id(saved[n]): saved[n] for n in demoted}.values():  # each compared run
            mine = [v for n, v in demoted.items() if saved[n] is run]
            acknowledged = acknowledge(mine, self.expected_for(run))
            self.stale += acknowledged.stale
            diff = environment_diff(run.machine_info, {"unet_bench": self.here})
            self.environment = self.environment or diff
            judged.update((v.case, v) for v in with_environment(acknowledged.verdicts, diff))
        self.verdicts = [judged[name] for name in final]

    def _confirm(self, run: Run, names: list[str]) -> dict[str, Verdict]:
        """The suspects of one compared run: paired where its commit can be checked out,
        else re-measured and judged against the floor (without a floor: the first, unsure)."""
        commit, why = self.base_commit(run)
        if commit is not None and self.paired is not None:
            try:
                found = self.paired(commit, [self.node_ids[n] for n in names])
            except PairedError as err:
                why = str(err)
            else:
                self.reruns += names
                how = f"paired A/B against {commit[:9]}"
                return {
                    n: replace(found[n], note=f"{how}: {found[n].outcome}")
                    if n in found
                    else replace(self.first[n], outcome=UNSURE, note=f"{how}: not measured")
                    for n in names
                }
        floored = [n for n in names if _floor(self.floor(n, run)) > 0]  # stable floors only
        out = {n: _with_reason(self.first[n], why) for n in names if n not in floored}
        if floored:
            out.update(self._remeasure(run, floored))
        return out

    def _remeasure(self, run: Run, names: list[str]) -> dict[str, Verdict]:
        """Suspects judged against a calibrated floor, measured again in this process (in the
        grad mode they were timed in) before they stand."""
        again = {}
        for name in names:
            case = self.suspects[name]
            with case.on_device(), case.grad_mode():
                again[name] = rerun_samples(
                    case.timed, len(case.samples), case.iterations, self.warmup_s, case.setup
                )
        self.reruns += names
        return {
            n: confirm(
                self.first[n],
                judge_between_runs(
                    n,
                    run.samples(n),
                    again[n],
                    self.min_effect,
                    self.floor(n, run),
                    self.statistic,
                ),
            )
            for n in names
        }


def _floor(floor: Floor | None) -> float:
    """The threshold a floor sets: none without one, or when it is too wide to gate on."""
    return floor.floor if floor is not None and not floor.unstable else 0.0


def _with_reason(verdict: Verdict, why: str) -> Verdict:
    """An unconfirmed suspect's verdict, saying why no paired A/B confirmed it."""
    if not why or verdict.outcome != UNSURE:
        return verdict
    return replace(verdict, note=f"{verdict.note}; no paired A/B: {why}")


def _saved(compared: list[ComparedRun]) -> dict[str, Run]:
    """Case name -> the compared run that holds it."""
    return {name: run.run for run in compared for name in run.run.cases}
