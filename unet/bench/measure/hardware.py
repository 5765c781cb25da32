"""Which hardware a run came from, and the storage key that keeps runs of different hardware apart.

Latency is only comparable on the same device, driver and software stack, so every saved run
carries these fields and is stored under a key built from them.
"""

from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import torch

from unet.bench.measure.precision import DEFAULTS as NUMERICS_DEFAULTS
from unet.bench.measure.precision import numerics_identity, numerics_key_parts

# The fields whose difference makes two runs' latencies incomparable. The last three are the
# CUDA numerics settings (precision.py): TF32 turns "float32" convs and matmuls into other
# arithmetic, and deterministic cuDNN restricts the algorithms.
CUDA_FIELDS = (
    "device",
    "device_name",
    "capability",
    "driver",
    "cuda",
    "cudnn",
    "torch",
    "tf32_conv",
    "tf32_matmul",
    "cudnn_deterministic",
)
CPU_FIELDS = ("device", "cpu", "torch", "threads")
# NVML / nvidia-smi compute modes
COMPUTE_MODES = {0: "default", 1: "exclusive_thread", 2: "prohibited", 3: "exclusive_process"}


def resolve_device(name: str, touch: bool = True) -> torch.device:
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'; ValueError otherwise,
    also when the CUDA device named cannot run work (``preflight``; ``touch``: allocate on it,
    which a process that only starts others must not do: its context would hold a GPU in
    exclusive-process mode against them)."""
    from unet.bench.values import check_device_name

    check_device_name(name)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"--device {name}: no CUDA device is available (torch {torch.__version__}, "
            f"CUDA build: {torch.version.cuda or 'no'}). Use --device cpu or --device auto."
        )
    device = torch.device(name)
    if device.type == "cuda":
        preflight(device, name, touch)
    return device


def device_uuid(index: int) -> str | None:
    """torch's UUID of CUDA device ``index``, as torch prints it (NVML's without the ``GPU-`` or
    ``MIG-`` prefix, which torch does not say: a MIG instance's looks like a GPU's)."""
    uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
    return str(uuid) if uuid is not None else None


def nvml_handle(nvml: Any, uuid: str | None, index: int) -> tuple[Any, str | None]:
    """NVML's handle of the device torch calls ``uuid`` (tried as a GPU, then as a MIG
    instance), and the UUID NVML knows it by; by ``index`` where torch gives no UUID. Raises
    what NVML raises when it knows neither."""
    if uuid is None:
        return nvml.nvmlDeviceGetHandleByIndex(index), None
    names = [uuid] if uuid.startswith(("GPU-", "MIG-")) else [f"GPU-{uuid}", f"MIG-{uuid}"]
    for name in names[:-1]:
        try:
            return nvml.nvmlDeviceGetHandleByUUID(name), name
        except Exception:  # NVMLError_NotFound: try the next form
            continue
    return nvml.nvmlDeviceGetHandleByUUID(names[-1]), names[-1]


def compute_mode(index: int) -> str | None:
    """The compute mode of CUDA device ``index`` without creating a CUDA context (NVML, else
    nvidia-smi): 'default', 'exclusive_process', 'prohibited'; None where neither answers."""
    uuid = device_uuid(index)
    try:
        import pynvml  # type: ignore[import-not-found]  # optional, ships with nvidia-ml-py

        pynvml.nvmlInit()
        handle, _ = nvml_handle(pynvml, uuid, index)
        return COMPUTE_MODES.get(int(pynvml.nvmlDeviceGetComputeMode(handle)))
    except Exception:  # no package, no driver library, a MIG handle: ask nvidia-smi
        pass
    # by UUID: CUDA_VISIBLE_DEVICES renumbers devices for torch, not for nvidia-smi
    which = str(index) if uuid is None else uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
    query = ["nvidia-smi", "--query-gpu=compute_mode", "--format=csv,noheader", "-i", which]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip().lower().replace(" ", "_")
    return text if out.returncode == 0 and text in COMPUTE_MODES.values() else None


def _touch(device: torch.device) -> None:
    """Allocate and compute on ``device``: the first thing a busy or locked GPU refuses."""
    (torch.ones(8, device=device) * 2).sum().item()


def preflight(device: torch.device, name: str, touch: bool = True) -> None:
    """ValueError, in a sentence, when CUDA ``device`` cannot run this suite: an index this
    machine lacks, a GPU in 'prohibited' compute mode, or one that refuses work (busy, held
    by another process in exclusive mode, or broken)."""
    count = torch.cuda.device_count()
    index = device.index if device.index is not None else torch.cuda.current_device()
    if not 0 <= index < count:
        have = ", ".join(f"cuda:{i}" for i in range(count)) or "none"
        raise ValueError(
            f"--device {name}: this machine has {count} CUDA device(s) ({have}); "
            "choose one of them, or --device cuda for the current one."
        )
    mode = compute_mode(index)
    if mode == "prohibited":
        raise ValueError(
            f"--device {name}: the GPU is in 'prohibited' compute mode and accepts no work; "
            "ask its administrator (nvidia-smi -c DEFAULT) or choose another device."
        )
    try:
        if touch:
            _touch(device)
    except Exception as err:  # torch.AcceleratorError / RuntimeError from the driver
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        exclusive = mode in ("exclusive_process", "exclusive_thread")
        held = " another process holds it in exclusive-process mode, or" if exclusive else ""
        raise ValueError(
            f"--device {name}: the GPU refused a first allocation ({first}):{held} it is busy "
            "or unavailable. Check nvidia-smi for other processes, or choose another device."
        ) from None


def exclusive_process_refusal(name: str, processes: int) -> str | None:
    """Why a command that runs ``processes`` suites on the GPU at once cannot use device
    ``name`` (a GPU in exclusive-process compute mode admits one); None when it can."""
    device = resolve_device(name, touch=False)
    if device.type != "cuda":
        return None
    index = device.index if device.index is not None else torch.cuda.current_device()
    if compute_mode(index) != "exclusive_process":
        return None
    return (
        f"--device {name}: the GPU is in exclusive-process compute mode, which admits one "
        f"process at a time, and this command runs {processes} worker processes on it at once. "
        "Set the default compute mode (nvidia-smi -c DEFAULT), or use another GPU."
    )


def driver_from_proc(text: str) -> str:
    """The driver version in /proc/driver/nvidia/version, proprietary ("... Kernel Module
    570.86.15 ...") or open ("... Open Kernel Module for x86_64  580.65.06 ...")."""
    found = re.search(r"Kernel Module\b.*?\s(\d+\.\d+(?:\.\d+)*)\b", text)
    return found.group(1) if found else "unknown"


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
        return driver_from_proc(Path("/proc/driver/nvidia/version").read_text())
    except OSError:
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
            **numerics_identity(),
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
            *numerics_key_parts(info),
        ]
    else:
        parts = ["cpu", info["cpu"], f"torch{info['torch']}", f"threads{info['threads']}"]
    return "-".join(_slug(p) for p in parts)


def differing_fields(ours: dict[str, str], theirs: dict[str, str]) -> dict[str, tuple[str, str]]:
    """field -> (theirs, ours) for every identifying field that differs (or one side lacks; a
    numerics setting that a run lacks was at torch's default, recorded before it was)."""
    devices = {ours.get("device"), theirs.get("device")}
    fields = (
        CUDA_FIELDS
        if devices == {"cuda"}
        else CPU_FIELDS
        if devices == {"cpu"}
        else (*CPU_FIELDS, *CUDA_FIELDS[1:])
    )

    def value(info: dict[str, str], f: str) -> str:
        return info.get(f, NUMERICS_DEFAULTS.get(f, "<missing>"))

    return {
        f: (value(theirs, f), value(ours, f)) for f in fields if value(ours, f) != value(theirs, f)
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
