"""Defaults that the commands' ``--help`` shows, kept where reading them imports nothing heavy
(no torch, numpy or pytest-benchmark): ``unet-bench --help`` stays instant."""

MIN_EFFECT = 0.03  # smallest relative change of the median that counts (3 %)
DEFAULT_BLOCKS = 6  # A/B round blocks per case and side: even (ABBA), at least 5 rounds in all
PAIRED_WORKERS = 2  # A/B worker processes per side
DEFAULT_STORAGE = ".benchmarks"  # pytest-benchmark's default storage folder
