"""Cars3D (Reed et al. 2015): a folder of ``.mat`` files, one per car model.

Each file holds ``im`` [128, 128, 3, 24, 4] uint8: height, width, RGB, 24 azimuths,
4 elevations. The released set has 183 files (``car_001_mesh.mat`` …); any number of
files is accepted and the object factor has one class per file (sorted by name).
Images are area-downscaled to 64 × 64. Factors, in grid order (object fastest, as in
disentanglement_lib): elevation 4, azimuth 24, object (number of files, 183).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.imaging import resize_uint8
from pyrodisent.data.paths import DataFileError, MissingDataError, resolve_dir

NUM_OBJECTS = 183
FACTOR_NAMES = ("elevation", "azimuth", "object")


def _read_mesh(file: Path) -> np.ndarray:
    try:
        content = scipy.io.loadmat(file)
    except (ValueError, TypeError, OSError, EOFError, scipy.io.matlab.MatReadError) as exc:
        raise DataFileError(file, f"cannot be read as a .mat file ({type(exc).__name__}: {exc})") from None
    if "im" not in content:
        keys = sorted(k for k in content if not k.startswith("__"))
        raise DataFileError(file, f"has no variable 'im' (variables: {keys})")
    im = content["im"]
    if im.ndim != 5 or im.shape[2:] != (3, 24, 4) or im.shape[0] != im.shape[1]:
        raise DataFileError(file, f"'im' must be [H, H, 3, 24, 4] (square images, RGB, 24 azimuths, 4 elevations), got {list(im.shape)}")
    if im.dtype != np.uint8:
        raise DataFileError(file, f"'im' must be uint8, got {im.dtype}")
    return im


def cars3d(path: str | Path | None = None, size: int = 64) -> FactorDataset:
    """Load the Cars3D folder (``path`` or ``$PYRODISENT_DATA/cars3d/``): [4·24·n, 3, size, size] uint8."""
    folder = resolve_dir("cars3d", path, f"the {NUM_OBJECTS} Cars3D .mat files (car_001_mesh.mat …)")
    files = sorted(folder.glob("*.mat"))
    if not files:
        raise MissingDataError(f"cars3d: no .mat files in {folder}; put the {NUM_OBJECTS} Cars3D .mat files there")
    n = len(files)
    images = torch.empty((4, 24, n, 3, size, size), dtype=torch.uint8)
    for obj, file in enumerate(files):
        im = _read_mesh(file)  # [H, W, 3, azimuth, elevation]
        views = torch.from_numpy(np.ascontiguousarray(np.transpose(im, (4, 3, 2, 0, 1))))  # [4, 24, 3, H, W]
        images[:, :, obj] = resize_uint8(views.reshape(96, 3, *im.shape[:2]), size).view(4, 24, 3, size, size)
    grids = np.meshgrid(np.arange(4), np.arange(24), np.arange(n), indexing="ij")
    factors = np.stack([g.reshape(-1) for g in grids], axis=1)
    values = [np.arange(4.0), np.arange(24.0), np.arange(float(n))]
    data = FactorDataset(images.reshape(-1, 3, size, size), factors, FACTOR_NAMES, (4, 24, n), values, name="cars3d")
    data.files = [f.name for f in files]
    return data
