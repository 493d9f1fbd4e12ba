"""HDF5 caches of any :class:`FactorDataset`, and lazily read HDF5 images.

Cache layout (written by :func:`save_h5`, read by the ``h5`` loader :func:`h5`):

* dataset ``images`` — the images as stored (bool, uint8 or float32), shape [N, C, H, W];
* dataset ``factors`` — [N, K] int64 (absent for unlabelled data);
* group ``factor_values`` — datasets ``"0"`` … ``"K−1"``;
* root attributes ``format = "pyrodisent-factor-dataset"``, ``version``, ``name``,
  ``factor_names`` and ``factor_sizes`` (JSON), ``options`` (JSON of the generator options);
* group ``extras`` — the data set's other attributes (``latents``, ``mixing``,
  ``total_correlation`` …): arrays as datasets, everything else as JSON attributes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.paths import DataFileError, MissingDataError

FORMAT = "pyrodisent-factor-dataset"
VERSION = 1
_CORE = {"images", "factors", "factor_names", "factor_sizes", "factor_values", "name", "_lookup"}


def save_h5(dataset: FactorDataset, file: str | Path, options: dict[str, Any] | None = None) -> Path:
    """Write ``dataset`` to ``file`` in the cache layout above; returns the path."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    images = dataset.images
    if not torch.is_tensor(images):
        raise ValueError(f"save_h5: {dataset.name} images must be an in-memory tensor")
    with h5py.File(file, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = VERSION
        f.attrs["name"] = dataset.name
        f.attrs["factor_names"] = json.dumps(dataset.factor_names)
        f.attrs["factor_sizes"] = json.dumps(dataset.factor_sizes)
        f.attrs["options"] = json.dumps(options or {})
        f.create_dataset("images", data=images.cpu().numpy(), chunks=(1, *images.shape[1:]))
        if dataset.factors is not None:
            f.create_dataset("factors", data=dataset.factors)
        if dataset.factor_values is not None:
            group = f.create_group("factor_values")
            for k, values in enumerate(dataset.factor_values):
                group.create_dataset(str(k), data=np.asarray(values))
        extras = f.create_group("extras")
        for key, value in vars(dataset).items():
            if key in _CORE:
                continue
            if isinstance(value, np.ndarray) or torch.is_tensor(value):
                extras.create_dataset(key, data=np.asarray(value))
            elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
                sub = extras.create_group(key)
                for k, v in enumerate(value):
                    sub.create_dataset(str(k), data=v)
            else:
                extras.attrs[key] = json.dumps(value, default=_json_default)
    return file


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store attribute of type {type(value).__name__} in an HDF5 cache")


class H5Images:
    """An HDF5 image dataset read on demand, seen as [N, C, H, W] (``channels_last`` files are permuted).

    Indexing with ints, slices, index arrays or tensors returns a torch tensor; index arrays
    are read sorted and de-duplicated (as h5py requires) and put back in the asked order.
    """

    def __init__(self, file: Path, key: str, channels_last: bool = False):
        self.file = Path(file)
        self._h5 = h5py.File(self.file, "r")
        self._data = self._h5[key]
        self.channels_last = channels_last
        shape = tuple(self._data.shape)
        self.shape = (shape[0], shape[-1], *shape[1:-1]) if channels_last else shape
        self.dtype = self._data.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def _fix(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        return tensor.movedim(-1, 1).contiguous() if self.channels_last else tensor

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, slice):
            return self._fix(self._data[index])
        if isinstance(index, (int, np.integer)):
            return self._fix(self._data[int(index) : int(index) + 1])[0]
        index = np.asarray(index.cpu() if torch.is_tensor(index) else index, dtype=np.int64).reshape(-1)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"index out of range for {len(self)} images in {self.file}")
        unique, inverse = np.unique(index, return_inverse=True)
        return self._fix(self._data[unique])[torch.from_numpy(inverse)]

    def close(self) -> None:
        self._h5.close()


class LazyFactorDataset(FactorDataset):
    """A :class:`FactorDataset` whose ``images`` is an :class:`H5Images` read on demand."""

    def __init__(self, images: H5Images, factors, factor_names, factor_sizes, factor_values=None, name="dataset"):
        super().__init__(torch.empty((len(images), 0)), factors, factor_names, factor_sizes, factor_values, name)
        self.images = images

    @property
    def observation_shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[1:])


def h5(path: str | Path, in_memory: bool = True) -> FactorDataset:
    """Read back a cache written by :func:`save_h5` (``pyrodisent data generate``).

    ``in_memory=False`` leaves the images in the file (:class:`LazyFactorDataset`); batches
    then stream from disk.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingDataError(f"h5: file {file} not found; write it with `pyrodisent data generate NAME --out {file}`")
    try:
        f = h5py.File(file, "r")
    except OSError as exc:
        raise DataFileError(file, f"is not a readable HDF5 file ({exc})") from None
    with f:
        if f.attrs.get("format") != FORMAT:
            raise DataFileError(file, f"is not a pyrodisent dataset cache (attribute format={f.attrs.get('format')!r})")
        if "images" not in f:
            raise DataFileError(file, "has no 'images' dataset")
        try:
            names = json.loads(f.attrs["factor_names"])
            sizes = json.loads(f.attrs["factor_sizes"])
            factors = f["factors"][()] if "factors" in f else None
            values = None
            if "factor_values" in f:
                values = [f["factor_values"][str(k)][()] for k in range(len(f["factor_values"]))]
            extras = {}
            if "extras" in f:
                for key, item in f["extras"].items():
                    if isinstance(item, h5py.Group):
                        extras[key] = [item[str(k)][()] for k in range(len(item))]
                    else:
                        extras[key] = item[()]
                for key, text in f["extras"].attrs.items():
                    extras[key] = json.loads(text)
            name = str(f.attrs["name"])
            images = torch.from_numpy(f["images"][()]) if in_memory else None
        except (KeyError, OSError, ValueError) as exc:
            raise DataFileError(file, f"is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if images is None:
        dataset = LazyFactorDataset(H5Images(file, "images"), factors, names, sizes, values, name=name)
    else:
        dataset = FactorDataset(images, factors, names, sizes, values, name=name)
    for key, value in extras.items():
        setattr(dataset, key, value)
    return dataset
