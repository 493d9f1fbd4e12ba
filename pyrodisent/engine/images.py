"""Image grids for TensorBoard: reconstructions and latent traversals (no torchvision needed)."""

from __future__ import annotations

import torch


def make_grid(images: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    """[n, C, H, W] in [0, 1] → one [C, H', W'] image, ``nrow`` images per row."""
    n, c, h, w = images.shape
    ncol = -(-n // nrow)
    grid = images.new_ones(c, ncol * (h + padding) + padding, nrow * (w + padding) + padding)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid.clamp(0, 1)


def reconstruction_grid(model, x: torch.Tensor) -> torch.Tensor:
    """Originals (top row) above their reconstructions from the posterior mean."""
    loc, _ = model.encode(x)
    recon = model.mean_image(loc)
    return make_grid(torch.cat([x, recon]).float().cpu(), nrow=x.shape[0])


def latent_traversal_grid(model, x: torch.Tensor, values: int = 7, span: float = 2.5, max_dims: int = 16) -> torch.Tensor:
    """One row per latent dim (at most ``max_dims``): the posterior mean of ``x[0]`` with that
    dim swept over ``[-span, span]``."""
    loc, _ = model.encode(x[:1])
    dims = min(loc.shape[1], max_dims)
    sweep = torch.linspace(-span, span, values, device=loc.device)
    codes = loc.repeat(dims * values, 1)
    for d in range(dims):
        codes[d * values : (d + 1) * values, d] = sweep
    return make_grid(model.mean_image(codes).float().cpu(), nrow=values)
