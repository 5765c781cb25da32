"""The cost manifest: params, flops, mult_adds and unsupported ops of every benchmark case.

Costs do not depend on hardware, so one committed JSON file serves every machine, and its diff is
what a reviewer sees when a change alters the model's cost.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

COST_FIELDS = ("params", "flops", "mult_adds", "unsupported_ops")
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "cost_manifest.json"


def cost_entry(extra_info: Mapping[str, object]) -> dict[str, object]:
    """The cost fields of a case's extra_info, normalised for comparison."""
    entry = {f: extra_info.get(f) for f in COST_FIELDS}
    entry["unsupported_ops"] = sorted(entry["unsupported_ops"] or [])  # type: ignore[arg-type]
    return entry


def cost_changes(
    old: Mapping[str, object], new: Mapping[str, object]
) -> list[tuple[str, object, object]]:
    """(field, old, new) for every cost field that differs."""
    old_e, new_e = cost_entry(old), cost_entry(new)
    return [(f, old_e[f], new_e[f]) for f in COST_FIELDS if old_e[f] != new_e[f]]


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
    """Write sorted, indented JSON atomically (a crash leaves the old file whole)."""
    data = {
        "about": "Hardware-independent costs of each benchmark case. Regenerate after an "
        f"intended change with: {UPDATE_COMMAND}",
        "cases": {name: cost_entry(cases[name]) for name in sorted(cases)},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
