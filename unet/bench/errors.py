"""The errors every command raises and the one map from them to exit codes.

| exit | meaning                                                                 |
|------|-------------------------------------------------------------------------|
| 0    | nothing found: no regression, no cost change (``bisect``: none between  |
|      | the ends)                                                               |
| 1    | a regression or a cost change found (``bisect``: its first commit named) |
| 2    | the tool itself failed: a suite that crashed, a git command that failed |
| 4    | a usage error: a bad option, revision, case or file; nothing created    |
| 130  | interrupted (Ctrl-C or SIGTERM); children and worktrees cleaned up       |

The suite (``pytest benchmarks``) keeps pytest's own codes, which agree on 0, 1 and 4;
``unet-bench run`` maps the rest (``from_pytest``).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

NOTHING_FOUND, FOUND, TOOL_FAILED, USAGE, INTERRUPTED = 0, 1, 2, 4, 130


class UsageError(Exception):
    """Asked for something that cannot be; the command prints it and exits 4."""


class ToolError(Exception):
    """The tool could not do its work (a crashed suite, a failing git); exit 2."""


# pytest's ExitCode: OK, TESTS_FAILED, INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR, NO_TESTS_COLLECTED
_PYTEST = {0: NOTHING_FOUND, 1: FOUND, 2: INTERRUPTED, 3: TOOL_FAILED, 4: USAGE, 5: USAGE}


def from_pytest(code: int) -> int:
    """The command's exit code for a suite that exited ``code`` (no tests collected: the
    selection named none, a usage error)."""
    return _PYTEST.get(code, TOOL_FAILED)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI runner cancelling the job) unwinds like Ctrl-C, so cleanup runs."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
