"""The calibrated noise floors file (``benchmarks/noise_floors.json``, committed like the cost
manifest): per hardware key, per tier, per case, what ``unet-bench calibrate`` measured across
processes (``stats.floors.Floor``). The gates read it; only ``calibrate`` writes it.

A floor holds for runs of the tier it was calibrated on: a full run takes minutes where a quick
one takes seconds, so the machine drifts more between two full runs (here a quick-tier floor of
17.9 % was crossed, +21.2 %, by two full runs of unchanged code).

    {"schema": 2,
     "keys": {"<hardware key>": {"<tier>": {"calibrated_at": "...", "commit": "...",
                                            "alpha": 0.002,
                                            "cases": {"<case>": {"floor": 0.08, ...}}}}}}

A schema-1 file (no tiers) is read with its entries under the tier ``unrecorded``, which no run
has: they are kept, never applied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from unet.bench.results.storage import BENCHMARKS_DIR
from unet.bench.stats.floors import FLOOR_ALPHA, Floor

DEFAULT_PATH = BENCHMARKS_DIR / "noise_floors.json"
SCHEMA = 2
QUICK, FULL = "quick", "full"  # the suite's tiers (--quick or not)
UNRECORDED = "unrecorded"  # a schema-1 entry's tier: kept, matches no run


def tier_of(quick: bool) -> str:
    """The tier of a run or calibration made with or without ``--quick``."""
    return QUICK if quick else FULL


class FloorsError(ValueError):
    """A floors file that cannot be read; the message names it and why."""


@dataclass
class Calibration:
    """The floors of one hardware key and tier."""

    cases: dict[str, Floor] = field(default_factory=dict)
    calibrated_at: str = ""
    commit: str | None = None
    alpha: float = FLOOR_ALPHA
    tier: str = FULL

    def floor(self, case: str) -> Floor | None:
        return self.cases.get(case)


def load_floors(path: Path = DEFAULT_PATH) -> dict[str, dict[str, Calibration]]:
    """Hardware key -> tier -> its calibration; empty when the file does not exist."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("schema", 1) == 1:
            return {
                key: {UNRECORDED: _calibration(e, UNRECORDED)} for key, e in data["keys"].items()
            }
        return {
            key: {tier: _calibration(e, tier) for tier, e in tiers.items()}
            for key, tiers in data["keys"].items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise FloorsError(
            f"cannot read the noise floors {path}: {type(err).__name__}: {err}"
        ) from None


def _calibration(entry: dict, tier: str) -> Calibration:
    return Calibration(
        cases={case: Floor.from_dict(f) for case, f in entry["cases"].items()},
        calibrated_at=entry.get("calibrated_at", ""),
        commit=entry.get("commit"),
        alpha=float(entry.get("alpha", FLOOR_ALPHA)),
        tier=tier,
    )


def calibration_for(key: str, tier: str, path: Path = DEFAULT_PATH) -> Calibration | None:
    """The calibration of ``key`` for runs of ``tier``, if ``path`` has one."""
    return load_floors(path).get(key, {}).get(tier)


def calibrated_tiers(key: str, path: Path = DEFAULT_PATH) -> list[str]:
    """The tiers ``path`` has floors for on ``key`` (to say what is missing)."""
    return sorted(load_floors(path).get(key, {}))


def update_floors(path: Path, key: str, calibration: Calibration) -> list[str]:
    """Write ``calibration``'s cases into ``key``'s entry for its tier in ``path``, keeping
    every other key and tier and every case it did not measure; the cases whose earlier floors
    it replaced."""
    keys = load_floors(path)
    tiers = keys.setdefault(key, {})
    old = tiers.get(calibration.tier, Calibration(tier=calibration.tier))
    replaced = sorted(set(old.cases) & set(calibration.cases))
    tiers[calibration.tier] = replace(calibration, cases={**old.cases, **calibration.cases})
    data = {
        "schema": SCHEMA,
        "keys": {
            k: {
                tier: {
                    "calibrated_at": c.calibrated_at,
                    "commit": c.commit,
                    "alpha": c.alpha,
                    "cases": {case: f.as_dict() for case, f in sorted(c.cases.items())},
                }
                for tier, c in sorted(t.items())
            }
            for k, t in sorted(keys.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)  # a reader never sees half a file
    return replaced
