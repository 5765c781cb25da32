"""git for the A/B: revisions checked, and the base revision in a temporary worktree removed on
the way out (also on Ctrl-C or SIGTERM, which ``unet.cli.main`` turns into KeyboardInterrupt)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from unet.bench.ab.settings import ABError, ABUsageError


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode:
        raise ABError(f"git {' '.join(args)} failed: {proc.stderr.strip() or 'no message'}")
    return proc.stdout.strip()


def toplevel(path: Path) -> Path:
    """The root of the git working tree holding ``path``."""
    try:
        return Path(git(path, "rev-parse", "--show-toplevel"))
    except ABError:
        raise ABUsageError(f"{path} is not inside a git working tree") from None


def head_commit(repo: Path) -> str | None:
    """HEAD's commit id, marked ``-dirty`` when tracked files have changes; None outside git."""
    try:
        head = git(repo, "rev-parse", "HEAD")
        dirty = git(repo, "status", "--porcelain", "--untracked-files=no")
    except ABError:
        return None
    return head + ("-dirty" if dirty else "")


def resolve_revision(repo: Path, rev: str, option: str = "--base") -> str:
    """The commit id of ``rev``; ABUsageError naming it (as the value of ``option``) when git
    does not know it."""
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if proc.returncode or not proc.stdout.strip():
        raise ABUsageError(
            f"{option} {rev!r}: unknown revision; name a commit, branch or tag of {repo}, "
            "e.g. main or HEAD~1"
        )
    return proc.stdout.strip()


@contextlib.contextmanager
def base_worktree(repo: Path, sha: str) -> Iterator[Path]:
    """A detached worktree of commit ``sha`` in a temporary folder, removed on the way out."""
    folder = Path(tempfile.mkdtemp(prefix="unet-bench-ab-"))
    tree = folder / "base"
    try:
        git(repo, "worktree", "add", "--detach", str(tree), sha)
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)],
            capture_output=True,
        )
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
