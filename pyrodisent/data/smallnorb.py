"""SmallNORB (LeCun et al. 2004): the binary ``.mat`` files of the NYU release.

Files ``smallnorb-5x46789x9x18x6x2x96x96-{training,testing}-{dat,cat,info}.mat``. Each
starts with a header of little-endian int32 values: the magic number (507333717 = uint8
matrix, 507333716 = int32 matrix), the number of dimensions ndim, then max(3, ndim)
dimension sizes (unused ones are 1); the data follows, row-major.

* ``dat``: uint8 [N, 2, 96, 96] — two cameras; the first is kept;
* ``cat``: int32 [N] — category 0..4;
* ``info``: int32 [N, 4] — instance 0..9, elevation 0..8, azimuth 0, 2, …, 34, lighting 0..5.

Factors (as disentanglement_lib): category 5, elevation 9, azimuth 18 (value/2),
lighting 6; the instance is a nuisance kept in ``dataset.instances``. Each combination
occurs once per instance, so this is a partial grid (look-up table). Images are
area-downscaled 96 → 64: [N, 1, 64, 64] uint8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.imaging import resize_uint8
from pyrodisent.data.paths import DataFileError, resolve_file

MAGIC_UINT8 = 507333717
MAGIC_INT32 = 507333716
PREFIX = "smallnorb-5x46789x9x18x6x2x96x96"
FACTOR_NAMES = ("category", "elevation", "azimuth", "lighting")
FACTOR_SIZES = (5, 9, 18, 6)


def file_name(split: str, kind: str) -> str:
    return f"{PREFIX}-{split}-{kind}.mat"


def read_matrix(file: Path) -> np.ndarray:
    """Parse one NORB binary matrix file (header described in the module docstring)."""
    raw = Path(file).read_bytes()
    if len(raw) < 8:
        raise DataFileError(file, f"short read: {len(raw)} bytes, less than the 8-byte header start")
    magic, ndim = np.frombuffer(raw, dtype="<i4", count=2)
    dtypes = {MAGIC_UINT8: np.dtype(np.uint8), MAGIC_INT32: np.dtype("<i4")}
    if int(magic) not in dtypes:
        raise DataFileError(file, f"bad header: magic number {int(magic)} is neither {MAGIC_UINT8} (uint8) nor {MAGIC_INT32} (int32)")
    if not 1 <= ndim <= 16:
        raise DataFileError(file, f"bad header: ndim = {int(ndim)}")
    header = 8 + 4 * max(3, int(ndim))
    if len(raw) < header:
        raise DataFileError(file, f"short read: header needs {header} bytes, file has {len(raw)}")
    dims = np.frombuffer(raw, dtype="<i4", count=max(3, int(ndim)), offset=8)[: int(ndim)]
    if (dims < 1).any():
        raise DataFileError(file, f"bad header: dimensions {dims.tolist()}")
    dtype = dtypes[int(magic)]
    expected = int(np.prod(dims.astype(np.int64))) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(
            file, f"short read: header says {dims.tolist()} {dtype} = {expected} data bytes, file has {len(raw) - header}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims.tolist())


def _load_split(folder: Path | str | None, split: str, path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    files = {kind: resolve_file("smallnorb", path, file_name(split, kind)) for kind in ("dat", "cat", "info")}
    dat, cat, info = (read_matrix(files[k]) for k in ("dat", "cat", "info"))
    if dat.dtype != np.uint8 or dat.ndim != 4 or dat.shape[1:] != (2, 96, 96):
        raise DataFileError(files["dat"], f"must hold uint8 [N, 2, 96, 96], got {dat.dtype} {list(dat.shape)}")
    n = dat.shape[0]
    if cat.dtype.kind != "i" or cat.shape != (n,):
        raise DataFileError(files["cat"], f"must hold int32 [{n}] to match the images, got {cat.dtype} {list(cat.shape)}")
    if info.dtype.kind != "i" or info.shape != (n, 4):
        raise DataFileError(files["info"], f"must hold int32 [{n}, 4] to match the images, got {info.dtype} {list(info.shape)}")
    if (info[:, 2] % 2).any():
        raise DataFileError(files["info"], "azimuth column must hold even values 0, 2, …, 34")
    factors = np.stack([cat, info[:, 1], info[:, 2] // 2, info[:, 3]], axis=1).astype(np.int64)
    bad = (factors < 0) | (factors >= np.array(FACTOR_SIZES))
    if bad.any():
        row = int(np.nonzero(bad.any(1))[0][0])
        raise DataFileError(files["info"], f"row {row} has factors {factors[row].tolist()} outside the sizes {FACTOR_SIZES}")
    return dat[:, 0], factors, info[:, 0].astype(np.int64)


def smallnorb(path: str | Path | None = None, split: str = "both", size: int = 64) -> FactorDataset:
    """Load SmallNORB (``path``: the folder of the six files; default ``$PYRODISENT_DATA/smallnorb/``).

    ``split``: ``"training"``, ``"testing"`` or ``"both"`` (48,600 images, as disentanglement_lib).
    """
    splits = {"training": ["training"], "testing": ["testing"], "both": ["training", "testing"]}
    if split not in splits:
        raise ValueError(f"smallnorb: split must be one of {sorted(splits)}, got {split!r}")
    if path is not None and Path(path).expanduser().is_file():
        raise ValueError(f"smallnorb: path must be the folder holding the {PREFIX}-*.mat files, got the file {path}")
    parts = [_load_split(None, s, path) for s in splits[split]]
    images = np.concatenate([p[0] for p in parts])
    factors = np.concatenate([p[1] for p in parts])
    instances = np.concatenate([p[2] for p in parts])
    tensor = resize_uint8(torch.from_numpy(images).unsqueeze(1), size)
    values = [np.arange(5.0), 30.0 + 5.0 * np.arange(9), 20.0 * np.arange(18), np.arange(6.0)]
    data = FactorDataset(tensor, factors, FACTOR_NAMES, FACTOR_SIZES, values, name="smallnorb")
    data.instances = instances
    return data
