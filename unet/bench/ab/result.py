"""What an A/B run found, and its ab.json (read back also as earlier versions wrote it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from unet.bench.results.explained import Explained
from unet.bench.results.runs import Run
from unet.bench.stats.verdict import Verdict


class ABMode(StrEnum):
    """How the two sides were measured (ab.json's ``mode``)."""

    PAIRED = "paired"  # long-lived workers per side taking turns per round block
    PROCESS_BLOCKS = "process blocks"  # whole-suite processes: a base before paired workers


@dataclass
class ABResult:
    base_rev: str
    mode: ABMode = ABMode.PAIRED
    verdicts: list[Verdict] = field(default_factory=list)
    cost_changes: list[tuple[str, str, object, object]] = field(default_factory=list)
    base: Run | None = None
    head: Run | None = None
    reruns: list[str] = field(default_factory=list)  # cases re-measured to confirm
    unmatched: list[str] = field(default_factory=list)  # cases timed on one side only
    explained: list[Explained] = field(default_factory=list)  # flagged cases, attributed
    stale: list[str] = field(default_factory=list)  # acknowledged cases that did not change
    environment: list[tuple[str, str, str]] = field(default_factory=list)  # base vs head

    def write_json(self, path: Path) -> None:
        data = {
            "base": self.base_rev,
            "mode": self.mode,
            "verdicts": [v.as_dict() for v in self.verdicts],
            "cost_changes": self.cost_changes,
            "reruns": self.reruns,
            "unmatched": self.unmatched,
            "attribution": [e.to_dict() for e in self.explained],
            "stale": self.stale,
            "environment": self.environment,
        }
        path.write_text(json.dumps(data, indent=2, default=str))


def load_ab_json(path: Path) -> ABResult:
    """An ab.json file, also one written before verdict fields were renamed (``verdict`` is now
    ``outcome``, ``base_blocks`` / ``head_blocks`` are ``base_processes`` / ``head_processes``)."""
    data = json.loads(path.read_text())
    return ABResult(
        base_rev=data["base"],
        mode=ABMode(data.get("mode", ABMode.PAIRED)),
        verdicts=[Verdict.from_dict(v) for v in data.get("verdicts", [])],
        cost_changes=[tuple(c) for c in data.get("cost_changes", [])],
        reruns=list(data.get("reruns", [])),
        unmatched=list(data.get("unmatched", [])),
    )
