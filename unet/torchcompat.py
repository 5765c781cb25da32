"""The one seam to torch beyond its public API, and the torch releases the suite supports.

The suite counts operators below autograd (``TorchDispatchMode``), walks the profiler's raw
events, reads dynamo's and inductor's tallies and resets dynamo between cases. None of that is
torch's documented interface, so every such use lives here and nowhere else (a test keeps it
so): an upgrade that moves one of them breaks one module, and the version differences are
handled in one place.

**The floor: torch 2.5**, set by the profiler's raw events: ``end_ns`` and
``is_user_annotation`` first appear in 2.5 (the ``torch/_C/_autograd.pyi`` of the 2.4.1 wheel
has neither). Without them per-operator profiles cannot be nested, and a GPU-side
``record_function`` span would count as a kernel: the suite would attribute time wrongly
instead of failing, so below 2.5 it refuses to start (``version_problem``). Each private API
below says where its behaviour at the floor was checked: in the torch 2.5.1 wheel from PyPI
(cited as ``2.5.1: <file>``), whose sources were read on this project's machine and on which
the unit tests were run.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from packaging.version import InvalidVersion, Version

# 2.5.1: torch/utils/_python_dispatch.py defines TorchDispatchMode with
# __torch_dispatch__(func, types, args=(), kwargs=None), entered with `with mode:`;
# torch/utils/_pytree.py defines tree_leaves; torch/multiprocessing/reductions.py defines
# StorageWeakRef(storage) with .cdata and .expired()
try:
    from torch.multiprocessing.reductions import StorageWeakRef
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves
except ImportError:  # a torch far below the floor: still importable, so that it is refused
    StorageWeakRef = TorchDispatchMode = object  # type: ignore[assignment,misc]
    tree_leaves = None  # type: ignore[assignment]

__all__ = ["StorageWeakRef", "TorchDispatchMode", "tree_leaves"]  # and the functions below

MINIMUM = Version("2.5")
NEWEST_TESTED = Version("2.15")  # cpu.yml's newest end; a newer torch runs, with a note
REQUIREMENT = f"torch>={MINIMUM}"
INSTALL = (
    f"pip install '{REQUIREMENT}' --index-url https://download.pytorch.org/whl/cpu (the CPU "
    "build; on a GPU machine, the CUDA build for its driver)"
)


def release(version: str) -> Version | None:
    """``2.13.0+cpu`` -> 2.13.0; None for a version string packaging cannot read."""
    try:
        return Version(Version(version).base_version)
    except InvalidVersion:
        return None


def version_problem(version: str) -> str | None:
    """Why torch ``version`` is outside the supported range, or None."""
    found = release(version)
    if found is not None and found >= MINIMUM:
        return None
    return (
        f"unet-bench needs torch >={MINIMUM} (tested {MINIMUM} to {NEWEST_TESTED}); found "
        f"{version}. Install a supported torch: {INSTALL}"
    )


def version_note(version: str) -> str | None:
    """A note for a torch newer than any this suite was tested with (it runs anyway)."""
    found = release(version)
    newest = (NEWEST_TESTED.major, NEWEST_TESTED.minor)
    if found is None or (found.major, found.minor) <= newest:
        return None
    return f"torch {version} is newer than the newest tested ({NEWEST_TESTED}); please report"


# --- the profiler's raw events ----------------------------------------------------------------
# 2.5.1: torch/_C/_autograd.pyi declares _KinetoEvent.name, device_type, start_ns, end_ns,
# duration_ns, correlation_id, linked_correlation_id, start_thread_id and is_user_annotation
# (2.4.1's lacks end_ns and is_user_annotation); is_hidden_event is newer (absent in 2.6.0's,
# present in 2.13's): where absent, no event is hidden. torch/autograd/profiler.py sets
# profile.kineto_results when the profiler stops, in 2.5.1 as in 2.13.
CPU_EVENT = torch.autograd.DeviceType.CPU  # the device type of host events


def kineto_events(prof: Any) -> Sequence:
    """The raw events of a finished ``torch.profiler.profile``."""
    return prof.profiler.kineto_results.events()


def is_user_annotation(event: Any) -> bool:
    return bool(event.is_user_annotation())


def is_hidden_event(event: Any) -> bool:
    method = getattr(event, "is_hidden_event", None)
    return bool(method()) if method is not None else False


# --- dynamo and inductor ----------------------------------------------------------------------
# 2.5.1: torch/_dynamo/utils.py has `counters = collections.defaultdict(collections.Counter)`,
# bumped as counters["stats"]["unique_graphs"] and counters["graph_break"][reason];
# torch/_inductor/codecache.py bumps counters["inductor"]["fxgraph_cache_hit"], and
# torch/_inductor/cudagraph_utils.py counters["inductor"]["cudagraph_skips"].


def dynamo_counters() -> dict:
    from torch._dynamo.utils import counters

    return counters


def dynamo_reset() -> None:
    """Forget every compiled graph and guard (2.5.1: torch/_dynamo/__init__.py ``reset``)."""
    torch._dynamo.reset()


def compile_unsupported() -> str | None:
    """Why ``torch.compile`` cannot run here, or None (2.5.1: torch/_dynamo/eval_frame.py
    ``is_dynamo_supported``: False on Python 3.13, which 2.5's dynamo does not know)."""
    from torch._dynamo.eval_frame import is_dynamo_supported

    if is_dynamo_supported():
        return None
    python = ".".join(map(str, sys.version_info[:2]))
    return f"torch {torch.__version__} cannot compile on Python {python}"


# --- features an option needs, probed rather than assumed -------------------------------------


def autocast_unsupported(device_type: str, dtype: torch.dtype) -> str | None:
    """Why ``torch.autocast(device_type, dtype)`` would not run a matmul in ``dtype`` here, or
    None: probed, since support depends on the device as much as on torch (an autocast that
    does not support a dtype warns and disables itself). ``is_autocast_available`` is public
    since 2.4."""
    if not torch.amp.is_autocast_available(device_type):
        return f"torch {torch.__version__} has no autocast for {device_type}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the "not supported, disabling autocast" warning
        with torch.autocast(device_type, dtype=dtype):
            x = torch.ones(2, 2, device=device_type)
            got = (x @ x).dtype
    if got != dtype:
        return f"torch {torch.__version__}'s {device_type} autocast does not compute in {dtype}"
    return None


def cuda_graphs_unsupported() -> str | None:
    """Why CUDA graphs (what the cudagraph compile modes replay) are unavailable, or None."""
    if not hasattr(torch.cuda, "CUDAGraph") or not torch.backends.cuda.is_built():
        return f"torch {torch.__version__} was built without CUDA graphs"
    return None
