"""The sequential A/B verdict on synthetic process medians with known effects and noise (issue 20):
its false-alarm rate holds when it looks after every generation, a 10 % effect is settled, and
one generation alone never confirms a regression."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unet.bench.stats.floors import Floor
from unet.bench.stats.sequential import (
    MAX_GENERATIONS,
    evidence,
    sequential_verdict,
    settled,
)
from unet.bench.stats.verdict import IMPROVEMENT, NO_CHANGE, REGRESSION, UNSURE


def generation(rng, effect: float, spread: float, drift: float = 0.0, per_side: int = 2):
    """Two sides' processes: each a process median drawn around 1 ms (log-normal ``spread``),
    shifted by the generation's ``drift`` (both sides alike) and, on the head, by ``effect``;
    each process's 8 rounds sit tight around its median."""

    def side(shift: float):
        return [
            list(
                math.exp(drift + shift + spread * rng.standard_normal())
                * 1e-3
                * (1 + 0.002 * rng.standard_normal(8))
            )
            for _ in range(per_side)
        ]

    return side(0.0), side(math.log1p(effect))


def run_sequentially(rng, effect, spread, min_effect=0.03, prior=None, alpha=0.002):
    generations = []
    for _ in range(MAX_GENERATIONS):
        generations.append(generation(rng, effect, spread, drift=0.3 * rng.standard_normal()))
        verdict = sequential_verdict("c", generations, min_effect, prior, alpha=alpha)
        if settled(verdict):
            break
    return verdict, len(generations)


def test_many_aa_comparisons_looked_at_after_every_generation_keep_the_false_alarm_rate():
    """min_effect 0: only the interval decides, and every look happens (nothing settles as
    "no change"), the worst case for looking often. At alpha 0.1 over 4 looks the share of
    A/A runs with any verdict stays below 0.1; one look at the full 0.1 each would give ~0.3."""
    rng = np.random.default_rng(7)
    tries, alpha = 1500, 0.1
    false = 0
    for _ in range(tries):
        generations = []
        for _ in range(MAX_GENERATIONS):
            generations.append(generation(rng, 0.0, 0.05, drift=0.3 * rng.standard_normal()))
            found = evidence(generations, None)
            lo, hi = found.interval(alpha / MAX_GENERATIONS)
            if lo > 0 or hi < 0:
                false += 1
                break
    assert false / tries < alpha


def test_drift_between_generations_does_not_count_as_an_effect():
    rng = np.random.default_rng(8)
    generations = [generation(rng, 0.0, 0.01, drift=d) for d in (0.0, 0.4, -0.3)]
    found = evidence(generations, None)
    assert abs(found.effect) < 0.03  # the 40 % drift cancels within each generation
    assert found.dof == 3 * 2  # one per side and generation


def test_a_10_percent_effect_is_settled_as_a_regression_and_an_aa_as_no_change():
    rng = np.random.default_rng(9)
    outcomes = [run_sequentially(rng, 0.10, 0.01) for _ in range(20)]
    assert all(v.outcome == REGRESSION for v, _ in outcomes)
    assert all(n >= 2 for _, n in outcomes)  # never on one generation
    aa = [run_sequentially(rng, 0.0, 0.01) for _ in range(20)]
    assert all(v.outcome == NO_CHANGE for v, _ in aa)
    assert sum(n for _, n in aa) < 30  # most settle at the first look
    faster = run_sequentially(rng, -0.3, 0.01)[0]
    assert faster.outcome == IMPROVEMENT


def test_one_generation_never_confirms_a_regression():
    rng = np.random.default_rng(10)
    verdict = sequential_verdict("c", [generation(rng, 1.0, 0.001)], 0.03)
    assert verdict.change == pytest.approx(1.0, rel=0.05)
    assert verdict.outcome == UNSURE
    assert len(verdict.base_processes) == len(verdict.head_processes) == 2


def test_a_calibrated_spread_narrows_the_interval():
    rng = np.random.default_rng(11)
    gens = [generation(rng, 0.08, 0.02) for _ in range(2)]
    alone = sequential_verdict("c", gens, 0.03)
    prior = Floor(0.1, 0.02, 16, 1e-3)
    helped = sequential_verdict("c", gens, 0.03, prior)
    assert helped.noise_floor < alone.noise_floor
    assert (alone.outcome, helped.outcome) == (UNSURE, REGRESSION)


def test_a_case_more_processes_could_not_tell_stops_unsure_instead_of_running_to_the_cap():
    """Futility: a noisy case (8 % between processes) whose change is far inside what even the
    fourth generation could resolve takes no more turns; a clear one does."""
    rng = np.random.default_rng(12)
    stopped = []
    for _ in range(30):
        verdict, n = run_sequentially(rng, 0.0, 0.08)
        assert verdict.outcome != REGRESSION
        stopped.append(n)
    assert sum(n < MAX_GENERATIONS for n in stopped) >= 25  # most stop before the cap
    first = sequential_verdict("c", [generation(rng, 0.5, 0.005)], 0.03)
    assert (first.outcome, settled(first)) == (UNSURE, False)  # a regression needs a second look
