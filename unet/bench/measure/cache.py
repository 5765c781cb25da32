"""``--cache cold``: the caches evicted before every timed call, outside the timed region.

A served model's request rarely finds its weights in cache; back-to-back rounds always do. So a
cold run writes a buffer at least twice the cache that holds the model — the GPU's L2 on CUDA
(as triton's ``do_bench`` and nvbench flush it), the last-level cache on a CPU — in
pytest-benchmark's untimed per-round ``setup``, and times one call per round. The rounds are
sized so that a case's wall time, evictions included, stays near pytest-benchmark's max time
(a 960 MiB write takes tens of milliseconds, many times a small case's call).

The buffer is allocated once per run; a write of every byte (``fill_``) pushes the previous
round's lines out, and on CUDA a synchronize makes the write finish before the timed call starts.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

CACHES = ("warm", "cold")
EVICT_FACTOR = 2  # the buffer is this many times the cache
FALLBACK_BYTES = 64 * 2**20  # a cache size where the machine reports none
CPU_CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")


def _size_bytes(text: str) -> int:
    """sysfs cache sizes: '32K', '2048K', '36M'."""
    text = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def last_level_cache_bytes(cache_dir: Path = CPU_CACHE_DIR) -> tuple[int, str]:
    """The CPU's largest cache (sysfs, else sysconf), and where the figure came from."""
    sizes = []
    for index in sorted(cache_dir.glob("index*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = _size_bytes((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Unified", "Data"):
            sizes.append((level, size))
    if sizes:
        level, size = max(sizes)
        return size, f"L{level} {size // 2**20} MiB (sysfs)"
    try:
        size = os.sysconf("SC_LEVEL3_CACHE_SIZE")
    except (ValueError, OSError):
        size = 0
    if size > 0:
        return size, f"L3 {size // 2**20} MiB (sysconf)"
    return FALLBACK_BYTES, f"unknown, {FALLBACK_BYTES // 2**20} MiB assumed"


def l2_cache_bytes(device: torch.device) -> tuple[int, str]:
    size = int(getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or 0)
    if size > 0:
        return size, f"L2 {size / 2**20:.0f} MiB"
    return FALLBACK_BYTES, f"L2 unknown, {FALLBACK_BYTES // 2**20} MiB assumed"


@dataclass
class Evictor:
    """Writes ``buffer`` (``EVICT_FACTOR`` times the cache it evicts) on every ``evict``."""

    buffer: torch.Tensor
    cache: str  # what is evicted, for the run's header: "L2 50 MiB"
    evictions: int = 0
    seconds: float = 0.0  # one eviction's wall time, measured when built

    def __post_init__(self) -> None:
        times = []
        for _ in range(3):  # the first write also faults the buffer's pages in
            start = time.perf_counter()
            self.evict()
            times.append(time.perf_counter() - start)
        self.seconds, self.evictions = min(times), 0

    @classmethod
    def for_device(cls, device: torch.device) -> Evictor:
        if device.type == "cuda":
            size, cache = l2_cache_bytes(device)
        else:
            size, cache = last_level_cache_bytes()
        buffer = torch.empty(EVICT_FACTOR * size, dtype=torch.uint8, device=device)
        return cls(buffer, cache)

    @property
    def nbytes(self) -> int:
        return self.buffer.numel()

    def evict(self) -> None:
        """Overwrite the whole buffer (a new value each time, so no write can be skipped)."""
        self.evictions += 1
        self.buffer.fill_(self.evictions % 251)
        if self.buffer.device.type == "cuda":
            torch.cuda.synchronize(self.buffer.device)

    def describe(self) -> str:
        return (
            f"cold caches: {self.nbytes / 2**20:.0f} MiB written before every timed call "
            f"({EVICT_FACTOR}x the {self.cache}; {self.seconds * 1e3:.1f} ms each, untimed)"
        )
