"""Defaults that the commands' ``--help`` shows, kept where reading them imports nothing heavy
(no torch, numpy or pytest-benchmark): ``unet-bench --help`` stays instant."""

MIN_EFFECT = 0.03  # smallest relative change of the median that counts (3 %)
DEFAULT_BLOCKS = 6  # A/B round blocks per case and side: even (ABBA), at least 5 rounds in all
PAIRED_WORKERS = 2  # A/B worker processes per side in the first generation (every case)
# ... and in each later one (the unsettled cases only): a worker start is most of such a
# generation's cost, and two processes a side gave a look too few degrees of freedom to call a
# 10 % slowdown at the sequential level (see stats/sequential.py)
LATER_PAIRED_WORKERS = 4
# A/B: a side's rounds of a case in one generation, as a share of what one suite run times. The
# process, not the round, is the unit of an A/B verdict: rounds past a steady process median buy
# nothing, another generation of processes does (see stats/sequential.py)
AB_ROUNDS_SHARE = 0.2
DEFAULT_STORAGE = ".benchmarks"  # pytest-benchmark's default storage folder
# verdicts between runs (stats/floors.py): a floor's two-sided false-alarm rate per case; over 42
# cases a false regression in fewer than 1 in 20 comparisons of unchanged code (42 x 0.001)
FLOOR_ALPHA = 0.002
UNSTABLE_LIMIT = 0.25  # a floor above this makes a case's verdicts coin flips: not gated
MIN_PROCESSES = 4  # fewer processes than this cannot estimate a spread worth a verdict

# what a verdict can judge (--gate-on): the median, or a tail percentile of the rounds
GATE_STATISTICS = ("median", "p90", "p99")
