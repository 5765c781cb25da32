"""Why a case changed: every flagged case attributed to operators, and the profiles behind it.

A flagged case of a suite run is attributed against the profile its compared run kept (a saved
run cannot be re-run); ``unet-bench ab`` and ``unet-bench explain`` profile both sides afresh,
each side by its own tree's suite, taking turns (base, head, base, head) like the timed blocks, so
that a machine that slows down for a while slows both sides alike.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from unet.bench.ab.settings import ABSettings
from unet.bench.invoke import suite_command
from unet.bench.profile import Attribution, CaseProfile, OpTime, attribute, breakdown
from unet.bench.runner import file_name
from unet.bench.runs import Run

SIDES = ("base", "head")
PROFILE_TURNS = 2  # profiling processes per side, alternating with the other side's
PROFILE_TIME = 1.0  # seconds of calls per case and process: a flagged case deserves more


class ProfileError(RuntimeError):
    """A side's suite could not profile a case; the message says where its log is."""


@dataclass(frozen=True)
class Explained:
    """One flagged case: why it was flagged, what changed in it, and how to see it again."""

    case: str
    reason: str  # "confirmed regression", "cost change", "compare-fail: ..."
    attribution: Attribution | None
    note: str  # why there is no attribution ("" when there is one)
    repro: str  # one command that reruns exactly this case on both sides

    def to_dict(self) -> dict[str, object]:
        att = self.attribution.to_dict() if self.attribution else None
        return {
            "case": self.case,
            "reason": self.reason,
            "attribution": att,
            "note": self.note,
            "repro": self.repro,
        }


def repro_command(case: str, base: str | None, device: str) -> str:
    """``unet-bench explain`` of exactly ``case``, against ``base`` when it is known."""
    parts = ["unet-bench", "explain", case, *(["--base", base] if base else []), "--device", device]
    return shlex.join(parts)


def against_saved(
    case: str, reason: str, head: dict | None, saved: dict | None, repro: str
) -> Explained:
    """Attribute ``case`` from this run's profile ``head`` and the compared run's ``saved``."""
    if head is None:
        return Explained(case, reason, None, "this run kept no profile of it", repro)
    if saved is None:
        note = "the compared run kept no profile of it (saved before profiles were kept)"
        return Explained(case, reason, None, note, repro)
    base_p, head_p = CaseProfile.from_dict(saved), CaseProfile.from_dict(head)
    return Explained(case, reason, attribute(case, base_p, head_p), "", repro)


def between_runs(base: Run, head: Run, flagged: dict[str, str]) -> list[Explained]:
    """The flagged cases (case -> why) of two saved runs, attributed from the profiles they kept;
    the repro profiles the base run's commit against the working tree."""
    device = str(head.hardware.get("device") or "auto")
    commit = base.commit if base.commit != "unversioned" else None
    return [
        against_saved(
            case,
            why,
            head.cases[case].get("extra_info", {}).get("profile"),
            base.cases[case].get("extra_info", {}).get("profile"),
            repro_command(case, commit, device),
        )
        for case, why in flagged.items()
    ]


def merge_profiles(profiles: Sequence[CaseProfile]) -> CaseProfile:
    """Several processes' profiles of one case as one, weighted by the calls each profiled."""
    calls = sum(p.calls for p in profiles)
    names = sorted({op for p in profiles for op in p.ops})
    none = OpTime(0.0, 0.0)

    def mean(values: Sequence[float]) -> float:
        return sum(v * p.calls for v, p in zip(values, profiles, strict=True)) / calls

    ops = {
        op: OpTime(
            mean([p.ops.get(op, none).calls for p in profiles]),
            mean([p.ops.get(op, none).self_s for p in profiles]),
        )
        for op in names
    }
    return CaseProfile(calls, mean([p.wall_s for p in profiles]), ops, profiles[0].clock)


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


def attribute_sides(
    profiles: dict[str, dict[str, CaseProfile]], case: str, reason: str, repro: str
) -> Explained:
    """The base/head attribution of ``case`` from ``profile_in_turns``' result."""
    base, head = profiles.get("base", {}).get(case), profiles.get("head", {}).get(case)
    if base is None or head is None:
        missing = "base" if base is None else "head"
        return Explained(case, reason, None, f"the {missing} side did not profile it", repro)
    return Explained(case, reason, attribute(case, base, head), "", repro)


def explain_one(profile: CaseProfile, case: str, repro: str) -> Explained:
    return Explained(case, "on demand", breakdown(case, profile), "", repro)
