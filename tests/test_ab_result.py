"""ab.json round trip, and files written before the verdict fields were renamed."""

import json

from unet.bench.ab.result import ABResult, load_ab_json
from unet.bench.stats.verdict import compare_processes

# the first verdict of an ab.json written by the version before the rename (fields verdict,
# base_blocks, head_blocks), abridged to the fields that version had
OLD = {
    "base": "main",
    "mode": "paired",
    "verdicts": [
        {
            "case": "test_upsample[up=interpolate-bs=1]",
            "verdict": "regression",
            "base_median": 0.00110,
            "head_median": 0.00132,
            "change": 0.2,
            "p_value": 1e-9,
            "base_ci": [0.00109, 0.00111],
            "head_ci": [0.00131, 0.00133],
            "base_dispersion": 0.01,
            "head_dispersion": 0.02,
            "n_base": 60,
            "n_head": 60,
            "noise_floor": 0.01,
            "base_blocks": [0.00110, 0.00111],
            "head_blocks": [0.00132, 0.00131],
            "noisy": False,
        }
    ],
    "cost_changes": [["test_upsample[up=interpolate-bs=1]", "params", 1, 2]],
}


def test_an_ab_json_from_before_the_rename_loads(tmp_path):
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(OLD))
    result = load_ab_json(path)
    (v,) = result.verdicts
    assert v.outcome == "regression"
    assert v.base_processes == (0.00110, 0.00111)
    assert v.head_processes == (0.00132, 0.00131)
    assert v.head_ci == (0.00131, 0.00133)
    assert result.cost_changes == [("test_upsample[up=interpolate-bs=1]", "params", 1, 2)]


def test_ab_json_round_trip(tmp_path):
    v = compare_processes("c", [[1.0, 1.01, 0.99] * 3] * 2, [[1.2, 1.21, 1.19] * 3] * 2)
    result = ABResult(base_rev="HEAD~1", verdicts=[v], reruns=["c"], unmatched=["new"])
    result.write_json(tmp_path / "ab.json")
    again = load_ab_json(tmp_path / "ab.json")
    assert again.verdicts == [v]
    assert (again.base_rev, again.reruns, again.unmatched) == ("HEAD~1", ["c"], ["new"])
