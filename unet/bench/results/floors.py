"""The calibrated noise floors file (``benchmarks/noise_floors.json``, committed like the cost
manifest): per hardware key, per case, what ``unet-bench calibrate`` measured across processes
(``stats.floors.Floor``). The gates read it; only ``calibrate`` writes it.

    {"schema": 1,
     "keys": {"<hardware key>": {"calibrated_at": "...", "commit": "...", "alpha": 0.002,
                                 "cases": {"<case>": {"floor": 0.08, "log_spread": ...,
                                                      "processes": 8, "median_s": ...}}}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from unet.bench.results.storage import BENCHMARKS_DIR
from unet.bench.stats.floors import FLOOR_ALPHA, Floor

DEFAULT_PATH = BENCHMARKS_DIR / "noise_floors.json"
SCHEMA = 1


class FloorsError(ValueError):
    """A floors file that cannot be read; the message names it and why."""


@dataclass
class Calibration:
    """The floors of one hardware key."""

    cases: dict[str, Floor] = field(default_factory=dict)
    calibrated_at: str = ""
    commit: str | None = None
    alpha: float = FLOOR_ALPHA

    def floor(self, case: str) -> Floor | None:
        return self.cases.get(case)


def load_floors(path: Path = DEFAULT_PATH) -> dict[str, Calibration]:
    """Hardware key -> its calibration; empty when the file does not exist."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
        return {
            key: Calibration(
                cases={case: Floor.from_dict(f) for case, f in entry["cases"].items()},
                calibrated_at=entry.get("calibrated_at", ""),
                commit=entry.get("commit"),
                alpha=float(entry.get("alpha", FLOOR_ALPHA)),
            )
            for key, entry in data["keys"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise FloorsError(
            f"cannot read the noise floors {path}: {type(err).__name__}: {err}"
        ) from None


def calibration_for(key: str, path: Path = DEFAULT_PATH) -> Calibration | None:
    """The calibration of ``key``, if ``path`` has one."""
    return load_floors(path).get(key)


def update_floors(path: Path, key: str, calibration: Calibration) -> list[str]:
    """Write ``calibration``'s cases into ``key``'s entry of ``path``, keeping every other key
    and every case it did not measure; the cases whose earlier floors it replaced."""
    keys = load_floors(path)
    old = keys.get(key, Calibration())
    replaced = sorted(set(old.cases) & set(calibration.cases))
    keys[key] = Calibration(
        cases={**old.cases, **calibration.cases},
        calibrated_at=calibration.calibrated_at,
        commit=calibration.commit,
        alpha=calibration.alpha,
    )
    data = {
        "schema": SCHEMA,
        "keys": {
            k: {
                "calibrated_at": c.calibrated_at,
                "commit": c.commit,
                "alpha": c.alpha,
                "cases": {case: f.as_dict() for case, f in sorted(c.cases.items())},
            }
            for k, c in sorted(keys.items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)  # a reader never sees half a file
    return replaced
