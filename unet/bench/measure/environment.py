"""What a run's timings depend on besides the code and the hardware key: read once per run and
recorded in ``machine_info["unet_bench"]["environment"]``, so that every comparison can list
what differs (``results.environment``).

CPU: the frequency governor and the maximum frequency (sysfs), torch's intra- and inter-op
threads. CUDA: the power limit and the application clocks (NVML, where readable). Both: the
environment variables known to change timings, where set. A field that cannot be read is left
out, never guessed.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

# environment variables that change what a timed call does
TIMING_VARIABLES = (
    "CUDA_LAUNCH_BLOCKING",
    "CUDA_VISIBLE_DEVICES",
    "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_TF32_OVERRIDE",
    "PYTORCH_CUDA_ALLOC_CONF",
    "TORCH_CUDNN_V8_API_DISABLED",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "KMP_AFFINITY",
    "GOMP_CPU_AFFINITY",
    "ONEDNN_MAX_CPU_ISA",
    "TORCHINDUCTOR_MAX_AUTOTUNE",
)
CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_environment(cpufreq: Path = CPUFREQ) -> dict[str, str]:
    out = {
        "python": platform.python_version(),
        "interop_threads": str(torch.get_num_interop_threads()),
    }
    if governor := _read(cpufreq / "scaling_governor"):
        out["cpu_governor"] = governor
    if khz := _read(cpufreq / "scaling_max_freq"):
        out["cpu_max_mhz"] = str(int(khz) // 1000)
    return out


def gpu_environment(telemetry: Any) -> dict[str, str]:
    """The power limit and application clocks of the telemetry's GPU, where NVML reads them."""
    if telemetry is None:
        return {}
    nvml, handle, out = telemetry.nvml, telemetry.handle, {}
    reads = {
        "gpu_power_limit_w": lambda: nvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000,
        "gpu_app_sm_clock_mhz": lambda: nvml.nvmlDeviceGetApplicationsClock(
            handle, nvml.NVML_CLOCK_SM
        ),
        "gpu_app_mem_clock_mhz": lambda: nvml.nvmlDeviceGetApplicationsClock(
            handle, nvml.NVML_CLOCK_MEM
        ),
    }
    for name, read in reads.items():
        try:
            out[name] = f"{read():g}"
        except Exception:  # not supported on this GPU or driver, or no permission
            continue
    return out


def environment(telemetry: Any = None, env: Any = os.environ) -> dict[str, str]:
    """Everything above for this process."""
    out = cpu_environment()
    out.update(gpu_environment(telemetry))
    out.update({f"env:{name}": env[name] for name in TIMING_VARIABLES if name in env})
    return out
