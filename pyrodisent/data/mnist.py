"""MNIST (LeCun et al. 1998) from its idx files, raw or gzip-compressed.

Files: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte`` (each may end in ``.gz``). The idx header is two zero bytes,
a type byte (0x08 = uint8), the number of dimensions, then one big-endian uint32 per
dimension; the data follows. Images: [N, 1, 28, 28] uint8 (or ``size`` × ``size`` by
area resampling); one factor, the digit (10 classes), a partial grid.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.imaging import resize_uint8
from pyrodisent.data.paths import DATA_ROOT_ENV, DataFileError, MissingDataError, data_root

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(file: Path) -> np.ndarray:
    """Parse an idx file (gzip-compressed if its name ends in ``.gz``)."""
    try:
        raw = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataFileError(file, f"is not a valid gzip file ({type(exc).__name__}: {exc})") from None
    if len(raw) < 4:
        raise DataFileError(file, f"short read: {len(raw)} bytes, less than the 4-byte idx header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataFileError(file, f"bad header: magic bytes {raw[:4].hex()} (expected 0000 then a type byte such as 08, then ndim)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(file, f"short read: header needs {header} bytes, file has {len(raw)}")
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(file, f"short read: header says {dims.tolist()} = {expected} data bytes, file has {len(raw) - header}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims.tolist())


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise MissingDataError(f"mnist: neither {folder / name} nor {folder / name}.gz exists; put the MNIST idx file {name}(.gz) there")


def mnist(path: str | Path | None = None, split: str = "train", size: int = 28) -> FactorDataset:
    """Load MNIST (``path``: folder of the idx files; default ``$PYRODISENT_DATA/mnist/``).

    ``split``: ``"train"`` (60,000), ``"test"`` (10,000) or ``"both"``.
    """
    splits = {"train": ["train"], "test": ["test"], "both": ["train", "test"]}
    if split not in splits:
        raise ValueError(f"mnist: split must be one of {sorted(splits)}, got {split!r}")
    if path is None:
        root = data_root()
        if root is None:
            raise MissingDataError(
                f"mnist: no path given and ${DATA_ROOT_ENV} is not set. Put the idx files "
                f"({', '.join(FILES['train'] + FILES['test'])}, optionally .gz) in <data root>/mnist/ "
                f"and set {DATA_ROOT_ENV}=<data root>, or pass path=<folder>"
            )
        folder = root / "mnist"
    else:
        folder = Path(path).expanduser()
    images, labels = [], []
    for s in splits[split]:
        image_file, label_file = (_find(folder, name) for name in FILES[s])
        x, y = read_idx(image_file), read_idx(label_file)
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataFileError(image_file, f"must hold uint8 [N, 28, 28], got {x.dtype} {list(x.shape)}")
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataFileError(label_file, f"must hold [{x.shape[0]}] labels to match the images, got {list(y.shape)}")
        if y.size and (y.min() < 0 or y.max() > 9):
            raise DataFileError(label_file, f"labels must be digits 0..9, got range [{y.min()}, {y.max()}]")
        images.append(x)
        labels.append(y.astype(np.int64))
    tensor = resize_uint8(torch.from_numpy(np.concatenate(images)).unsqueeze(1), size)
    return FactorDataset(tensor, np.concatenate(labels)[:, None], ("digit",), (10,), [np.arange(10.0)], name="mnist")
