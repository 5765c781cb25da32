"""What a bisection found and the evidence of each step, as Markdown and JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from unet.bench.bisect.search import Evidence


@dataclass
class Found:
    kind: str  # "slower" or "cost"
    commit: str
    subject: str
    cases: list[str]
    declared: str = ""  # the reason the commit gave for this change, where it declared it


@dataclass
class Bisection:
    good: str
    bad: str
    commits: list[str]  # good first, bad last, first-parent order
    evidence: list[Evidence] = field(default_factory=list)
    found: list[Found] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "good": self.good,
            "bad": self.bad,
            "commits": self.commits,
            "found": [asdict(f) for f in self.found],
            "evidence": [asdict(e) for e in self.evidence],
        }


def markdown(b: Bisection, seconds: float) -> str:
    head = (
        f"## Bisect: `{b.good[:7]}` (good) .. `{b.bad[:7]}` (bad), "
        f"{len(b.commits) - 2} commit(s) between"
    )
    lines = [head, ""]
    what = {"slower": "First slower commit", "cost": "First commit that changed costs"}
    for f in b.found:
        lines.append(f"**{what[f.kind]}: `{f.commit[:7]}` {f.subject}** ({', '.join(f.cases)})")
        if f.declared:
            lines.append(f"It declared the change (benchmarks/expected_changes.toml): {f.declared}")
    if not b.found:
        lines.append("**No regression between the ends**: no case is slower and no cost changed.")
    lines += ["", "| # | commit | subject | measured | decision | evidence |", "|---" * 6 + "|"]
    for i, e in enumerate(b.evidence, 1):
        measured = f"{e.measured}, {e.blocks} blocks" if e.blocks else e.measured
        first, *more = [*e.detail, *([f"*{e.note}*"] if e.note else [])] or [""]
        lines.append(
            f"| {i} | `{e.commit[:7]}` | {e.subject} | {measured} | {e.decision} | {first} |"
        )
        lines += [f"| | | | | | {line} |" for line in more]  # one row per case: readable as text
    lines += ["", f"{len(b.evidence)} measurement(s), {seconds:.0f} s wall."]
    return "\n".join(lines)
