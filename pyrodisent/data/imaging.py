"""Small image helpers shared by the loaders."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def resize_uint8(images: torch.Tensor | np.ndarray, size: int, chunk: int = 4096) -> torch.Tensor:
    """[N, C, H, W] uint8 → [N, C, size, size] uint8 by area averaging (box filter), rounded.

    Area averaging is the exact mean over each output pixel's footprint, so an integer
    down-scaling factor (Cars3D 128 → 64) averages whole 2 × 2 blocks.
    """
    images = torch.as_tensor(images)
    if images.shape[-2:] == (size, size):
        return images.contiguous()
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        block = images[start : start + chunk].float()
        out[start : start + chunk] = F.interpolate(block, size=(size, size), mode="area").round_().to(torch.uint8)
    return out
