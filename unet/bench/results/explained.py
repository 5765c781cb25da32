"""A flagged case explained: why it was flagged, the attribution of its change to operators,
and the command that shows it again; built from the profiles runs keep or that
``ab.profiling`` takes afresh."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from unet.bench.results.runs import Run
from unet.bench.stats.attribution import Attribution, CaseProfile, OpTime, attribute, breakdown

CONFIRMED = "confirmed regression"  # the one reason whose net change a verdict confirmed


@dataclass(frozen=True)
class Explained:
    """One flagged case: why it was flagged, what changed in it, and how to see it again."""

    case: str
    reason: str  # "confirmed regression", "cost change", "compare-fail: ..."
    attribution: Attribution | None
    note: str  # why there is no attribution ("" when there is one)
    repro: str  # one command that reruns exactly this case on both sides

    @property
    def confirmed(self) -> bool:
        """Whether the net change is a confirmed one: only then does a share of it mean
        something (a share of a noise-sized change can be -2000 %)."""
        return self.reason == CONFIRMED

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
            head.case(case).profile,
            base.case(case).profile,
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
