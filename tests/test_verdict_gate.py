"""--verdict's gate in-process: cases judged as they are timed, only suspects kept; suspects
confirmed by a paired A/B (fresh processes) against the compared run's commit, or re-measured in
the grad mode they were timed in against a calibrated floor, else unsure."""

from __future__ import annotations

import gc
import weakref

import torch
from torch import nn

from unet.bench.measure.kept import KeptCase
from unet.bench.results.floors import FULL, QUICK, Calibration
from unet.bench.results.runs import Run
from unet.bench.stats.floors import NO_EVIDENCE, Floor
from unet.bench.stats.verdict import (
    IMPROVEMENT,
    NO_CHANGE,
    NOT_GATED,
    REGRESSION,
    UNSURE,
    compare_samples,
)
from unet.bench.suite.gates import ComparedRun, VerdictGate
from unet.bench.suite.paired import PairedError


def saved_run(
    medians: dict[str, float], commit: str | None = None, tier: str | None = FULL
) -> ComparedRun:
    """A saved run of ``tier`` whose cases have 20 raw rounds around ``medians`` (seconds)."""
    cases = {
        name: {"stats": {"data": [m * (1 + 0.001 * (i % 5)) for i in range(20)]}, "extra_info": {}}
        for name, m in medians.items()
    }
    info = {"unet_bench": {"tier": tier}} if tier else {}
    return ComparedRun("0001_saved.json", Run(None, info, cases, commit=commit))


def floors(**cases: float) -> Calibration:
    return Calibration({name: Floor(f, f / 6, 8, 1e-3) for name, f in cases.items()})


def never_called() -> None:
    raise AssertionError("a suspect was re-measured in its own process")


def rounds(median: float) -> list[float]:
    return [median * (1 + 0.001 * (i % 5)) for i in range(20)]


def test_a_case_judged_no_suspect_lets_go_of_its_model():
    """Kept re-measure closures held every case's model to the end of the session (issue 19)."""
    compared = [saved_run({"fine": 1e-3, "slow": 1e-3})]
    gate = VerdictGate(min_effect=0.03, calibration=None, warmup_s=0.0)
    model = nn.Linear(4, 4)
    alive = weakref.ref(model)
    x = torch.ones(1, 4)
    gate.keep("fine", "t::fine", KeptCase(lambda m=model: m(x), 1, rounds(1e-3)), compared)
    del model
    gc.collect()
    assert alive() is None  # no suspect: its timed call and model are gone
    gate.keep("slow", "t::slow", KeptCase(lambda: None, 1, rounds(3e-3)), compared)
    assert set(gate.suspects) == {"slow"}
    assert gate.first["fine"].outcome == NO_CHANGE
    assert gate.first["slow"].outcome == UNSURE  # one process a side: a suspect, no verdict


def test_a_training_step_suspect_is_re_measured_with_autograd_on():
    """`--mode train --verdict` re-measured suspects under torch.no_grad(), where the step's
    backward() raises (issue 19)."""
    model = nn.Linear(4, 4)
    x = torch.ones(8, 4)
    seen = []

    def train_step():
        seen.append(torch.is_grad_enabled())
        model(x).mean().backward()

    compared = [saved_run({"step": 1e-6})]
    gate = VerdictGate(min_effect=0.03, calibration=floors(step=0.1), warmup_s=0.0)
    # timed at ~1 s a round against a saved 1 us: a suspect, re-measured for real
    gate.keep("step", "t::step", KeptCase(train_step, 1, rounds(1.0), training=True), compared)
    with torch.no_grad():  # whatever the caller's mode, the case's own is used
        gate.decide(compared)
    assert seen
    assert all(seen)
    assert gate.reruns == ["step"]
    assert [v.outcome for v in gate.verdicts] == [REGRESSION]
    assert gate.suspects == {}  # re-measured: let go


def test_cases_missing_from_the_compared_run_are_noted_not_judged():
    gate = VerdictGate(min_effect=0.03, calibration=None, warmup_s=0.0)
    gate.keep("new", "t::new", KeptCase(lambda: None, 1, rounds(1e-3)), [saved_run({"old": 1e-3})])
    gate.decide([saved_run({"old": 1e-3})])
    assert gate.verdicts == []
    assert gate.notes == ["new: not in the compared run"]


def test_paired_confirmation_dismisses_a_shift_and_confirms_a_slowdown_in_fresh_processes():
    """Both suspects go to one paired A/B against the compared run's commit, by node id; its
    verdicts stand, and neither suspect's own (slow) process is asked again."""
    compared = [saved_run({"shifted": 1e-3, "slowed": 1e-3, "fine": 1e-3}, commit="abc1234def")]
    asked = []

    def paired(commit, node_ids):
        asked.append((commit, node_ids))
        base = rounds(1e-3)
        return {
            "shifted": compare_samples("shifted", base, rounds(1.002e-3)),
            "slowed": compare_samples("slowed", base, rounds(1.3e-3)),
        }

    gate = VerdictGate(0.03, None, 0.0, paired=paired, base_commit=lambda run: (run.commit, ""))
    gate.keep("shifted", "t::shifted", KeptCase(never_called, 1, rounds(1.4e-3)), compared)
    gate.keep("slowed", "t::slowed", KeptCase(never_called, 1, rounds(1.4e-3)), compared)
    gate.keep("fine", "t::fine", KeptCase(never_called, 1, rounds(1e-3)), compared)
    gate.decide(compared)
    assert asked == [("abc1234def", ["t::shifted", "t::slowed"])]
    outcome = {v.case: v.outcome for v in gate.verdicts}
    assert outcome == {"shifted": NO_CHANGE, "slowed": REGRESSION, "fine": NO_CHANGE}
    notes = {v.case: v.note for v in gate.verdicts}
    assert notes["slowed"] == "paired A/B against abc1234de: regression"
    assert gate.suspects == {}


def test_without_a_commit_or_a_floor_a_suspect_stays_unsure_and_says_why():
    compared = [saved_run({"slow": 1e-3})]
    gate = VerdictGate(
        0.03, None, 0.0, paired=lambda *a: {}, base_commit=lambda run: (None, "no commit here")
    )
    gate.keep("slow", "t::slow", KeptCase(never_called, 1, rounds(1.5e-3)), compared)
    gate.decide(compared)
    (verdict,) = gate.verdicts
    assert verdict.outcome == UNSURE
    assert verdict.note == f"{NO_EVIDENCE}; no paired A/B: no commit here"


def test_a_failed_paired_ab_falls_back_to_the_floor():
    compared = [saved_run({"slow": 1e-3}, commit="abc")]

    def broken(commit, node_ids):
        raise PairedError("the paired A/B failed (exit 2); see x.log")

    calls = []
    gate = VerdictGate(
        0.03, floors(slow=0.1), 0.0, paired=broken, base_commit=lambda r: ("abc", "")
    )
    kept = KeptCase(lambda: calls.append(1), 1, rounds(1.5e-3))
    gate.keep("slow", "t::slow", kept, compared)
    gate.decide(compared)
    assert calls  # re-measured in-process, against the floor
    assert gate.reruns == ["slow"]
    (verdict,) = gate.verdicts
    assert verdict.outcome == UNSURE  # the re-measure (a no-op call) did not confirm it


def test_a_floor_of_another_tier_or_an_unrecorded_one_confirms_nothing():
    """Full-tier floors (this gate's) say nothing about a quick run, whose process is seconds
    long, nor about a run that records no tier: the suspect stays unsure, not re-measured."""
    gate = VerdictGate(0.03, floors(slow=0.1), 0.0)
    for tier in (QUICK, None):
        compared = [saved_run({"slow": 1e-3}, tier=tier)]
        gate.keep("slow", "t::slow", KeptCase(never_called, 1, rounds(1.5e-3)), compared)
        assert gate.floor("slow", compared[0].run) is None
        gate.decide(compared)
        (verdict,) = gate.verdicts
        assert verdict.outcome == UNSURE
        assert verdict.note.startswith(NO_EVIDENCE)
    assert gate.reruns == []
    # and the same floors on a run of their own tier do apply
    assert gate.floor("slow", saved_run({"slow": 1e-3}).run) == floors(slow=0.1).floor("slow")


def test_a_suspected_improvement_goes_to_the_paired_ab_too():
    """A false improvement lowers the bar the next run is judged against; it needs the same
    evidence between processes as a regression."""
    compared = [saved_run({"faster": 1e-3, "fake": 1e-3}, commit="abc1234def")]
    asked = []

    def paired(commit, node_ids):
        asked.append(node_ids)
        base = rounds(1e-3)
        return {
            "faster": compare_samples("faster", base, rounds(0.7e-3)),
            "fake": compare_samples("fake", base, rounds(1.001e-3)),
        }

    gate = VerdictGate(0.03, None, 0.0, paired=paired, base_commit=lambda run: (run.commit, ""))
    gate.keep("faster", "t::faster", KeptCase(never_called, 1, rounds(0.7e-3)), compared)
    gate.keep("fake", "t::fake", KeptCase(never_called, 1, rounds(0.7e-3)), compared)
    gate.decide(compared)
    assert asked == [["t::faster", "t::fake"]]
    assert {v.case: v.outcome for v in gate.verdicts} == {"faster": IMPROVEMENT, "fake": NO_CHANGE}


def test_a_suspected_improvement_re_measured_against_a_floor_stands_only_if_seen_again():
    compared = [saved_run({"fast": 1e-3})]
    gate = VerdictGate(0.03, floors(fast=0.1), 0.0)
    # the re-measure (a no-op call, ~1 us) is far faster still: confirmed
    gate.keep("fast", "t::fast", KeptCase(lambda: None, 1, rounds(0.5e-3)), compared)
    gate.decide(compared)
    assert gate.reruns == ["fast"]
    assert [v.outcome for v in gate.verdicts] == [IMPROVEMENT]


def test_an_unstable_case_is_still_judged_by_a_paired_ab_but_never_by_its_floor():
    """Full-tier floors of 30-600 % were calibrated on this VM; had they kept those cases from
    being suspects, a doubling would have passed as `not gated` where an A/B can see it."""
    compared = [saved_run({"wide": 1e-3}, commit="abc1234def")]

    def paired(commit, node_ids):
        return {"wide": compare_samples("wide", rounds(1e-3), rounds(2e-3))}

    gate = VerdictGate(0.03, floors(wide=3.0), 0.0, paired, lambda run: (run.commit, ""))
    gate.keep("wide", "t::wide", KeptCase(never_called, 1, rounds(2e-3)), compared)
    assert gate.first["wide"].outcome == NOT_GATED
    gate.decide(compared)
    assert [v.outcome for v in gate.verdicts] == [REGRESSION]  # the A/B's verdict stands
    # without a paired path the unstable floor judges nothing and nothing is re-measured
    alone = VerdictGate(0.03, floors(wide=3.0), 0.0)
    alone.keep("wide", "t::wide", KeptCase(never_called, 1, rounds(2e-3)), compared)
    alone.decide(compared)
    assert [v.outcome for v in alone.verdicts] == [NOT_GATED]
    assert alone.reruns == []
