"""The CUDA numerics settings that decide what "float32" computes, and how fast.

On Ampere and later GPUs (the H100/H200 included) a float32 convolution runs as TF32 unless told
otherwise: torch's defaults are TF32 on for cuDNN convolutions and off for matmuls, and
``NVIDIA_TF32_OVERRIDE=0`` in the environment turns it off for every library whatever torch says.
A change of any of them (a new torch default, a user's flag, a CI runner's environment) changes
timings without changing the code, so a CUDA run records them all (``settings``) and the ones that
change the arithmetic are part of its identity (``numerics_identity``): a comparison across them
is refused by name, like one across hardware, and they join the storage key when off torch's
defaults. ``cudnn.benchmark`` is recorded, not identity: the suite always turns it on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

# identity field -> torch's default; a run that lacks one was measured before it was recorded
DEFAULTS = {"tf32_conv": "on", "tf32_matmul": "off", "cudnn_deterministic": "off"}


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _conv_tf32() -> bool:
    """cuDNN convolutions may use TF32. torch >= 2.9 has a per-operator ``fp32_precision``; its
    legacy ``allow_tf32`` getter raises once the two APIs were mixed, so the new one decides."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    precision = getattr(conv, "fp32_precision", None) if conv is not None else None
    if precision in ("tf32", "ieee"):
        return precision == "tf32"
    return bool(torch.backends.cudnn.allow_tf32)


def _matmul_tf32() -> bool:
    precision = getattr(torch.backends.cuda.matmul, "fp32_precision", None)
    if precision in ("tf32", "ieee"):
        return precision == "tf32"
    return bool(torch.backends.cuda.matmul.allow_tf32)


def tf32_override() -> str | None:
    """``NVIDIA_TF32_OVERRIDE`` as set, or None; "0" disables TF32 in cuDNN and cuBLAS."""
    return os.environ.get("NVIDIA_TF32_OVERRIDE")


def numerics_identity() -> dict[str, str]:
    """The settings that change what a CUDA float32 case computes, as in force: TF32 for
    convolutions and matmuls (after ``NVIDIA_TF32_OVERRIDE``) and deterministic cuDNN."""
    forced_off = tf32_override() == "0"
    return {
        "tf32_conv": _on(_conv_tf32() and not forced_off),
        "tf32_matmul": _on(_matmul_tf32() and not forced_off),
        "cudnn_deterministic": _on(bool(torch.backends.cudnn.deterministic)),
    }


def settings() -> dict[str, object]:
    """Everything recorded with a CUDA run: the identity above and the raw flags behind it."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    return {
        **numerics_identity(),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "conv_fp32_precision": getattr(conv, "fp32_precision", None) if conv else None,
        "matmul_fp32_precision": getattr(torch.backends.cuda.matmul, "fp32_precision", None),
        "NVIDIA_TF32_OVERRIDE": tf32_override(),
    }


def numerics_key_parts(info: dict[str, str]) -> list[str]:
    """The storage-key parts of the identity settings that are off torch's defaults, e.g.
    ``["tf32_conv_off"]``; none for a run at the defaults (or one recorded before them)."""
    return [
        f"{field}_{info[field]}"
        for field, default in DEFAULTS.items()
        if info.get(field, default) != default
    ]


@contextlib.contextmanager
def full_fp32() -> Iterator[None]:
    """TF32 off for convolutions and matmuls inside, restored after: for checks of float32
    results against a float64 reference, which TF32's 10-bit mantissa would fail."""
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul
