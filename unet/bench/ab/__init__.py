"""Same-runner A/B of a base revision against the working tree.

- ``runner``: the entry point (``run_ab``): worktree, mode, verdicts;
- ``schedule``: the turn-taking of paired workers, without processes;
- ``coordinator``: the worker processes, the select loop and their teardown;
- ``worker``: the suite's side of the paired protocol;
- ``legacy``: process blocks, for a base from before the paired protocol;
- ``settings``, ``git``, ``result``: what was asked, the base worktree, what was found.
"""
