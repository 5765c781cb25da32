"""``unet-bench explain CASE [--base REV] [--device D]``: where one case's time goes.

Without ``--base``: one profile of the working tree, the operators with the most self time and
their share of a call. With ``--base``: the base revision (in a temporary worktree) and the
working tree, each profiled by its own suite, taking turns, and the operators whose self time
changed most. Both write the table as explain.md and explain.json, and the Chrome traces beside.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from unet.bench.ab.git import base_worktree, resolve_revision, toplevel
from unet.bench.attribution import (
    PROFILE_TURNS,
    Explained,
    ProfileError,
    attribute_sides,
    explain_one,
    profile_in_turns,
    repro_command,
)
from unet.bench.errors import UsageError
from unet.bench.invoke import collected
from unet.bench.render import attribution_text

# a bare case id's first setting -> the benchmark that takes it
FUNCTIONS = {"conv": "test_model", "norm": "test_norm", "up": "test_upsample"}
EXAMPLE = "conv=standard-norm=batch-up=interpolate-bs=1"


class ExplainError(UsageError):
    """A case or base that explain cannot use; the message says why (exit 4)."""


@dataclass(frozen=True)
class CaseRef:
    name: str  # test_model[conv=...-bs=1]
    node_id: str  # benchmarks/test_model.py::test_model[conv=...-bs=1]
    options: tuple[str, ...]  # suite options under which the case exists


def resolve_case(tree: Path, case: str) -> CaseRef:
    """CASE as a full name (``test_model[...]``) or a bare id (``conv=...-bs=1``)."""
    if "[" in case:
        function, case_id = case.split("[", 1)
        case_id = case_id.removesuffix("]")
    else:
        function, case_id = FUNCTIONS.get(case.split("=")[0], ""), case
    files = [
        path
        for path in sorted((tree / "benchmarks").glob("test_*.py"))
        if function and re.search(rf"^def {re.escape(function)}\(", path.read_text(), re.M)
    ]
    if not files:
        raise ExplainError(
            f"CASE {case!r}: no such benchmark; give a case name as the suite prints it, e.g. "
            f"'test_model[{EXAMPLE}]' or just '{EXAMPLE}'"
        )
    batch = re.search(r"bs=(\d+)", case_id)  # the case exists only under its batch size
    options = ("--batch-sizes", batch.group(1)) if batch else ()
    name = f"{function}[{case_id}]"
    return CaseRef(name, f"benchmarks/{files[0].name}::{name}", options)


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
    try:
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
                if not (base_tree / "unet" / "bench" / "profile.py").exists():
                    raise ExplainError(f"--base {base!r}: that revision predates profiling")
                trees = {"base": base_tree, "head": head_tree}
                node_ids = {side: [ref.node_id] for side in trees}
                found = profile_in_turns(trees, node_ids, out, device, ref.options, turns)
            explained = attribute_sides(found, ref.name, f"against {base}", repro)
    except ProfileError as err:
        raise ExplainError(f"CASE {case!r}: {err}") from None
    write_explained(out, [explained], title=f"explain {ref.name}")
    return explained


def explained_markdown(items: list[Explained], title: str) -> str:
    lines = [f"## {title}", ""]
    for item in items:
        if item.attribution is not None:
            lines += [attribution_text(item.attribution, markdown=True), ""]
        else:
            lines += [f"**{item.case}** ({item.reason}): not attributed: {item.note}", ""]
        lines += [f"Repro: `{item.repro}`", ""]
    return "\n".join(lines)


def write_explained(out: Path, items: list[Explained], title: str) -> None:
    (out / "explain.md").write_text(explained_markdown(items, title) + "\n")
    (out / "explain.json").write_text(json.dumps([i.to_dict() for i in items], indent=2) + "\n")
