"""Shapes3D (Burgess & Kim 2018): ``3dshapes.h5`` with ``images`` and ``labels``.

``images`` [480000, 64, 64, 3] uint8 and ``labels`` [480000, 6] float64 holding the
physical values of (floor_hue, wall_hue, object_hue, scale, shape, orientation):

==========  ====  =====================================
factor      size  values
==========  ====  =====================================
floor_hue   10    0, 0.1, …, 0.9
wall_hue    10    0, 0.1, …, 0.9
object_hue  10    0, 0.1, …, 0.9
scale       8     linspace(0.75, 1.25, 8)
shape       4     0, 1, 2, 3
orientation 15    linspace(−30, 30, 15)
==========  ====  =====================================

Labels are mapped to classes by the nearest grid value (a value farther than 1e-4 from
every grid value is a corrupt file). Images become [N, 3, 64, 64] uint8.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.hdf5 import H5Images, LazyFactorDataset
from pyrodisent.data.paths import DataFileError, check_grid_labels, resolve_file

FILE = "3dshapes.h5"
FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
FACTOR_VALUES = (
    np.arange(10) / 10,
    np.arange(10) / 10,
    np.arange(10) / 10,
    np.linspace(0.75, 1.25, 8),
    np.arange(4, dtype=np.float64),
    np.linspace(-30.0, 30.0, 15),
)


def labels_to_classes(labels: np.ndarray, file: Path, tolerance: float = 1e-4) -> np.ndarray:
    classes = np.empty(labels.shape, dtype=np.int64)
    for k, grid in enumerate(FACTOR_VALUES):
        distance = np.abs(labels[:, k : k + 1] - grid[None, :])
        classes[:, k] = distance.argmin(1)
        worst = distance.min(1).max(initial=0.0)
        if worst > tolerance:
            bad = labels[distance.min(1).argmax(), k]
            raise DataFileError(file, f"'labels' column {k} ({FACTOR_NAMES[k]}) has value {bad} outside the grid {grid}")
    return classes


def shapes3d(path: str | Path | None = None, in_memory: bool = True) -> FactorDataset:
    """Load ``3dshapes.h5`` (``path``: the file or its folder; default ``$PYRODISENT_DATA/shapes3d/``).

    ``in_memory=True`` reads all images (5.9 GB for the full file); ``False`` reads batches
    from the file on demand (a :class:`~pyrodisent.data.hdf5.LazyFactorDataset`).
    """
    file = resolve_file("shapes3d", path, FILE)
    try:
        f = h5py.File(file, "r")
    except OSError as exc:
        raise DataFileError(file, f"is not a readable HDF5 file ({exc})") from None
    with f:
        for key in ("images", "labels"):
            if key not in f:
                raise DataFileError(file, f"has no dataset {key!r} (keys: {sorted(f.keys())})")
        shape, lshape = f["images"].shape, f["labels"].shape
        if len(shape) != 4 or shape[1:] != (64, 64, 3):
            raise DataFileError(file, f"'images' must be [N, 64, 64, 3], got {list(shape)}")
        if f["images"].dtype != np.uint8:
            raise DataFileError(file, f"'images' must be uint8, got {f['images'].dtype}")
        if lshape != (shape[0], 6):
            raise DataFileError(file, f"'labels' must be [{shape[0]}, 6] to match 'images', got {list(lshape)}")
        try:
            labels = f["labels"][()]
            images = f["images"][()] if in_memory else None
        except OSError as exc:
            raise DataFileError(file, f"is truncated or corrupt ({exc})") from None
    factors = labels_to_classes(np.asarray(labels, dtype=np.float64), file)
    values = [v.copy() for v in FACTOR_VALUES]
    if images is None:
        images = H5Images(file, "images", channels_last=True)
        dataset = LazyFactorDataset(images, factors, FACTOR_NAMES, FACTOR_SIZES, values, name="shapes3d")
    else:
        tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        dataset = FactorDataset(tensor, factors, FACTOR_NAMES, FACTOR_SIZES, values, name="shapes3d")
    check_grid_labels(dataset, file)
    return dataset
