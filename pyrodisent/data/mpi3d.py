"""MPI3D (Gondal et al. 2019): ``mpi3d_{toy,realistic,real}.npz``, one array ``images``.

Three renderings of one robotic set-up — simple rendered (``toy``), realistic rendered
(``realistic``) and camera images of the real platform (``real``). Each file holds
``images`` [1036800, 64, 64, 3] uint8: one image per combination of the factors below, in
row-major order with the last factor fastest (row = object_color · 172800 +
object_shape · 28800 + object_size · 14400 + camera_height · 4800 + background_color · 1600
+ horizontal_axis · 40 + vertical_axis, as the dataset's authors document):

================  ====  ==================================================
factor            size  classes
================  ====  ==================================================
object_color      6     white, green, red, blue, brown, olive
object_shape      6     cone, cube, cylinder, hexagonal, pyramid, sphere
object_size       2     small, large
camera_height     3     top, center, bottom
background_color  3     purple, sea green, salmon
horizontal_axis   40    0 … 39 (first degree of freedom of the robot arm)
vertical_axis     40    0 … 39 (second degree of freedom)
================  ====  ==================================================

The file has no labels: the factors are the row's position on the grid, so the number of
rows must be a grid's size exactly. An earlier release of ``toy`` and ``realistic``
(NeurIPS 2019 disentanglement challenge) has 460,800 rows, 4 object colours × 4 shapes;
disentanglement_lib's MPI3D reader assumes that grid for those two files. A file of that
size is read on that grid (:data:`GRIDS`).

Memory: the images are 1036800 · 12288 bytes = 12.7 GB. The authors' conversion script
writes the files with ``np.savez``, which stores them uncompressed, so by default the file
is memory-mapped (``pyrodisent.data.npz``): the images
are a [N, 3, 64, 64] view of the file's channels-last bytes and pages are read as batches
touch them. ``in_memory=True`` reads all of them into one contiguous tensor instead, which
a compressed file (``np.savez_compressed``, not mappable) requires.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.npz import inspect_member, map_member, read_rows
from pyrodisent.data.paths import DataFileError, resolve_file

FILES = {"toy": "mpi3d_toy.npz", "realistic": "mpi3d_realistic.npz", "real": "mpi3d_real.npz"}
FACTOR_NAMES = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
#: factor sizes by number of rows: the released files and the earlier 4 × 4 release
GRIDS = {1_036_800: FACTOR_SIZES, 460_800: (4, 4, 2, 3, 3, 40, 40)}
CLASS_NAMES = {
    "object_color": ("white", "green", "red", "blue", "brown", "olive"),
    "object_shape": ("cone", "cube", "cylinder", "hexagonal", "pyramid", "sphere"),
    "object_size": ("small", "large"),
    "camera_height": ("top", "center", "bottom"),
    "background_color": ("purple", "sea green", "salmon"),
}
IMAGE_SHAPE = (64, 64, 3)
_READ_ROWS = 8192  # rows per block when reading into memory (100 MB)


def mpi3d(variant: str = "toy", path: str | Path | None = None, in_memory: bool = False) -> FactorDataset:
    """Load ``mpi3d_<variant>.npz`` (``path``: the file or its folder; default ``$PYRODISENT_DATA/mpi3d/``).

    ``variant``: ``"toy"``, ``"realistic"`` or ``"real"``. ``in_memory=False`` maps the
    file (it must be stored uncompressed, as released); ``True`` reads the images into
    memory (12.7 GB), decompressing a ``np.savez_compressed`` file block by block.
    Images are [N, 3, 64, 64] uint8, a full grid (index ↔ factors by arithmetic).
    """
    if variant not in FILES:
        raise ValueError(f"mpi3d: variant must be one of {sorted(FILES)}, got {variant!r}")
    if not isinstance(in_memory, bool):
        raise ValueError(f"mpi3d: in_memory must be True or False, got {in_memory!r}")
    file = resolve_file("mpi3d", path, FILES[variant])
    member = inspect_member(file, "images")
    shape = member.shape
    if len(shape) != 4 or shape[1:] != IMAGE_SHAPE:
        raise DataFileError(file, f"'images' must be [N, 64, 64, 3], got {list(shape)}")
    if member.dtype != np.uint8:
        raise DataFileError(file, f"'images' must be uint8, got {member.dtype}")
    if member.fortran_order:
        raise DataFileError(file, "'images' is stored in Fortran order; re-save it C-ordered (np.savez)")
    n = shape[0]
    if n not in GRIDS:
        grids = ", ".join(f"{rows} ({'·'.join(map(str, sizes))})" for rows, sizes in GRIDS.items())
        raise DataFileError(
            file, f"'images' has {n} rows; MPI3D holds one image per factor combination: {grids} rows expected"
        )
    sizes = GRIDS[n]
    if in_memory:
        images = torch.empty((n, 3, 64, 64), dtype=torch.uint8)
        for start, block in read_rows(member, _READ_ROWS):
            images[start : start + len(block)] = torch.from_numpy(block).permute(0, 3, 1, 2)
    elif member.compressed:
        raise DataFileError(
            file,
            f"'images' is deflate-compressed (np.savez_compressed), so it cannot be memory-mapped; pass "
            f"in_memory=True to read all {_size(member.nbytes)} into memory, or re-save the file "
            "uncompressed once with np.savez",
        )
    else:
        images = torch.from_numpy(map_member(member)).permute(0, 3, 1, 2)  # a view: no copy, no read
    factors = np.indices(sizes).reshape(len(sizes), -1).T
    values = [np.arange(float(s)) for s in sizes]
    dataset = FactorDataset(images, factors, FACTOR_NAMES, sizes, values, name=f"mpi3d_{variant}")
    dataset.variant = variant
    return dataset


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e9:.1f} GB" if nbytes >= 1e8 else f"{nbytes / 1e6:.1f} MB"
