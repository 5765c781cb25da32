"""The verdict logic on synthetic samples (no timing involved)."""

import numpy as np
import pytest

from unet.bench.output.render import verdict_table
from unet.bench.stats.verdict import (
    IMPROVEMENT,
    NO_CHANGE,
    REGRESSION,
    UNSURE,
    Thresholds,
    Verdict,
    compare_generations,
    compare_processes,
    compare_samples,
    confirm,
    dispersion,
    failed,
    judge_and_confirm,
    median_ci,
    process_spread,
)


def samples(median_ms: float, n: int = 60, spread: float = 0.01, seed: int = 0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(median_ms * 1e-3 * (1 + spread * rng.standard_normal(n)))


def test_identical_distributions_are_no_change():
    v = compare_samples("c", samples(1.0, seed=1), samples(1.0, seed=2))
    assert v.outcome == NO_CHANGE
    assert abs(v.change) < 0.01


def test_clear_slowdown_is_a_regression_and_speedup_an_improvement():
    base = samples(1.0, seed=1)
    assert compare_samples("c", base, samples(1.10, seed=2)).outcome == REGRESSION
    assert compare_samples("c", base, samples(0.90, seed=2)).outcome == IMPROVEMENT


def test_significant_but_tiny_change_is_no_change():
    base, head = samples(1.0, n=2000, spread=0.001), samples(1.01, n=2000, spread=0.001, seed=3)
    v = compare_samples("c", base, head, thresholds=Thresholds(min_effect=0.03))
    assert v.p_value < 1e-6
    assert v.outcome == NO_CHANGE


def test_large_but_not_significant_change_is_unsure():
    base, head = samples(1.0, n=6, spread=0.5, seed=4), samples(1.2, n=6, spread=0.5, seed=5)
    v = compare_samples("c", base, head)
    assert v.p_value >= 0.01
    assert v.outcome == UNSURE
    assert v.noisy


def test_too_few_samples_is_unsure():
    assert compare_samples("c", samples(1, n=3), samples(2, n=3)).outcome == UNSURE


def test_noise_floor_from_process_spread_turns_a_regression_unsure():
    # Base measured in two processes that disagree by ~8 %: a ~6 % gap proves nothing.
    base_blocks = [samples(1.00, seed=1), samples(1.08, seed=2)]
    head_blocks = [samples(1.12, seed=3), samples(1.10, seed=4)]
    assert process_spread(base_blocks) == pytest.approx(0.08, abs=0.01)
    v = compare_processes("c", base_blocks, head_blocks)
    assert v.noise_floor >= 0.07
    assert v.outcome == UNSURE
    steady = compare_processes(
        "c",
        [samples(1.0, seed=1), samples(1.0, seed=2)],
        [samples(1.1, seed=3), samples(1.1, seed=4)],
    )
    assert steady.outcome == REGRESSION


def generation(base_ms: float, head_ms: float, seed: int) -> tuple[list, list]:
    """Two processes per side that ran side by side: (base blocks, head blocks)."""
    base = [samples(base_ms, seed=seed), samples(base_ms, seed=seed + 1)]
    return base, [samples(head_ms, seed=seed + 2), samples(head_ms, seed=seed + 3)]


def test_drift_between_generations_is_not_noise():
    # A second generation of processes ran 20 % slower on both sides (a busier machine): the
    # sides agree within each generation, so that is no change, and the floor stays small.
    first, later = generation(1.0, 1.0, seed=1), generation(1.2, 1.2, seed=5)
    v = compare_generations("c", [first, later])
    assert v.outcome == NO_CHANGE
    assert v.noise_floor < 0.02
    assert len(v.base_processes) == len(v.head_processes) == 4
    # pooled as if one generation, the drift would have passed for process noise
    pooled = compare_processes("c", first[0] + later[0], first[1] + later[1])
    assert pooled.noise_floor > 0.15


def test_a_slowdown_seen_in_every_generation_is_a_regression_despite_drift():
    first, later = generation(1.0, 1.1, seed=1), generation(1.2, 1.32, seed=5)
    v = compare_generations("c", [first, later])
    assert v.outcome == REGRESSION
    assert v.change == pytest.approx(0.10, abs=0.01)
    assert compare_generations("c", [first]) == compare_processes("c", *first)


def test_generations_without_both_sides_are_left_out_or_refused():
    first = ([samples(1.0, seed=1)], [samples(1.0, seed=2)])
    assert compare_generations("c", [first, ([], [samples(2.0)])]) == compare_processes("c", *first)
    with pytest.raises(ValueError, match="no generation measured both sides"):
        compare_generations("c", [([], [samples(1.0)])])


def test_confirm_needs_the_rerun_to_agree():
    base = samples(1.0, seed=1)
    suspect = compare_samples("c", base, samples(1.1, seed=2))
    assert confirm(suspect, compare_samples("c", base, samples(1.1, seed=3))).outcome == REGRESSION
    assert confirm(suspect, compare_samples("c", base, samples(1.0, seed=3))).outcome == UNSURE
    fine = compare_samples("c", base, samples(1.0, seed=2))
    assert confirm(fine, suspect) is fine  # only suspects are re-judged


def test_failed_lists_only_regressions_and_unsure_never_fails():
    base = samples(1.0, seed=1)
    verdicts = [
        compare_samples("slow", base, samples(1.2, seed=2)),
        compare_samples("noisy", samples(1, n=6, spread=0.5), samples(1.2, n=6, spread=0.5)),
    ]
    assert [v.case for v in failed(verdicts)] == ["slow"]


def test_dispersion_and_median_ci():
    assert dispersion([1.0, 1.0, 1.0, 1.0]) == 0.0
    assert dispersion([1, 2, 3, 4, 5]) == pytest.approx(2 / 3)
    x = samples(1.0, n=101)
    lo, hi = median_ci(x)
    assert lo <= float(np.median(x)) <= hi
    assert median_ci([1.0, 2.0]) == (1.0, 2.0)


def test_verdict_table_plain_and_markdown():
    v = compare_samples("case-a", samples(1.0, seed=1), samples(1.2, seed=2))
    text = verdict_table([v])
    assert "case-a" in text
    assert "regression" in text
    assert "+20" in text or "+19" in text or "+21" in text
    assert verdict_table([v], markdown=True).startswith("| case | verdict |")
    assert "no case" in verdict_table([])


def test_no_samples_is_an_error():
    with pytest.raises(ValueError, match="no samples"):
        compare_samples("c", [], [1.0])


def test_each_process_counts_once_however_many_rounds_it_fitted():
    # a fast process fits more rounds in its time budget; pooling would let it dominate
    base_blocks = [samples(1.0, n=100, seed=1), samples(1.4, n=30, seed=2)]
    head_blocks = [samples(1.4, n=30, seed=3), samples(1.4, n=30, seed=4)]
    v = compare_processes("c", base_blocks, head_blocks)
    assert v.change == pytest.approx(1.4 / 1.2 - 1, abs=0.01)
    assert v.outcome == UNSURE  # the base's own processes disagree by 40 %


def test_judge_and_confirm_re_measures_only_suspects_and_keeps_them_only_if_confirmed():
    base = samples(1.0, seed=1)
    heads = {"slow": samples(1.2, seed=2), "flaky": samples(1.2, seed=3), "same": samples(1.0)}
    again = {"slow": samples(1.2, seed=4), "flaky": samples(1.0, seed=5)}
    asked = []

    def judge(case):
        return None if case == "unknown" else compare_samples(case, base, heads[case])

    def remeasure(suspects):
        asked.append(list(suspects))
        return lambda case: compare_samples(case, base, again[case])

    verdicts, reruns = judge_and_confirm(["slow", "same", "unknown", "flaky"], judge, remeasure)
    assert asked == [["slow", "flaky"]]  # one re-measurement of all suspects
    assert reruns == ["slow", "flaky"]
    assert [(v.case, v.outcome) for v in verdicts] == [
        ("slow", REGRESSION),
        ("same", NO_CHANGE),
        ("flaky", UNSURE),
    ]
    fine, none = judge_and_confirm(["same"], judge, lambda s: pytest.fail("nothing to confirm"))
    assert none == []
    assert fine[0].outcome == NO_CHANGE


def test_verdicts_written_before_the_rename_still_load():
    v = compare_processes("c", [samples(1.0, seed=1)] * 2, [samples(1.1, seed=2)] * 2)
    assert Verdict.from_dict(v.as_dict()) == v
    old = v.as_dict()
    old["verdict"] = old.pop("outcome")
    old["base_blocks"] = list(old.pop("base_processes"))
    old["head_blocks"] = list(old.pop("head_processes"))
    assert Verdict.from_dict(old) == v
