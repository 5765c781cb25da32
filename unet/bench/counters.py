"""Exact, device-independent counters of one call (issue 9, first step; not yet gated).

A ``TorchDispatchMode`` sees every ATen operator below autograd and above the backend, so what
it counts is the same on CPU and CUDA and from run to run:

* operators per call, in total and by operator (``aten.convolution: 10``);
* peak activation bytes: the largest total size of the tensor storages that the call allocated
  and that were alive at once (parameters, buffers and the inputs excluded). Storages are
  tracked by weak reference, so a tensor kept alive longer than needed raises the peak.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


@dataclass(frozen=True)
class CallCounts:
    ops: dict[str, int] = field(default_factory=dict)  # ATen operator -> calls
    peak_activation_bytes: int = 0

    @property
    def total_ops(self) -> int:
        return sum(self.ops.values())


class _CountingMode(TorchDispatchMode):
    def __init__(self, excluded: set[int]) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()
        self.excluded = excluded  # storages that exist before the call (weights, inputs)
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}  # storage -> (ref, bytes)
        self.current = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket)] += 1
        out = func(*args, **(kwargs or {}))
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
