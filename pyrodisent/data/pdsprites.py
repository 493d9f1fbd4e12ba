"""pdSprites (PDisVAE, an anonymous ICLR submission, §4.2, Fig. 4a): squares whose x and y
locations are entangled.

Three latents: x-location z1, y-location z2 and size z3, with (z1, z2) ⊥ z3 but z1, z2
dependent. Locations lie on a 17 × 17 grid over [−1, 1]² from which the upper and lower
triangles |y| > |x| are removed (the two empty gray triangles of Fig. 4a), leaving
1 + 2·Σ_{k=1}^{8}(2k+1) = 161 locations; each is drawn at 5 sizes evenly spread, giving
the paper's 805 gray-scale 32 × 32 images. (The paper gives the count and the figure,
not the grid: 17 × 17 minus the triangles is the grid that yields exactly 161 · 5 = 805.)

Rendering: a filled square of odd side 3, 5, 7, 9 or 11 pixels (size class 0..4) centred
on pixel (15 + 8x, 15 − 8y) (column, row; y points up), no antialiasing.
"""

from __future__ import annotations

import numpy as np
import torch

from pyrodisent.data.base import FactorDataset

GRID = 17
SIDES = (3, 5, 7, 9, 11)
IMAGE_SIZE = 32


def locations() -> np.ndarray:
    """[161, 2] (i, j) grid classes (0..16) of the kept locations, x slower than y."""
    half = GRID // 2
    i, j = np.meshgrid(np.arange(GRID), np.arange(GRID), indexing="ij")
    keep = np.abs(j - half) <= np.abs(i - half)
    return np.stack([i[keep], j[keep]], axis=1)


def pdsprites(dtype: str = "bool") -> FactorDataset:
    """805 images [805, 1, 32, 32]; factors (x 17, y 17, size 5) as a partial grid.

    ``latents`` [805, 3] holds (x, y, side/11) with x, y ∈ [−1, 1]; ``dtype`` ``"bool"``
    (default) or ``"uint8"`` (0/255).
    """
    if dtype not in ("bool", "uint8"):
        raise ValueError(f"pdsprites: dtype must be 'bool' or 'uint8', got {dtype!r}")
    loc = locations()
    half = GRID // 2
    factors = np.concatenate(
        [np.repeat(loc, len(SIDES), axis=0), np.tile(np.arange(len(SIDES)), len(loc))[:, None]], axis=1
    )
    images = torch.zeros((len(factors), 1, IMAGE_SIZE, IMAGE_SIZE), dtype=torch.bool)
    for row, (i, j, s) in enumerate(factors):
        col_c, row_c, r = 15 + (i - half), 15 - (j - half), SIDES[s] // 2
        images[row, 0, row_c - r : row_c + r + 1, col_c - r : col_c + r + 1] = True
    if dtype == "uint8":
        images = images.view(torch.uint8).mul_(255)  # in place: 0/1 bytes → 0/255
    coords = np.linspace(-1.0, 1.0, GRID)
    sides = np.array(SIDES, dtype=np.float64)
    data = FactorDataset(
        images, factors, ("x", "y", "size"), (GRID, GRID, len(SIDES)), [coords, coords, sides], name="pdsprites"
    )
    data.latents = np.stack([coords[factors[:, 0]], coords[factors[:, 1]], sides[factors[:, 2]] / SIDES[-1]], axis=1)
    data.groups = [[0, 1], [2]]
    return data
