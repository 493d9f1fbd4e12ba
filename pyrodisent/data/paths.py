"""Where data files live, and the errors that say what to put where.

A loader's ``path=`` option names the file (or the folder holding it). Without it, files
are looked up under the data root ``$PYRODISENT_DATA/<dataset>/``. A missing file raises
:class:`MissingDataError` naming the exact path expected; a file that exists but cannot be
used raises :class:`DataFileError` naming the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DATA_ROOT_ENV = "PYRODISENT_DATA"


class MissingDataError(FileNotFoundError):
    """A data file that is not where the loader looks (the message says where to put it)."""


class DataFileError(ValueError):
    """A data file that exists but is corrupt, truncated or has the wrong layout."""

    def __init__(self, file: str | Path, problem: str):
        self.file = Path(file)
        self.problem = problem
        super().__init__(f"data file {self.file}: {problem}")


def data_root() -> Path | None:
    root = os.environ.get(DATA_ROOT_ENV)
    return Path(root).expanduser() if root else None


def resolve_dir(dataset: str, path: str | Path | None, what: str) -> Path:
    """The folder of ``dataset``: ``path`` or ``$PYRODISENT_DATA/<dataset>``; ``what`` describes its content."""
    if path is not None:
        folder = Path(path).expanduser()
    else:
        root = data_root()
        if root is None:
            raise MissingDataError(
                f"{dataset}: no path given and ${DATA_ROOT_ENV} is not set. Put {what} in "
                f"a folder and pass path=<folder>, or set {DATA_ROOT_ENV}=<data root> and "
                f"put them in <data root>/{dataset}/"
            )
        folder = root / dataset
    if not folder.is_dir():
        raise MissingDataError(f"{dataset}: folder {folder} does not exist; put {what} there")
    return folder


def resolve_file(dataset: str, path: str | Path | None, filename: str) -> Path:
    """The file ``filename`` of ``dataset``: ``path`` itself, ``path/filename`` or ``$PYRODISENT_DATA/<dataset>/filename``."""
    if path is not None:
        candidate = Path(path).expanduser()
        if candidate.is_dir():
            candidate = candidate / filename
        if not candidate.is_file():
            raise MissingDataError(f"{dataset}: file {candidate} not found; put {filename} there")
        return candidate
    root = data_root()
    if root is None:
        raise MissingDataError(
            f"{dataset}: no path given and ${DATA_ROOT_ENV} is not set. Put {filename} at "
            f"<data root>/{dataset}/{filename} and set {DATA_ROOT_ENV}=<data root>, or pass path=<file>"
        )
    candidate = root / dataset / filename
    if not candidate.is_file():
        raise MissingDataError(f"{dataset}: file {candidate} not found; put {filename} there (from ${DATA_ROOT_ENV})")
    return candidate


def check_grid_labels(dataset, file: str | Path) -> None:
    """A data set with as many rows as factor combinations must hold each combination once.

    In grid order (last factor fastest) :class:`~pyrodisent.data.base.FactorDataset`
    converts index ↔ factors by arithmetic; in any other order (a shuffled file) it looks
    rows up by their factors, which is as correct. A repeated combination means some other
    combination is missing from a file that should hold them all: its labels are corrupt.
    """
    sizes = dataset.factor_sizes
    if dataset.factors is None or len(dataset) != int(np.prod(sizes)) or dataset.is_full_grid:
        return
    index = dataset.factors @ dataset.grid_strides()
    distinct = len(np.unique(index))
    if distinct != len(dataset):
        raise DataFileError(
            file,
            f"has {len(dataset)} rows, one per factor combination, but only {distinct} distinct "
            "label combinations: the labels are corrupt (re-download or re-generate the file)",
        )
