"""--verdict's gate in-process: cases judged as they are timed, only suspects kept, and suspects
re-measured in the grad mode they were timed in."""

from __future__ import annotations

import gc
import weakref

import torch
from torch import nn

from unet.bench.measure.kept import KeptCase
from unet.bench.results.runs import Run
from unet.bench.stats.verdict import NO_CHANGE, REGRESSION
from unet.bench.suite.gates import ComparedRun, VerdictGate


def saved_run(medians: dict[str, float]) -> ComparedRun:
    """A saved run whose cases have 20 raw rounds around ``medians`` (seconds)."""
    cases = {
        name: {"stats": {"data": [m * (1 + 0.001 * (i % 5)) for i in range(20)]}, "extra_info": {}}
        for name, m in medians.items()
    }
    return ComparedRun("0001_saved.json", Run(path=None, cases=cases))


def rounds(median: float) -> list[float]:
    return [median * (1 + 0.001 * (i % 5)) for i in range(20)]


def test_a_case_judged_no_suspect_lets_go_of_its_model():
    """Kept re-measure closures held every case's model to the end of the session (issue 19)."""
    compared = [saved_run({"fine": 1e-3, "slow": 1e-3})]
    gate = VerdictGate(min_effect=0.03, floors={}, warmup_s=0.0)
    model = nn.Linear(4, 4)
    alive = weakref.ref(model)
    x = torch.ones(1, 4)
    gate.keep("fine", KeptCase(lambda m=model: m(x), 1, rounds(1e-3)), compared)
    del model
    gc.collect()
    assert alive() is None  # no suspect: its timed call and model are gone
    gate.keep("slow", KeptCase(lambda: None, 1, rounds(3e-3)), compared)
    assert set(gate.suspects) == {"slow"}
    assert gate.first["fine"].outcome == NO_CHANGE
    assert gate.first["slow"].outcome == REGRESSION


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
    gate = VerdictGate(min_effect=0.03, floors={}, warmup_s=0.0)
    # timed at ~1 s a round against a saved 1 us: a suspect, re-measured for real
    gate.keep("step", KeptCase(train_step, 1, rounds(1.0), training=True), compared)
    with torch.no_grad():  # whatever the caller's mode, the case's own is used
        gate.decide(compared)
    assert seen
    assert all(seen)
    assert gate.reruns == ["step"]
    assert [v.outcome for v in gate.verdicts] == [REGRESSION]
    assert gate.suspects == {}  # re-measured: let go


def test_cases_missing_from_the_compared_run_are_noted_not_judged():
    gate = VerdictGate(min_effect=0.03, floors={}, warmup_s=0.0)
    gate.keep("new", KeptCase(lambda: None, 1, rounds(1e-3)), [saved_run({"old": 1e-3})])
    gate.decide([saved_run({"old": 1e-3})])
    assert gate.verdicts == []
    assert gate.notes == ["new: not in the compared run"]
