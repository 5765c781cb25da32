"""The environment diff beside every comparison: what differs between two runs' environments
(torch, CUDA, cuDNN, the driver, TF32 and cuDNN flags, threads, the CPU governor and maximum
frequency, GPU power limit and clocks, environment variables that change timings).

Read from ``machine_info["unet_bench"]``: its hardware fields, the CUDA numerics flags and the
``environment`` the suite records (``measure.environment``). A field one run lacks because it
predates the field is not a difference; a variable set in one run and not the other is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from unet.bench.results.expected import EXPECTED
from unet.bench.stats.verdict import IMPROVEMENT, REGRESSION, Verdict

# hardware fields that are the software around the device (the rest name the device itself)
SOFTWARE = ("torch", "cuda", "cudnn", "driver", "threads")
UNSET = "unset"


def environment_of(machine_info: Mapping[str, Any]) -> dict[str, str]:
    """One flat mapping of everything a run's timings depend on besides code and device."""
    info = machine_info.get("unet_bench", machine_info) or {}
    out = {k: str(info[k]) for k in SOFTWARE if info.get(k) is not None}
    numerics = info.get("numerics") or {}
    out.update({f"numerics:{k}": str(v) for k, v in numerics.items() if v is not None})
    out.update({k: str(v) for k, v in (info.get("environment") or {}).items()})
    return out


def environment_diff(
    base: Mapping[str, Any], head: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """(field, base value, head value) for every field that differs. A field only one run
    recorded counts only for environment variables (set against unset): the others were simply
    not recorded by an older run."""
    a, b = environment_of(base), environment_of(head)
    diff = []
    for field in sorted(set(a) | set(b)):
        if field in a and field in b:
            if a[field] != b[field]:
                diff.append((field, a[field], b[field]))
        elif field.startswith("env:") and _recorded_env(base) and _recorded_env(head):
            diff.append((field, a.get(field, UNSET), b.get(field, UNSET)))
    return diff


def _recorded_env(machine_info: Mapping[str, Any]) -> bool:
    info = machine_info.get("unet_bench", machine_info) or {}
    return "environment" in info


def describe_diff(diff: Sequence[tuple[str, str, str]]) -> str:
    """``torch 2.12.0 → 2.13.0; env:OMP_NUM_THREADS unset → 1``."""
    return "; ".join(f"{field} {a} → {b}" for field, a, b in diff)


def diff_note(diff: Sequence[tuple[str, str, str]]) -> str:
    return f"environments differ: {describe_diff(diff)}" if diff else ""


def diff_lines(diff: Sequence[tuple[str, str, str]], markdown: bool = True) -> list[str]:
    """The diff as the lines a comparison prints below its verdicts."""
    if not diff:
        return ["Environment: the same in both runs."]
    head = "**Environment differs**" if markdown else "Environment differs"
    return [f"{head} (a verdict may be the environment's, not the code's):"] + [
        f"- {field}: {a} → {b}" for field, a, b in diff
    ]


def with_environment(verdicts: Sequence[Verdict], diff: Sequence[tuple[str, str, str]]):
    """The verdicts, each change among them (regression, improvement, expected) noting that
    the environments differ, next to its outcome."""
    if not diff:
        return list(verdicts)
    note = diff_note(diff)
    changed = (REGRESSION, IMPROVEMENT, EXPECTED)
    return [
        replace(v, note="; ".join(n for n in (v.note, note) if n)) if v.outcome in changed else v
        for v in verdicts
    ]
