"""Helpers of the benchmark suite in benchmarks/: hardware keys, timing, the cost manifest."""
