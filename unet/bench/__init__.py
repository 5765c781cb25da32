"""The benchmark suite's machinery, in layers; a module imports only from its own layer or the
ones below it (import-linter contracts in ``pyproject.toml``, checked by ``make lint``):

1. ``commands`` — one module per ``unet-bench`` command;
2. ``bisect``, ``explain``, ``history`` — what runs many suites or reads many runs;
3. ``ab`` — the same-runner A/B: worktree, paired worker processes, profiles in turns;
4. ``invoke`` — the suite's command line for child processes, and its case names;
5. ``suite`` — the pytest side: plugin hooks, options, the run's state, the gates;
6. ``output`` — tables, reports and plots;
7. ``measure`` — one case measured in this process (runner, timing, counters, profiles);
8. ``results`` — run files, storage, the cost manifest, a run's identity, explained cases;
9. ``stats`` — verdicts and attribution as pure functions (no torch, no files);
10. ``errors``, ``defaults``, ``values``, ``units``, ``pbcompat`` — exit codes, defaults, option
    types, unit formatters, and the one seam to pytest-benchmark's internals.
"""
