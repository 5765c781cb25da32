"""``unet-bench bisect``: the first commit between a good and a bad revision at which cases got
slower or changed cost.

- ``search``: the bisection and each step's decision, free of processes (tested with fakes);
- ``measure``: one step's evidence: a paired A/B against the good revision, or the exact costs;
- ``command``: the arguments, the revision checks, the run and its report.
"""
