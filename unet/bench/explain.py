"""``unet-bench explain CASE [--base REV] [--device D]``: where one case's time goes.

Without ``--base``: one profile of the working tree, the operators with the most self time and
their share of a call. With ``--base``: the base revision (in a temporary worktree) and the
working tree, each profiled by its own suite, taking turns, and the operators whose self time
changed most. Both write the table as explain.md and explain.json, and the Chrome traces beside.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import TextIO

from unet.bench.ab.git import base_worktree, resolve_revision, toplevel
from unet.bench.ab.profiling import PROFILE_TURNS, can_profile, profile_in_turns
from unet.bench.errors import UsageError
from unet.bench.invoke import EXAMPLE, CaseRef, collected, resolve_case
from unet.bench.output.render import explained_markdown
from unet.bench.results.explained import Explained, attribute_sides, explain_one, repro_command


class ExplainError(UsageError):
    """A case or base that explain cannot use; the message says why (exit 4)."""


def check_collected(tree: Path, ref: CaseRef, device: str) -> None:
    """ExplainError for a case the suite does not have, naming the nearest it has, before
    anything is created or profiled."""
    ids = collected(tree, device=device, options=ref.options)
    if ref.node_id in ids:
        return
    names = [node.rsplit("::", 1)[-1] for node in ids]
    near = difflib.get_close_matches(ref.name, names, n=3, cutoff=0.5)
    hint = f"nearest: {', '.join(near)}" if near else f"e.g. 'test_model[{EXAMPLE}]'"
    raise ExplainError(f"CASE {ref.name!r}: not a case of this suite; {hint}")


def explain(
    case: str,
    base: str | None,
    device: str,
    out: Path,
    turns: int = PROFILE_TURNS,
    log: TextIO = sys.stderr,
) -> Explained:
    """Profile ``case`` (against ``base`` when given) and write explain.md / explain.json."""
    head_tree = toplevel(Path.cwd())
    ref = resolve_case(head_tree, case)
    sha = resolve_revision(head_tree, base) if base else None
    check_collected(head_tree, ref, device)
    out.mkdir(parents=True, exist_ok=True)
    repro = repro_command(ref.name, base, device)
    print(f"unet-bench explain: profiling {ref.name} on {device}", file=log, flush=True)
    if sha is None:
        found = profile_in_turns(
            {"head": head_tree}, {"head": [ref.node_id]}, out, device, ref.options, turns=1
        )
        profile = found["head"].get(ref.name)
        if profile is None:
            raise ExplainError(f"CASE {case!r}: the suite did not run it; see {out}/profiles")
        explained = explain_one(profile, ref.name, repro)
    else:
        with base_worktree(head_tree, sha) as base_tree:
            if not can_profile(base_tree):
                raise ExplainError(f"--base {base!r}: that revision predates profiling")
            trees = {"base": base_tree, "head": head_tree}
            node_ids = {side: [ref.node_id] for side in trees}
            found = profile_in_turns(trees, node_ids, out, device, ref.options, turns)
        explained = attribute_sides(found, ref.name, f"against {base}", repro)
    write_explained(out, [explained], title=f"explain {ref.name}")
    return explained


def write_explained(out: Path, items: list[Explained], title: str) -> None:
    (out / "explain.md").write_text(explained_markdown(items, title) + "\n")
    (out / "explain.json").write_text(json.dumps([i.to_dict() for i in items], indent=2) + "\n")
