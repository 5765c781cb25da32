"""Which hardware a run came from, and the storage key that keeps runs of different hardware apart.

Latency is only comparable on the same device, driver and software stack, so every saved run
carries these fields and is stored under a key built from them.
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

# The fields whose difference makes two runs' latencies incomparable.
CUDA_FIELDS = ("device", "device_name", "capability", "driver", "cuda", "cudnn", "torch")
CPU_FIELDS = ("device", "cpu", "torch", "threads")


def resolve_device(name: str) -> torch.device:
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'; ValueError otherwise."""
    from unet.choices import unsupported

    if name not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", name):
        raise ValueError(unsupported("--device", name, ["auto", "cpu", "cuda", "cuda:N"]))
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"--device {name}: no CUDA device is available (torch {torch.__version__}, "
            f"CUDA build: {torch.version.cuda or 'no'}). Use --device cpu or --device auto."
        )
    return torch.device(name)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def cuda_driver() -> str:
    try:
        import pynvml  # type: ignore[import-not-found]  # optional, ships with nvidia-ml-py

        pynvml.nvmlInit()
        return str(pynvml.nvmlSystemGetDriverVersion())
    except Exception:
        pass
    try:
        return Path("/proc/driver/nvidia/version").read_text().split("Kernel Module")[1].split()[0]
    except (OSError, IndexError):
        return "unknown"


def hardware_info(device: torch.device | str) -> dict[str, str]:
    """The fields that identify ``device`` and the software that drives it."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return {
            "device": "cuda",
            "device_name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "driver": cuda_driver(),
            "cuda": str(torch.version.cuda),
            "cudnn": str(torch.backends.cudnn.version()),
            "torch": torch.__version__,
        }
    return {
        "device": "cpu",
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


def hardware_key(info: dict[str, str]) -> str:
    """A readable folder name, e.g.
    'cuda-NVIDIA_H200-sm9.0-drv570.86-cu12.8-cudnn91002-torch2.11.0' or 'cpu-AMD_EPYC-...'."""
    if info["device"] == "cuda":
        parts = [
            "cuda",
            info["device_name"],
            f"sm{info['capability']}",
            f"drv{info['driver']}",
            f"cu{info['cuda']}",
            f"cudnn{info['cudnn']}",
            f"torch{info['torch']}",
        ]
    else:
        parts = ["cpu", info["cpu"], f"torch{info['torch']}", f"threads{info['threads']}"]
    return "-".join(_slug(p) for p in parts)


def differing_fields(ours: dict[str, str], theirs: dict[str, str]) -> dict[str, tuple[str, str]]:
    """field -> (theirs, ours) for every identifying field that differs (or one side lacks)."""
    devices = {ours.get("device"), theirs.get("device")}
    fields = (
        CUDA_FIELDS
        if devices == {"cuda"}
        else CPU_FIELDS
        if devices == {"cpu"}
        else (*CPU_FIELDS, *CUDA_FIELDS[1:])
    )
    return {
        f: (theirs.get(f, "<missing>"), ours.get(f, "<missing>"))
        for f in fields
        if ours.get(f) != theirs.get(f)
    }


def other_hardware_message(
    subject: str, diff: dict[str, tuple[str, str]], labels: tuple[str, str] = ("saved", "here")
) -> str:
    """The refusal to compare latencies across hardware: ``subject`` (e.g. "the saved run is
    from other hardware"), each differing field with its two values, and the way out."""
    old, new = labels
    fields = "; ".join(f"{f}: {old} {a!r}, {new} {b!r}" for f, (a, b) in diff.items())
    return (
        f"{subject} ({fields}). Latencies are only comparable on the same hardware: compare "
        "runs of one hardware key, or pass --allow-other-hardware to compare anyway."
    )
