"""Index ↔ factor conversion of FactorDataset on ordered, shuffled and corrupt grids."""

import numpy as np
import pytest
import torch

from pyrodisent.data.base import FactorDataset
from pyrodisent.data.paths import DataFileError, check_grid_labels

SIZES = [2, 3, 4]


def _grid(order):
    """A full 2×3×4 grid whose image k stores its own grid index k in every pixel."""
    factors = np.stack(np.meshgrid(*[np.arange(s) for s in SIZES], indexing="ij"), -1).reshape(
        -1, 3
    )
    index = np.arange(len(factors))  # row-major, last factor fastest
    images = (
        torch.as_tensor(index, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()
    )
    return FactorDataset(images[order], factors[order], ["a", "b", "c"], SIZES)


def test_grid_order_is_recognized_and_converted_by_arithmetic():
    data = _grid(np.arange(24))
    assert data.is_full_grid
    assert data.factors_to_index(np.array([[1, 2, 3], [0, 1, 0]])).tolist() == [23, 4]


def test_a_shuffled_full_grid_pairs_each_image_with_its_own_factors():
    order = np.random.RandomState(0).permutation(24)
    data = _grid(order)
    assert not data.is_full_grid  # the right size, not the right order
    factors = data.sample_factors(50, 0)
    images = data.sample_observations_from_factors(factors, 0)
    expected = factors @ np.array([12, 4, 1])  # the grid index each image was drawn with
    assert images[:, 0, 0, 0].long().tolist() == expected.tolist()
    check_grid_labels(data, "shuffled.h5")  # shuffled is fine


def test_repeated_label_combinations_in_a_full_size_file_are_corrupt():
    data = _grid(np.arange(24))
    data.factors[5] = data.factors[4]
    data._full_grid = None  # the factors were edited after construction
    with pytest.raises(
        DataFileError, match="only 23 distinct label combinations: the labels are corrupt"
    ):
        check_grid_labels(data, "broken.h5")
