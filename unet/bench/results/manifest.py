"""The cost manifest: params, flops, mult_adds, unsupported ops and the exact counters of every
benchmark case.

fvcore's costs do not depend on hardware, so one committed JSON file serves every machine, and its
diff is what a reviewer sees when a change alters the model's cost. The exact counters (operators
per call, peak activation bytes) depend on the dtype, so an entry keeps them per ``counted_on``
(``cpu/float32``); a run checks the counters recorded for what it counts on.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from unet.bench.results.record import COST_FIELDS, TRAIN_FIELDS
from unet.bench.results.storage import BENCHMARKS_DIR
from unet.bench.units import mib

DEFAULT_PATH = BENCHMARKS_DIR / "cost_manifest.json"
COUNTER_FIELDS = ("total_ops", "ops", "peak_activation_bytes")


def counters_of(entry: Mapping[str, object], on: object) -> dict[str, object] | None:
    """The exact counters that a cost entry holds for ``on`` (what they were counted on)."""
    counters = entry.get("counters")
    return counters.get(on) if isinstance(counters, dict) else None


def merged_entry(old: Mapping[str, object] | None, new: Mapping[str, object]) -> dict:
    """``new``'s costs, keeping the counters ``old`` holds for other devices/dtypes."""
    entry = dict(new)
    kept = dict((old or {}).get("counters") or {})  # type: ignore[call-overload]
    kept.update(entry.get("counters", {}))
    if kept:
        entry["counters"] = dict(sorted(kept.items()))
    return entry


def op_changes(old: dict[str, int], new: dict[str, int]) -> list[tuple[str, int, int]]:
    """(operator, old calls, new calls) for every operator whose count differs."""
    return [
        (op, old.get(op, 0), new.get(op, 0))
        for op in sorted(set(old) | set(new))
        if old.get(op, 0) != new.get(op, 0)
    ]


def cost_changes(
    old: Mapping[str, object], new: Mapping[str, object], on: object
) -> list[tuple[str, object, object]]:
    """(field, old, new) for every cost field that differs between two cost entries (a
    manifest's, or ``CaseRecord.cost_entry``); the counters, where ``old`` holds them for what
    ``new`` counted ``on``, one row per operator whose count changed."""
    fields = COST_FIELDS + tuple(f for f in TRAIN_FIELDS if f in old or f in new)
    changes = [(f, _value(old, f), _value(new, f)) for f in fields]
    changes = [c for c in changes if c[1] != c[2]]
    before, after = counters_of(old, on), counters_of(new, on)
    if before is None or after is None:
        return changes
    changes += [(f"ops {op}", a, b) for op, a, b in op_changes(before["ops"], after["ops"])]
    for f in ("total_ops", "peak_activation_bytes"):
        if before[f] != after[f]:
            changes.append((f, before[f], after[f]))
    return changes


def _normal(entry: Mapping[str, object]) -> dict[str, object]:
    """The fields a manifest entry holds, in order, unsupported operators sorted."""
    known = [*COST_FIELDS, *TRAIN_FIELDS, "counters"]
    return {f: _value(entry, f) for f in known if f in COST_FIELDS or f in entry}


def _value(entry: Mapping[str, object], field: str) -> object:
    value = entry.get(field)
    return sorted(value or []) if field == "unsupported_ops" else value  # type: ignore[arg-type]


def lacks_counters(old: Mapping[str, object], on: object) -> bool:
    """Whether a run that counted ``on`` finds no counters for it in ``old`` (recorded on
    another device or dtype, or before counters existed)."""
    return on is not None and counters_of(old, on) is None


def shown(field: str, value: object) -> str:
    """A cost value as messages show it: bytes in MiB, the rest as is."""
    return mib(value) if field == "peak_activation_bytes" else repr(value)


UPDATE_COMMAND = "pytest benchmarks --benchmark-disable --update-cost-manifest"


def update_command(path: Path) -> str:
    """The command that writes the costs of this run's cases into the manifest ``path``."""
    return UPDATE_COMMAND + ("" if path == DEFAULT_PATH else f" --cost-manifest {path}")


class ManifestError(ValueError):
    """A cost manifest that is missing or unreadable; the message says how to mend it."""


def load_manifest(path: Path, missing_ok: bool = False) -> dict[str, dict[str, object]]:
    """Case name -> cost entry. A missing file is an error unless ``missing_ok`` (the run is
    about to write it): a gate must never pass because its reference is absent."""
    if not path.exists():
        if missing_ok:
            return {}
        raise ManifestError(
            f"--cost-manifest {path}: no such file. Create it with: {update_command(path)}"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ManifestError(
            f"cannot read the cost manifest {path}: {err}. Restore it from git or rerun "
            "--update-cost-manifest"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), dict):
        raise ManifestError(f"cost manifest {path} has no 'cases' mapping")
    return data["cases"]


def write_manifest(path: Path, cases: Mapping[str, Mapping[str, object]]) -> None:
    """Write the entries ``cases`` (see ``merged_entry``) as sorted, indented JSON, atomically
    (a crash leaves the old file whole)."""
    data = {
        "about": "Hardware-independent costs of each benchmark case. Regenerate after an "
        f"intended change with: {UPDATE_COMMAND}",
        "cases": {name: _normal(cases[name]) for name in sorted(cases)},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
