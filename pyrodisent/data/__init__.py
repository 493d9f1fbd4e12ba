"""Datasets: the factor-aware interface, file loaders and generators (registry ``datasets``)."""

from __future__ import annotations

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.hdf5 import save_h5
from pyrodisent.data.paths import DATA_ROOT_ENV, DataFileError, MissingDataError
from pyrodisent.data.sampler import make_batch_sampler
from pyrodisent.plugin_manager import get_component


def get_dataset(name: str, **options) -> FactorDataset:
    """Build the dataset registered as ``name`` (a loader or a generator) with ``options``."""
    factory = get_component("datasets", name)
    try:
        return factory(**options)
    except TypeError as exc:
        raise TypeError(f"dataset {name!r}: {exc}") from exc


__all__ = [
    "DATA_ROOT_ENV",
    "DataFileError",
    "FactorDataset",
    "MissingDataError",
    "get_dataset",
    "make_batch_sampler",
    "save_h5",
]
