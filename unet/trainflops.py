"""Multiply-adds of a training step's convolutions: forward, grad-input and grad-weight.

``torch.utils.flop_counter.FlopCounterMode`` (torch 2.13) ignores ``groups`` in its
convolution-backward formula: for a depthwise 3x3 conv on (1,256,16,16) it reports 152,174,592
multiply-adds for forward + backward where the analytic figure is 1,769,472 (86x). This counts
each convolution from its shapes, groups included, one multiply-add = one flop (fvcore's
convention), biases not counted:

* forward: batch x output positions x C_out x C_in/groups x k^2 (a transposed conv: input
  positions, each input element multiplied by its C_out/groups x k^2 weights);
* grad-input: the same count, when the input needs a gradient (not for the model's input);
* grad-weight: the same count, when the weight needs one.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from unet.torchcompat import TorchDispatchMode

aten = torch.ops.aten


def conv_macs(
    x_shape: Sequence[int], w_shape: Sequence[int], out_shape: Sequence[int], transposed: bool
) -> int:
    """Multiply-adds of one convolution: the weight's size (which already divides by groups) at
    every output position, or every input position for a transposed conv, per example."""
    positions = math.prod((x_shape if transposed else out_shape)[2:])
    return x_shape[0] * positions * math.prod(w_shape)


@dataclass(frozen=True)
class TrainFlops:
    forward: int  # convolution multiply-adds of the forward pass
    grad_input: int
    grad_weight: int

    @property
    def backward(self) -> int:
        return self.grad_input + self.grad_weight


class _ConvCounting(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.forward = self.grad_input = self.grad_weight = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket == aten.convolution:
            x, w, transposed = args[0], args[1], args[6]
            self.forward += conv_macs(x.shape, w.shape, out.shape, transposed)
        elif func.overloadpacket == aten.convolution_backward:
            grad_out, x, w, transposed, mask = args[0], args[1], args[2], args[7], args[10]
            macs = conv_macs(x.shape, w.shape, grad_out.shape, transposed)
            self.grad_input += macs if mask[0] else 0
            self.grad_weight += macs if mask[1] else 0
        return out


def count_train_step(module: nn.Module, x: torch.Tensor) -> TrainFlops:
    """The convolutions' multiply-adds of forward, loss (the output's mean) and backward, on a
    copy of ``module`` in train mode (the original's statistics and gradients untouched)."""
    model = copy.deepcopy(module).train()
    mode = _ConvCounting()
    with mode, torch.enable_grad():
        model(x).float().mean().backward()
    return TrainFlops(mode.forward, mode.grad_input, mode.grad_weight)
