"""Exact, device-independent counters of one call, recorded and gated like FLOPs.

A ``TorchDispatchMode`` sees every ATen operator below autograd and above the backend, so what
it counts does not depend on timing and repeats exactly from run to run:

* operators per call, in total and by operator (``aten.convolution: 10``);
* peak activation bytes: the largest total size of the tensor storages that the call allocated
  and that were alive at once (parameters, buffers and the inputs excluded). Storages are
  tracked by weak reference, so a tensor kept alive longer than needed raises the peak.

Backend details are normalised so that CPU and CUDA count alike, in training too:

* cuDNN's and MIOpen's batch norm, forward and backward, are counted as the native ones;
* an allocation of zero elements (the CPU batch norm's empty reserve tensor) is not an
  operator of the model;
* a ``_foreach_*`` operator (the optimizer's step on CUDA, where SGD defaults to its foreach
  implementation; the CPU loops over the parameters) counts as the plain operator once per
  tensor of its list: ``aten._foreach_add_`` over 40 parameters is 40 ``aten.add_``;
* ``aten.detach`` is not counted: autograd's own bookkeeping (saving tensors for backward,
  accumulating gradients), no work of the model, and its count changes between torch releases
  (a training step dispatches 41 more of them on torch 2.5 than on 2.13).

Bytes still depend on the dtype, so counters are recorded per ``counted_on`` (device type,
dtype, memory format).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from unet.torchcompat import StorageWeakRef, TorchDispatchMode, tree_leaves

# backend-specific kernels of one operator -> the name counted
ALIASES = {
    "aten.cudnn_batch_norm": "aten.native_batch_norm",
    "aten.miopen_batch_norm": "aten.native_batch_norm",
    "aten.cudnn_batch_norm_backward": "aten.native_batch_norm_backward",
    "aten.miopen_batch_norm_backward": "aten.native_batch_norm_backward",
}
FOREACH = "aten._foreach_"
ALLOCATIONS = {"aten.empty", "aten.empty_strided", "aten.new_empty"}
NOT_COUNTED = {"aten.detach"}  # autograd's bookkeeping, release-dependent (see above)


@dataclass(frozen=True)
class CallCounts:
    ops: dict[str, int] = field(default_factory=dict)  # ATen operator -> calls
    peak_activation_bytes: int = 0

    @property
    def total_ops(self) -> int:
        return sum(self.ops.values())

    def as_extra(self, counted_on: str) -> dict[str, object]:
        """The fields a case records in ``extra_info``."""
        return {
            "total_ops": self.total_ops,
            "ops": dict(self.ops),
            "peak_activation_bytes": self.peak_activation_bytes,
            "counted_on": counted_on,
        }


def counted_on(
    device: torch.device, dtype_name: str, channels_last: bool, autocast: str | None = None
) -> str:
    """What exact counters depend on besides the code, e.g. ``cpu/float32``,
    ``cuda/bfloat16/channels_last``, ``cpu/float32/autocast=bfloat16`` (autocast adds casts)."""
    parts = [device.type, dtype_name]
    parts += ["channels_last"] if channels_last else []
    parts += [f"autocast={autocast}"] if autocast else []
    return "/".join(parts)


def _is_empty_allocation(name: str, out: object) -> bool:
    return name in ALLOCATIONS and isinstance(out, torch.Tensor) and out.numel() == 0


def counted_as(name: str, args: tuple) -> tuple[str, int]:
    """The operator a dispatched ``name`` counts as, and how many times (``FOREACH``: once per
    tensor of its first argument, a list)."""
    if name.startswith(FOREACH) and args and isinstance(args[0], (list, tuple)):
        return "aten." + name[len(FOREACH) :], len(args[0])
    return ALIASES.get(name, name), 1


class _CountingMode(TorchDispatchMode):
    def __init__(self, excluded: set[int]) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()
        self.excluded = excluded  # storages that exist before the call (weights, inputs)
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}  # storage -> (ref, bytes)
        self.current = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = str(func.overloadpacket)
        if name not in NOT_COUNTED and not _is_empty_allocation(name, out):
            counted, times = counted_as(name, args)
            self.ops[counted] += times
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            self.current -= self.live.pop(key)[1]
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                storage = t.untyped_storage()
                ref = StorageWeakRef(storage)
                if ref.cdata not in self.live and ref.cdata not in self.excluded:
                    self.live[ref.cdata] = (ref, storage.nbytes())
                    self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        return out


def count_call(fn: Callable[[], object], existing: Iterable[torch.Tensor] = ()) -> CallCounts:
    """Run ``fn`` once under the counting mode; ``existing``: tensors whose storages are not
    the call's own (the module's parameters and buffers, the inputs)."""
    excluded = {StorageWeakRef(t.untyped_storage()).cdata for t in existing}
    mode = _CountingMode(excluded)
    with mode:
        fn()
    return CallCounts(dict(sorted(mode.ops.items())), mode.peak)


def count_module_call(module: torch.nn.Module, x: torch.Tensor) -> CallCounts:
    """``count_call`` of ``module(x)`` without autograd, its weights and ``x`` excluded."""
    existing = [*module.parameters(), *module.buffers(), x]
    with torch.no_grad():
        return count_call(lambda: module(x), existing)


def model_counts(config: object, batch_size: int = 1) -> CallCounts:
    """The counters of one forward of the hourglass ``config`` (eval, CPU, float32)."""
    from unet.model import build_model

    model = build_model(config).eval()  # type: ignore[arg-type]
    c = model.config
    return count_module_call(
        model, torch.zeros(batch_size, c.in_channels, c.input_size, c.input_size)
    )
