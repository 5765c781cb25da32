"""Profiles taken afresh for ``ab`` and ``explain``: each side's cases profiled by its own
tree's suite, the sides taking turns (base, head, base, head) like the timed blocks, so that a
machine that slows down for a while slows both sides alike."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from unet.bench.ab.settings import ABSettings
from unet.bench.errors import ToolError
from unet.bench.invoke import suite_command
from unet.bench.measure.profile import file_name
from unet.bench.results.explained import merge_profiles
from unet.bench.stats.attribution import CaseProfile

PROFILE_TURNS = 2  # profiling processes per side, alternating with the other side's
PROFILE_TIME = 1.0  # seconds of calls per case and process: a flagged case deserves more


# where a tree keeps its profiler: today's path, then where it lived before the measure/ package
PROFILER_FILES = ("unet/bench/measure/profile.py", "unet/bench/profile.py")


def can_profile(tree: Path) -> bool:
    """Whether the suite in ``tree`` (a base revision) has per-case profiles."""
    return any((tree / relative).exists() for relative in PROFILER_FILES)


class ProfileError(ToolError):
    """A side's suite could not profile a case; the message says where its log is (exit 2)."""


def profile_in_turns(
    trees: dict[str, Path],
    node_ids: dict[str, list[str]],
    out: Path,
    device: str,
    options: Sequence[str] = (),
    turns: int = PROFILE_TURNS,
) -> dict[str, dict[str, CaseProfile]]:
    """Profile the cases ``node_ids[side]`` by each side's own suite, the sides taking turns;
    side -> case -> profile. Each side's last Chrome trace per case is kept in ``out``."""
    found: dict[str, dict[str, list[CaseProfile]]] = {side: {} for side in trees}
    for turn in range(turns):
        for side, tree in trees.items():
            folder = out / "profiles" / f"{side}-{turn + 1}"
            _run_side(tree, node_ids[side], folder, device, options, side)
            for path in sorted(folder.glob("*.profile.json")):
                data = json.loads(path.read_text())
                found[side].setdefault(data["case"], []).append(CaseProfile.from_dict(data))
                trace = path.with_name(path.name.replace(".profile.json", ".trace.json"))
                if trace.exists():
                    shutil.copyfile(trace, out / f"{file_name(data['case'])}.{side}.trace.json")
    return {
        side: {c: merge_profiles(ps) for c, ps in cases.items()} for side, cases in found.items()
    }


def _run_side(
    tree: Path, node_ids: list[str], folder: Path, device: str, options: Sequence[str], side: str
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    command = suite_command(
        node_ids,
        device=device,
        storage=folder / "storage",
        options=[
            "-q",
            "--benchmark-disable",
            "--skip-costs",
            f"--profile-dir={folder}",
            f"--profile-time={PROFILE_TIME}",
            *options,
        ],
    )
    env = ABSettings.env(tree)  # the tree's own unet package, as A/B's workers import it
    proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)
    log = folder / "pytest.log"
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise ProfileError(f"the {side} suite failed to profile {', '.join(node_ids)}; see {log}")
