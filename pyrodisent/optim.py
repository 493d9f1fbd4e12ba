"""The fastest implementation of Adam/AdamW a device offers, with the same update rule.

PyTorch's Adam has three implementations of one algorithm: ``fused`` (one kernel over every
parameter), ``foreach`` (a kernel per operation over the list) and the per-parameter loop.
``fused`` exists on CUDA and, from torch 2.4 on, on CPU, where it is also the fastest by far
(a 3.6 M-parameter MLP VAE on 2 CPU cores: 3.1 ms per step fused, 15.8 ms foreach;
``benchmarks/optimizer_step.py``, docs/benchmarks.md). Where a device, dtype or torch
version has no fused kernel, the foreach implementation is used instead. Both give the
same update up to float rounding.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def fast_adam(
    params: Iterable, *, decoupled_weight_decay: bool = False, **options
) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` (or ``AdamW`` with ``decoupled_weight_decay``) over ``params``,
    fused where the parameters' device supports it, else foreach. ``options`` are Adam's
    (``lr``, ``betas``, ``eps``, ``weight_decay``, ...)."""
    cls = torch.optim.AdamW if decoupled_weight_decay else torch.optim.Adam
    params = list(params)
    try:
        return cls(params, fused=True, **options)
    except (RuntimeError, ValueError, TypeError):  # no fused kernel for this device/dtype/torch
        return cls(params, foreach=True, **options)
