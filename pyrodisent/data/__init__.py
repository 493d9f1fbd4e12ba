"""Datasets: the factor-aware interface, file loaders and generators (registry ``datasets``)."""

from __future__ import annotations

from pyrodisent.data.base import FactorDataset


def get_dataset(name: str, **options) -> FactorDataset:
    """Build the dataset registered as ``name`` (a loader or a generator) with ``options``."""
    from pyrodisent.plugin_manager import get_component

    factory = get_component("datasets", name)
    try:
        return factory(**options)
    except TypeError as exc:
        raise TypeError(f"dataset {name!r}: {exc}") from exc


__all__ = ["FactorDataset", "get_dataset"]
