"""How quantities are written for a reader: one formatter per unit, shared by every table and
message (no torch, no files)."""

from __future__ import annotations


def mib(nbytes: object) -> str:
    """Bytes as MiB with one decimal (what a reader compares); anything else as is."""
    return f"{nbytes / 2**20:.1f} MiB" if isinstance(nbytes, int) else str(nbytes)


def ms(seconds: float) -> str:
    """Seconds as milliseconds, four significant digits."""
    return f"{seconds * 1e3:.4g} ms"
