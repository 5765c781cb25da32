"""The run's axes: settings that apply to every case (train or inference, dtype, memory format)
and change what is measured, so they are part of a run's identity.

Runs of different axes are stored apart (the axes that differ from the defaults join the
hardware key), never compared unless asked, and their case ids carry those axes, so that
pytest-benchmark's tables and the cost manifest keep one entry per case id.
"""

from __future__ import annotations

import re
from typing import Any

MODES = ("inference", "train")
AUTOCAST_DTYPES = ("bfloat16", "float16")
# axis -> default; a saved run that lacks an axis was measured at its default
DEFAULTS: dict[str, Any] = {
    "mode": "inference",
    "dtype": "float32",
    "channels_last": False,
    "autocast": None,
    "compile": None,
    "cache": "warm",
}
# axes that change how a case is timed, not what it computes: its costs are the default's
TIMING_ONLY = ("cache",)
_TIMING_AXIS_IN_ID = re.compile(rf"-(?:{'|'.join(TIMING_ONLY)})=\w+(?=-|\])")


def run_axes(options: Any) -> dict[str, Any]:
    """The axes of a run from its parsed options (``SuiteOptions``)."""
    return {axis: getattr(options, axis) for axis in DEFAULTS}


def _changed(axes: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(a, axes.get(a, d)) for a, d in DEFAULTS.items() if axes.get(a, d) != d]


def id_suffix(axes: dict[str, Any]) -> str:
    """``-mode=train``, ``-dtype=bfloat16-channels_last``: the axes off their defaults."""
    return "".join(f"-{a}" if v is True else f"-{a}={v}" for a, v in _changed(axes))


def cost_key(name: str) -> str:
    """A case's name in the cost manifest: without the timing-only axes in its id, since its
    costs are those of the same case timed warm (``…-cache=cold]`` -> ``…]``)."""
    return _TIMING_AXIS_IN_ID.sub("", name)


def key_suffix(axes: dict[str, Any]) -> str:
    """The same for a storage folder name: ``-mode_train``."""
    return id_suffix(axes).replace("=", "_")


def differing_axes(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """axis -> (theirs, ours) for every axis whose values differ (a missing one is its default)."""
    return {
        a: (theirs.get(a, d), ours.get(a, d))
        for a, d in DEFAULTS.items()
        if theirs.get(a, d) != ours.get(a, d)
    }


def other_axes_message(
    subject: str, diff: dict[str, tuple[Any, Any]], labels: tuple[str, str] = ("saved", "here")
) -> str:
    old, new = labels
    fields = "; ".join(f"{a}: {old} {x!r}, {new} {y!r}" for a, (x, y) in diff.items())
    return (
        f"{subject} ({fields}). Runs of different settings measure different things: compare "
        "runs of the same settings, or pass --allow-other-hardware to compare anyway."
    )
