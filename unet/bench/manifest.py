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


def load_manifest(path: Path) -> dict[str, dict[str, object]]:
    """Case name -> cost entry. A missing file is an empty manifest; a broken one is an error."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read the cost manifest {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), dict):
        raise ValueError(f"cost manifest {path} has no 'cases' mapping")
    return data["cases"]


def write_manifest(path: Path, cases: Mapping[str, Mapping[str, object]]) -> None:
    """Write sorted, indented JSON atomically (a crash leaves the old file whole)."""
    data = {
        "about": "Hardware-independent costs of each benchmark case. Regenerate after an "
        "intended change with: pytest benchmarks --benchmark-disable --update-cost-manifest",
        "cases": {name: cost_entry(cases[name]) for name in sorted(cases)},
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def format_changes(rows: list[tuple[str, str, object, object]]) -> str:
    """A table of (case, field, old, new)."""

    def fmt(v: object) -> str:
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, list):
            return ", ".join(map(str, v)) or "(none)"
        return str(v)

    cells = [(case, field, fmt(old), fmt(new)) for case, field, old, new in rows]
    header = ("case", "field", "old", "new")
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, tuple("-" * w for w in widths), *cells]
    ]
    return "\n".join(lines)
